/* test_optlist.c: option list splitting (src/optlist.c). */
#include <check.h>
#include <string.h>

#include "cdc_optlist.h"
#include "suites.h"

/* Split s and join the items with '|' into out. */
static void
split(const char *s, char *out)
{
	size_t		pos = 0,
				start,
				len;

	out[0] = '\0';
	while (cdc_optlist_next(s, strlen(s), &pos, &start, &len))
	{
		strcat(out, "|");
		strncat(out, s + start, len);
	}
}

START_TEST(optlist_split)
{
	char		out[256];

	split("a,b", out);
	ck_assert_str_eq(out, "|a|b");
	split(" a , b ", out);
	ck_assert_str_eq(out, "|a|b");
	split("a,", out);
	ck_assert_str_eq(out, "|a|");
	split("\"x,y\",z", out);
	ck_assert_str_eq(out, "|\"x,y\"|z");
	split("a\\,b", out);
	ck_assert_str_eq(out, "|a\\,b");
	split("", out);
	ck_assert_str_eq(out, "|");
}
END_TEST

START_TEST(parse_bool)
{
	bool		b;

	ck_assert(cdc_parse_bool("TRUE", &b) && b);
	ck_assert(cdc_parse_bool("off", &b) && !b);
	ck_assert(!cdc_parse_bool("maybe", &b));
}
END_TEST

Suite *
make_optlist_suite(void)
{
	Suite	   *s = suite_create("optlist");
	TCase	   *tc = tcase_create("core");

	tcase_add_test(tc, optlist_split);
	tcase_add_test(tc, parse_bool);
	suite_add_tcase(s, tc);
	return s;
}
