/*
 * test_lsn.c
 *		LSN text (src/lsn.c): formatting as pg_lsn prints it, parsing as
 *		pg_lsn_in accepts it.
 */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "cdc_lsn.h"
#include "suites.h"

#define CANARY 0x5A

static void
check_format(uint64_t lsn, const char *expected)
{
	char		buf[CDC_LSN_MAXLEN + 8];
	size_t		n;

	memset(buf, CANARY, sizeof(buf));
	n = cdc_lsn_format(buf, lsn);
	ck_assert_uint_le(n, CDC_LSN_MAXLEN);
	ck_assert_uint_eq(n, strlen(expected));
	ck_assert_int_eq((unsigned char) buf[n], CANARY);
	buf[n] = '\0';
	ck_assert_str_eq(buf, expected);
}

START_TEST(lsn_format)
{
	check_format(0, "0/0");
	check_format(1, "0/1");
	check_format(0xF, "0/F");
	check_format(0x10, "0/10");
	check_format(0xABCDEF, "0/ABCDEF");
	check_format(0x16B3748, "0/16B3748");
	check_format(0xFFFFFFFF, "0/FFFFFFFF");
	check_format(UINT64_C(0x100000000), "1/0");
	check_format(UINT64_C(0x100ABCDEF), "1/ABCDEF");
	check_format(UINT64_C(0x0123456789ABCDEF), "1234567/89ABCDEF");
	check_format(UINT64_C(0x10000000F0000000), "10000000/F0000000");
	check_format(UINT64_C(0xFFFFFFFF00000000), "FFFFFFFF/0");
	check_format(UINT64_MAX, "FFFFFFFF/FFFFFFFF");
}
END_TEST

/* Parse s, expecting success and the value want. */
static void
check_parse(const char *s, uint64_t want)
{
	uint64_t	v = 0xDEADBEEF;

	ck_assert_msg(cdc_lsn_parse(s, &v), "\"%s\" should parse", s);
	ck_assert_msg(v == want, "\"%s\" parsed as %llx, expected %llx", s,
				  (unsigned long long) v, (unsigned long long) want);
}

START_TEST(lsn_parse_valid)
{
	check_parse("0/0", 0);
	check_parse("0/1", 1);
	check_parse("1/0", UINT64_C(0x100000000));
	check_parse("0/16B3748", 0x16B3748);
	check_parse("0/16b3748", 0x16B3748);
	check_parse("1/ab", UINT64_C(0x1000000AB));
	check_parse("aBcD/eF01", UINT64_C(0xABCD0000EF01));
	check_parse("FFFFFFFF/FFFFFFFF", UINT64_MAX);
	check_parse("ffffffff/ffffffff", UINT64_MAX);
	check_parse("00000000/00000000", 0);	/* 8 digits, leading zeros */
	check_parse("00000001/0000000A", UINT64_C(0x10000000A));
	check_parse("12345678/9ABCDEF0", UINT64_C(0x123456789ABCDEF0));
}
END_TEST

START_TEST(lsn_parse_invalid)
{
	static const char *const bad[] = {
		"", "/", "0", "00", "0/", "/0", "//", "0//0", "0/0/0",
		" 0/0", "0/0 ", "0 /0", "0/ 0", "0/0\n", "\t0/0",
		"+0/0", "-1/0", "0/-1", "0/+1",
		"0x1/0", "1/0x1", "0X0/0",
		"g/0", "0/g", "G/0", "0/G", "1/2x", "1h/2",
		"123456789/0", "0/123456789", "000000000/0", "0/000000000",
		"FFFFFFFFF/0", "0/FFFFFFFFF", "100000000/0",
		"0/1.5", "0.5/1", "0:0", "0\\0", "0|0", "0/0;",
		"\xef\xbc\x90/0",		/* fullwidth digit zero */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		uint64_t	v = 0;

		ck_assert_msg(!cdc_lsn_parse(bad[i], &v), "\"%s\" should be rejected",
					  bad[i]);
	}
}
END_TEST

/* format -> parse gives the value back; parse -> format normalises text. */
START_TEST(lsn_roundtrip)
{
	static const uint64_t values[] = {
		0, 1, 0xF, 0x10, 0xFFFFFFFF, UINT64_C(0x100000000),
		UINT64_C(0x100000001), UINT64_C(0x0123456789ABCDEF),
		UINT64_C(0x8000000000000000), UINT64_MAX - 1, UINT64_MAX,
	};
	char		buf[CDC_LSN_MAXLEN + 1];
	uint64_t	v;
	size_t		n;

	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
	{
		n = cdc_lsn_format(buf, values[i]);
		buf[n] = '\0';
		ck_assert(cdc_lsn_parse(buf, &v));
		ck_assert(v == values[i]);
	}
	/* sliding one bit through both halves */
	for (int bit = 0; bit < 64; bit++)
	{
		n = cdc_lsn_format(buf, UINT64_C(1) << bit);
		buf[n] = '\0';
		ck_assert(cdc_lsn_parse(buf, &v));
		ck_assert(v == UINT64_C(1) << bit);
	}

	ck_assert(cdc_lsn_parse("00000001/000000ab", &v));
	n = cdc_lsn_format(buf, v);
	buf[n] = '\0';
	ck_assert_str_eq(buf, "1/AB");
}
END_TEST

Suite *
make_lsn_suite(void)
{
	Suite	   *s = suite_create("lsn");
	TCase	   *tc = tcase_create("core");

	tcase_add_test(tc, lsn_format);
	tcase_add_test(tc, lsn_parse_valid);
	tcase_add_test(tc, lsn_parse_invalid);
	tcase_add_test(tc, lsn_roundtrip);
	suite_add_tcase(s, tc);
	return s;
}
