/* test_lsn.c: LSN text (src/lsn.c). */
#include <check.h>
#include <string.h>

#include "cdc_lsn.h"
#include "suites.h"

START_TEST(lsn_roundtrip)
{
	char		buf[CDC_LSN_MAXLEN + 1];
	uint64_t	v;
	size_t		n = cdc_lsn_format(buf, 0x16B3748);

	buf[n] = '\0';
	ck_assert_str_eq(buf, "0/16B3748");
	n = cdc_lsn_format(buf, UINT64_MAX);
	buf[n] = '\0';
	ck_assert_str_eq(buf, "FFFFFFFF/FFFFFFFF");
	ck_assert(cdc_lsn_parse("1/ab", &v) && v == ((1ULL << 32) | 0xab));
	ck_assert(!cdc_lsn_parse("1/", &v));
	ck_assert(!cdc_lsn_parse("/1", &v));
	ck_assert(!cdc_lsn_parse("1/2x", &v));
	ck_assert(!cdc_lsn_parse("123456789/0", &v));
}
END_TEST

Suite *
make_lsn_suite(void)
{
	Suite	   *s = suite_create("lsn");
	TCase	   *tc = tcase_create("core");

	tcase_add_test(tc, lsn_roundtrip);
	suite_add_tcase(s, tc);
	return s;
}
