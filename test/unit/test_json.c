/* test_json.c: JSON escaping and number helpers (src/json.c). */
#include <check.h>
#include <string.h>

#include "cdc_json.h"
#include "suites.h"

static void
check_escape(const char *in, size_t len, const char *expected)
{
	char		buf[256];
	size_t		elen = cdc_json_escaped_len(in, len);
	char	   *end = cdc_json_escape(buf, in, len);

	ck_assert_uint_eq(elen, (size_t) (end - buf));
	*end = '\0';
	ck_assert_str_eq(buf, expected);
}

START_TEST(escape_plain_and_special)
{
	check_escape("abc", 3, "abc");
	check_escape("a\"b\\c", 5, "a\\\"b\\\\c");
	check_escape("\n\r\t\b\f", 5, "\\n\\r\\t\\b\\f");
	check_escape("\x01\x1f", 2, "\\u0001\\u001f");
	check_escape("a\0b", 3, "a\\u0000b");
	check_escape("\xe2\x80\xa8|\xe2\x80\xa9", 7, "\\u2028|\\u2029");
	check_escape("\xe2\x82\xac", 3, "\xe2\x82\xac");	/* euro sign stays */
	check_escape("\xf0\x9f\x98\x80", 4, "\xf0\x9f\x98\x80");	/* emoji stays */
	check_escape("\xe2\x80", 2, "\xe2\x80");	/* truncated sequence stays */
}
END_TEST

START_TEST(number_grammar)
{
	ck_assert(cdc_json_is_number("0", 1));
	ck_assert(cdc_json_is_number("-1.5e+10", 8));
	ck_assert(!cdc_json_is_number("NaN", 3));
	ck_assert(!cdc_json_is_number("Infinity", 8));
	ck_assert(!cdc_json_is_number("01", 2));
	ck_assert(!cdc_json_is_number("1.", 2));
	ck_assert(!cdc_json_is_number("+1", 2));
	ck_assert(!cdc_json_is_number("", 0));
}
END_TEST

START_TEST(number_exact_double)
{
	ck_assert(cdc_json_number_is_exact_double("9007199254740992", 16));
	ck_assert(!cdc_json_number_is_exact_double("9007199254740993", 16));
	ck_assert(cdc_json_number_is_exact_double("123456789012345", 15));
	ck_assert(!cdc_json_number_is_exact_double("0.12345678901234567", 19));
	ck_assert(cdc_json_number_is_exact_double("1.50", 4));
	ck_assert(cdc_json_number_is_exact_double("0.000", 5));
	ck_assert(!cdc_json_number_is_exact_double("1e400", 5));
}
END_TEST

START_TEST(format_int64)
{
	char		buf[24];
	size_t		n = cdc_json_format_int64(buf, INT64_MIN);

	buf[n] = '\0';
	ck_assert_str_eq(buf, "-9223372036854775808");
	n = cdc_json_format_int64(buf, 0);
	buf[n] = '\0';
	ck_assert_str_eq(buf, "0");
}
END_TEST

Suite *
make_json_suite(void)
{
	Suite	   *s = suite_create("json");
	TCase	   *tc = tcase_create("core");

	tcase_add_test(tc, escape_plain_and_special);
	tcase_add_test(tc, number_grammar);
	tcase_add_test(tc, number_exact_double);
	tcase_add_test(tc, format_int64);
	suite_add_tcase(s, tc);
	return s;
}
