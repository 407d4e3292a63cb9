/* test_glob.c: entity glob matching (src/glob.c). */
#include <check.h>
#include <string.h>

#include "cdc_glob.h"
#include "suites.h"

static int
m(const char *p, const char *t)
{
	return cdc_glob_match(p, strlen(p), t, strlen(t));
}

START_TEST(glob_basic)
{
	ck_assert(m("orders", "orders"));
	ck_assert(!m("orders", "orders2"));
	ck_assert(m("order*", "orders"));
	ck_assert(m("*", ""));
	ck_assert(m("a*b*c", "axxbyyc"));
	ck_assert(!m("a*b*c", "axxbyy"));
	ck_assert(m("?rders", "orders"));
	ck_assert(m("\\*", "*"));
	ck_assert(!m("\\*", "x"));
	ck_assert(m("caf?", "caf\xc3\xa9"));	/* ? takes a whole UTF-8 character */
	ck_assert(!m("Orders", "orders"));
}
END_TEST

START_TEST(glob_qualified)
{
	ck_assert(cdc_glob_is_qualified("public.orders", 13));
	ck_assert(!cdc_glob_is_qualified("\"a.b\"", 5));
	ck_assert(!cdc_glob_is_qualified("a\\.b", 4));
	ck_assert(!cdc_glob_is_valid("abc\\", 4));
	ck_assert(!cdc_glob_is_valid("", 0));
}
END_TEST

Suite *
make_glob_suite(void)
{
	Suite	   *s = suite_create("glob");
	TCase	   *tc = tcase_create("core");

	tcase_add_test(tc, glob_basic);
	tcase_add_test(tc, glob_qualified);
	suite_add_tcase(s, tc);
	return s;
}
