/*
 * test_json.c
 *		JSON escaping and number helpers (src/json.c).
 *
 * Every expected output is spelled out by hand, never computed with the
 * logic under test, so that a wrong table entry in json.c fails here.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cdc_json.h"
#include "suites.h"

#define CANARY 0x5A

/*
 * Escape in[0..len) and compare with expected: the measured length must equal
 * what was written, and nothing past it may be touched.
 */
static void
check_escape_mode(const char *in, size_t len, const char *expected, bool utf8)
{
	char		buf[8192];
	size_t		elen = cdc_json_escaped_len(in, len, utf8);
	char	   *end;

	ck_assert_uint_lt(elen, sizeof(buf));
	memset(buf, CANARY, sizeof(buf));
	end = cdc_json_escape(buf, in, len, utf8);
	ck_assert_uint_eq(elen, (size_t) (end - buf));
	ck_assert_uint_eq(strlen(expected), elen);
	ck_assert_int_eq((unsigned char) buf[elen], CANARY);
	ck_assert_msg(memcmp(buf, expected, elen) == 0,
				  "escape of %zu bytes (utf8 %d) gave \"%.*s\", expected \"%s\"",
				  len, (int) utf8, (int) elen, buf, expected);
}

/*
 * Most expectations hold in both modes (UTF-8 and other server encodings):
 * check_escape checks both unless told otherwise.
 */
static void
check_escape(const char *in, size_t len, const char *expected)
{
	check_escape_mode(in, len, expected, true);
	check_escape_mode(in, len, expected, false);
}

#define CHECK_ESCAPE(lit, expected) check_escape(lit, sizeof(lit) - 1, expected)
#define CHECK_ESCAPE_UTF8(lit, expected) \
	check_escape_mode(lit, sizeof(lit) - 1, expected, true)
#define CHECK_ESCAPE_OTHER(lit, expected) \
	check_escape_mode(lit, sizeof(lit) - 1, expected, false)

/* Every control character, alone and between letters. */
START_TEST(escape_control_chars)
{
	static const char *const expect[32] = {
		"\\u0000", "\\u0001", "\\u0002", "\\u0003",
		"\\u0004", "\\u0005", "\\u0006", "\\u0007",
		"\\b", "\\t", "\\n", "\\u000b",
		"\\f", "\\r", "\\u000e", "\\u000f",
		"\\u0010", "\\u0011", "\\u0012", "\\u0013",
		"\\u0014", "\\u0015", "\\u0016", "\\u0017",
		"\\u0018", "\\u0019", "\\u001a", "\\u001b",
		"\\u001c", "\\u001d", "\\u001e", "\\u001f",
	};

	for (int c = 0; c < 32; c++)
	{
		char		in[3] = {'x', (char) c, 'y'};
		char		want[16];

		check_escape(in + 1, 1, expect[c]);
		snprintf(want, sizeof(want), "x%sy", expect[c]);
		check_escape(in, 3, want);
	}
	/* all 32 in a row */
	{
		char		in[32];
		char		want[32 * 6 + 1] = "";

		for (int c = 0; c < 32; c++)
		{
			in[c] = (char) c;
			strcat(want, expect[c]);
		}
		check_escape(in, 32, want);
	}
}
END_TEST

/* Printable ASCII other than '"' and '\' is copied; so are '/' and DEL. */
START_TEST(escape_printable_ascii)
{
	for (int c = 0x20; c <= 0x7F; c++)
	{
		char		in[1] = {(char) c};
		char		want[2] = {(char) c, '\0'};

		if (c == '"')
			check_escape(in, 1, "\\\"");
		else if (c == '\\')
			check_escape(in, 1, "\\\\");
		else
			check_escape(in, 1, want);
	}
	CHECK_ESCAPE("</script>", "</script>");
	CHECK_ESCAPE("a/b", "a/b");
	CHECK_ESCAPE("\x7f", "\x7f");
	CHECK_ESCAPE("", "");
}
END_TEST

START_TEST(escape_quote_backslash)
{
	CHECK_ESCAPE("\"", "\\\"");
	CHECK_ESCAPE("\\", "\\\\");
	CHECK_ESCAPE("\"\"", "\\\"\\\"");
	CHECK_ESCAPE("\\\\", "\\\\\\\\");
	CHECK_ESCAPE("\\\"", "\\\\\\\"");
	CHECK_ESCAPE("a\"b\\c", "a\\\"b\\\\c");
	/* text that already looks escaped is escaped again */
	CHECK_ESCAPE("\\u0041", "\\\\u0041");
	CHECK_ESCAPE("\\n", "\\\\n");
	/* an odd identifier, as the design names it */
	CHECK_ESCAPE("\"foo\"\"' bar\"", "\\\"foo\\\"\\\"' bar\\\"");
}
END_TEST

/*
 * In UTF-8, U+2028 and U+2029 become \u escapes; their neighbours do not.
 * (check_escape checks both modes: these inputs hold no separator.)
 */
START_TEST(escape_line_separators)
{
	CHECK_ESCAPE_UTF8("\xe2\x80\xa8", "\\u2028");
	CHECK_ESCAPE_UTF8("\xe2\x80\xa9", "\\u2029");
	CHECK_ESCAPE_UTF8("\xe2\x80\xa8\xe2\x80\xa9", "\\u2028\\u2029");
	CHECK_ESCAPE_UTF8("a\xe2\x80\xa8" "b\xe2\x80\xa9" "c", "a\\u2028b\\u2029c");
	CHECK_ESCAPE("\xe2\x80\xa7", "\xe2\x80\xa7");	/* U+2027 */
	CHECK_ESCAPE("\xe2\x80\xaa", "\xe2\x80\xaa");	/* U+202A */
	CHECK_ESCAPE("\xe2\x80\x94", "\xe2\x80\x94");	/* em dash */
	CHECK_ESCAPE("\xe2\x81\xa8", "\xe2\x81\xa8");
	CHECK_ESCAPE("\xe3\x80\xa8", "\xe3\x80\xa8");
	/* a lead byte E2 that does not start U+2028 is copied, then rescanned */
	CHECK_ESCAPE_UTF8("\xe2\xe2\x80\xa8", "\xe2\\u2028");
	CHECK_ESCAPE("\xe2\"", "\xe2\\\"");
	CHECK_ESCAPE("\xe2\n", "\xe2\\n");
	/* cut short by len: copied as is */
	CHECK_ESCAPE("\xe2", "\xe2");
	CHECK_ESCAPE("\xe2\x80", "\xe2\x80");
	CHECK_ESCAPE("x\xe2\x80", "x\xe2\x80");
	check_escape("\xe2\x80\xa8", 2, "\xe2\x80");
}
END_TEST

/*
 * In any other server encoding, E2 80 A8 and E2 80 A9 are other characters
 * (LATIN1: "a-circumflex", U+0080, diaeresis; SQL_ASCII: bytes): copied as
 * they are, never turned into a \u escape that would not convert back.
 */
START_TEST(escape_line_separators_other_encodings)
{
	CHECK_ESCAPE_OTHER("\xe2\x80\xa8", "\xe2\x80\xa8");
	CHECK_ESCAPE_OTHER("\xe2\x80\xa9", "\xe2\x80\xa9");
	CHECK_ESCAPE_OTHER("a\xe2\x80\xa8" "b\xe2\x80\xa9" "c", "a\xe2\x80\xa8" "b\xe2\x80\xa9" "c");
	CHECK_ESCAPE_OTHER("\xe2\xe2\x80\xa8", "\xe2\xe2\x80\xa8");
	/* the other escapes are the same in every encoding */
	CHECK_ESCAPE_OTHER("\xe2\x80\xa8\"\n\x01\\", "\xe2\x80\xa8\\\"\\n\\u0001\\\\");
	/* a long run, so that the word-at-a-time screen meets it too */
	CHECK_ESCAPE_OTHER("0123456789\xe2\x80\xa8" "0123456789\xe2\x80\xa9" "0123456789",
					   "0123456789\xe2\x80\xa8" "0123456789\xe2\x80\xa9" "0123456789");
	CHECK_ESCAPE_UTF8("0123456789\xe2\x80\xa8" "0123456789\xe2\x80\xa9" "0123456789",
					  "0123456789\\u2028" "0123456789\\u2029" "0123456789");
	ck_assert_uint_eq(cdc_json_escaped_len("\xe2\x80\xa8", 3, false), 3);
	ck_assert_uint_eq(cdc_json_escaped_len("\xe2\x80\xa8", 3, true), 6);
	/* LATIN1 text with every high byte: copied unchanged */
	{
		char		in[128];
		char		want[129];

		for (int i = 0; i < 128; i++)
			in[i] = want[i] = (char) (0x80 + i);
		want[128] = '\0';
		check_escape_mode(in, sizeof(in), want, false);
	}
}
END_TEST

/* Other UTF-8 is copied, and so are bytes that are not UTF-8 at all. */
START_TEST(escape_non_ascii)
{
	CHECK_ESCAPE("caf\xc3\xa9", "caf\xc3\xa9");
	CHECK_ESCAPE("\xe2\x82\xac", "\xe2\x82\xac");
	CHECK_ESCAPE("\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80");
	CHECK_ESCAPE("\xc2\x80\xc2\x9f", "\xc2\x80\xc2\x9f");	/* C1 controls */
	CHECK_ESCAPE("\xef\xbb\xbf", "\xef\xbb\xbf");	/* BOM */
	/* invalid UTF-8: the escaper does not validate, it copies */
	CHECK_ESCAPE("\x80", "\x80");
	CHECK_ESCAPE("\xff\xfe", "\xff\xfe");
	CHECK_ESCAPE("\xc0\xaf", "\xc0\xaf");
	CHECK_ESCAPE("\xed\xa0\x80", "\xed\xa0\x80");
	CHECK_ESCAPE("\xf0\x9f", "\xf0\x9f");
}
END_TEST

/* len is the only bound: NUL bytes are data, bytes past len are ignored. */
START_TEST(escape_length_bound)
{
	char		buf[16];

	CHECK_ESCAPE("a\0b", "a\\u0000b");
	CHECK_ESCAPE("\0\0", "\\u0000\\u0000");
	check_escape("ab\"cd", 2, "ab");
	check_escape("\"", 0, "");
	ck_assert_uint_eq(cdc_json_escaped_len("\"\n", 0, true), 0);
	memset(buf, CANARY, sizeof(buf));
	ck_assert_ptr_eq(cdc_json_escape(buf, "\"", 0, true), buf);
	ck_assert_int_eq((unsigned char) buf[0], CANARY);
	ck_assert_uint_eq(cdc_json_escaped_len("\x01", 1, true), 6);
	ck_assert_uint_eq(cdc_json_escaped_len("\x01", 1, false), 6);
	ck_assert_uint_eq(cdc_json_escaped_len("\n", 1, true), 2);
	ck_assert_uint_eq(cdc_json_escaped_len("\xe2\x80\xa8", 3, true), 6);
	ck_assert_uint_eq(cdc_json_escaped_len("\xe2\x80\xa8", 2, true), 2);
}
END_TEST

/* Long inputs: runs of plain bytes and of escapes, measured exactly. */
START_TEST(escape_long)
{
	char		in[1000];
	char		want[6001];

	memset(in, 'a', sizeof(in));
	memset(want, 'a', sizeof(in));
	want[sizeof(in)] = '\0';
	check_escape(in, sizeof(in), want);

	memset(in, 0x01, sizeof(in));
	for (size_t i = 0; i < sizeof(in); i++)
		memcpy(want + 6 * i, "\\u0001", 6);
	want[6000] = '\0';
	check_escape(in, sizeof(in), want);

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (i % 2) ? '"' : 'z';
	for (size_t i = 0; i < sizeof(in); i++)
		memcpy(want + 3 * (i / 2) + (i % 2), (i % 2) ? "\\\"" : "z",
			   (i % 2) ? 2 : 1);
	want[1500] = '\0';
	check_escape(in, sizeof(in), want);
}
END_TEST

#define IS_NUM(lit) cdc_json_is_number(lit, sizeof(lit) - 1)

START_TEST(number_grammar_valid)
{
	static const char *const ok[] = {
		"0", "-0", "1", "-1", "9", "10", "1234567890", "-987",
		"0.0", "0.5", "-0.5", "1.25", "10.01", "0.000001",
		"1e5", "1E5", "1e+5", "1e-5", "1E+05", "-1.5e+10", "0e0", "0E-0",
		"0.1e1", "123.456e-789", "9223372036854775808",
		"100000000000000000000000000000000000000000000000000",
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		ck_assert_msg(cdc_json_is_number(ok[i], strlen(ok[i])),
					  "\"%s\" should be a JSON number", ok[i]);
}
END_TEST

START_TEST(number_grammar_invalid)
{
	static const char *const bad[] = {
		"", "-", "+", "+1", "--1", "-+1", "01", "-01", "00", "00.5",
		".5", "-.5", "1.", "-1.", "1..2", "1.2.3", "1.e5",
		"e5", "1e", "1E", "1e+", "1e-", "1e+-5", "1e5.5", "1ee5",
		"NaN", "nan", "Infinity", "-Infinity", "inf",
		" 1", "1 ", "1\n", "0x10", "1_000", "1,5", "1f", "١",
		"true", "null", "\"1\"",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(!cdc_json_is_number(bad[i], strlen(bad[i])),
					  "\"%s\" should not be a JSON number", bad[i]);
	/* len bounds the text: a valid prefix is a number, past it is not */
	ck_assert(cdc_json_is_number("12x", 2));
	ck_assert(!cdc_json_is_number("12x", 3));
	ck_assert(!cdc_json_is_number("1.5", 2));
	ck_assert(!cdc_json_is_number("1\0", 2));
	ck_assert(!IS_NUM("-"));
}
END_TEST

#define EXACT(lit) cdc_json_number_is_exact_double(lit, sizeof(lit) - 1)

START_TEST(number_exact_double_true)
{
	static const char *const yes[] = {
		/* zero in any spelling */
		"0", "-0", "0.0", "0.000", "0e999999", "0.0e-999999",
		/* integers up to 2^53, both signs */
		"1", "-1", "9007199254740991", "9007199254740992",
		"-9007199254740992", "4503599627370496",
		/* at most 15 significant digits */
		"123456789012345", "-123456789012345", "0.123456789012345",
		"1.23456789012345", "999999999999999", "0.1", "0.3", "3.14159",
		"1.50", "1.5000000000", "12345678901234500000",
		/* trailing zeros of the significand do not count, however many */
		"10000000000000000000", "100000000000000000000",
		"1000000000000000000000000000000", "0.10000000000000000000",
		"0.100000000000000000000000000000", "12.3400000000000000000000",
		/* exponent inside double's range, with a margin */
		"1e299", "9.99e299", "1e-280", "1e-291", "1.5e200", "-2.5E-100",
		"0.000000000000000000001", "123e-250",
		/* 2^53 spelled with a fraction or an exponent */
		"900719925474099.2e1", "0.9007199254740992e16",
		"0.09007199254740992e17", "9007199254740992.0",
	};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		ck_assert_msg(cdc_json_number_is_exact_double(yes[i], strlen(yes[i])),
					  "\"%s\" should be exact as a double", yes[i]);
}
END_TEST

START_TEST(number_exact_double_false)
{
	char		tiny[512];
	char		big[512];

	static const char *const no[] = {
		/* past 2^53 */
		"9007199254740993", "-9007199254740993", "9007199254740999",
		"9999999999999999", "12345678901234567", "9223372036854775807",
		"-9223372036854775808", "18446744073709551615",
		/* 16 significant digits that are not an integer */
		"0.1234567890123456", "1.234567890123456", "900719925474099.1",
		"90071992547409.92e1", "0.9007199254740992",
		/* 16 digits, integer, but not within 2^53 of zero */
		"9007199254740992e1", "1000000000000001e1",
		/* 17 and more */
		"0.12345678901234567", "1.0000000000000001",
		"123456789012345678901234567890",
		/* 16 digits past 2^53 however spelled */
		"900719925474099200000000000",
		/* out of double's comfortable range */
		"1e300", "1e-292", "1e400", "1e301", "1e-300", "-1e-400", "5e-324",
		"1.7976931348623157e308",
	};

	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		ck_assert_msg(!cdc_json_number_is_exact_double(no[i], strlen(no[i])),
					  "\"%s\" should not be exact as a double", no[i]);

	/* leading zeros of a fraction move the magnitude: 1e-401 underflows */
	strcpy(tiny, "0.");
	memset(tiny + 2, '0', 400);
	strcpy(tiny + 402, "1");
	ck_assert(!cdc_json_number_is_exact_double(tiny, strlen(tiny)));
	/* ... and so does 1e-301, in numeric's plain spelling */
	tiny[2 + 300] = '\0';
	strcat(tiny, "1");
	ck_assert(!cdc_json_number_is_exact_double(tiny, strlen(tiny)));
	/* 1e-251 is fine */
	tiny[2 + 250] = '\0';
	strcat(tiny, "1");
	ck_assert(cdc_json_number_is_exact_double(tiny, strlen(tiny)));

	/* 1e400 in plain digits: too big, however few significant digits */
	big[0] = '1';
	memset(big + 1, '0', 400);
	big[401] = '\0';
	ck_assert(!cdc_json_number_is_exact_double(big, strlen(big)));
	big[251] = '\0';
	ck_assert(cdc_json_number_is_exact_double(big, strlen(big)));
	ck_assert(!EXACT("1e99999999999999999999"));
	ck_assert(EXACT("1e-0"));
}
END_TEST

/* Format v and compare with expected, checking the length and the bound. */
static void
check_int64(int64_t v, const char *expected)
{
	char		buf[32];
	size_t		n;

	memset(buf, CANARY, sizeof(buf));
	n = cdc_json_format_int64(buf, v);
	ck_assert_uint_le(n, 20);
	ck_assert_uint_eq(n, strlen(expected));
	ck_assert_int_eq((unsigned char) buf[n], CANARY);
	buf[n] = '\0';
	ck_assert_str_eq(buf, expected);
}

START_TEST(format_int64)
{
	check_int64(0, "0");
	check_int64(1, "1");
	check_int64(-1, "-1");
	check_int64(9, "9");
	check_int64(10, "10");
	check_int64(-10, "-10");
	check_int64(99, "99");
	check_int64(100, "100");
	check_int64(-100, "-100");
	check_int64(INT32_MAX, "2147483647");
	check_int64(INT32_MIN, "-2147483648");
	check_int64((int64_t) UINT32_MAX + 1, "4294967296");
	check_int64(INT64_C(9007199254740992), "9007199254740992");
	check_int64(INT64_C(9007199254740993), "9007199254740993");
	check_int64(-INT64_C(9007199254740993), "-9007199254740993");
	check_int64(INT64_C(1000000000000000000), "1000000000000000000");
	check_int64(INT64_MAX, "9223372036854775807");
	check_int64(INT64_MAX - 1, "9223372036854775806");
	check_int64(INT64_MIN, "-9223372036854775808");
	check_int64(INT64_MIN + 1, "-9223372036854775807");
}
END_TEST

Suite *
make_json_suite(void)
{
	Suite	   *s = suite_create("json");
	TCase	   *esc = tcase_create("escape");
	TCase	   *num = tcase_create("number");

	tcase_add_test(esc, escape_control_chars);
	tcase_add_test(esc, escape_printable_ascii);
	tcase_add_test(esc, escape_quote_backslash);
	tcase_add_test(esc, escape_line_separators);
	tcase_add_test(esc, escape_line_separators_other_encodings);
	tcase_add_test(esc, escape_non_ascii);
	tcase_add_test(esc, escape_length_bound);
	tcase_add_test(esc, escape_long);
	suite_add_tcase(s, esc);

	tcase_add_test(num, number_grammar_valid);
	tcase_add_test(num, number_grammar_invalid);
	tcase_add_test(num, number_exact_double_true);
	tcase_add_test(num, number_exact_double_false);
	tcase_add_test(num, format_int64);
	suite_add_tcase(s, num);
	return s;
}
