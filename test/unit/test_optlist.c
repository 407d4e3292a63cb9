/*
 * test_optlist.c
 *		Option list splitting and boolean parsing (src/optlist.c).
 */
#include <check.h>
#include <string.h>

#include "cdc_optlist.h"
#include "suites.h"

/*
 * Split s[0..slen) and write each item as "[item]" into out: "a,,b" gives
 * "[a][][b]".  Also checks the protocol: items lie inside s, in order, and
 * the end stays the end.
 */
static void
split_n(const char *s, size_t slen, char *out, size_t outsize)
{
	size_t		pos = 0,
				start,
				len,
				prev_end = 0;
	int			items = 0;

	out[0] = '\0';
	while (cdc_optlist_next(s, slen, &pos, &start, &len))
	{
		ck_assert_uint_ge(start, prev_end);
		ck_assert_uint_le(start + len, slen);
		ck_assert_uint_gt(pos, start + len);
		ck_assert_uint_le(strlen(out) + len + 3, outsize);
		strcat(out, "[");
		strncat(out, s + start, len);
		strcat(out, "]");
		prev_end = start + len;
		ck_assert_int_lt(++items, 1000);
	}
	ck_assert_uint_eq(pos, slen + 1);
	/* the end is sticky */
	ck_assert(!cdc_optlist_next(s, slen, &pos, &start, &len));
	ck_assert_uint_eq(pos, slen + 1);
}

#define SPLIT(s, expected) \
	do { \
		char		out_[512]; \
		split_n(s, strlen(s), out_, sizeof(out_)); \
		ck_assert_msg(strcmp(out_, expected) == 0, \
					  "split of \"%s\" gave %s, expected %s", s, out_, expected); \
	} while (0)

START_TEST(optlist_plain)
{
	SPLIT("a", "[a]");
	SPLIT("a,b", "[a][b]");
	SPLIT("a,b,c", "[a][b][c]");
	SPLIT("public.orders,audit_*", "[public.orders][audit_*]");
	/* the splitter keeps duplicates: rejecting them is the caller's job */
	SPLIT("a,a", "[a][a]");
	SPLIT("insert,update,insert", "[insert][update][insert]");
}
END_TEST

/* Empty items are returned, with len 0, wherever they are. */
START_TEST(optlist_empty_items)
{
	SPLIT("", "[]");
	SPLIT(",", "[][]");
	SPLIT(",,", "[][][]");
	SPLIT("a,", "[a][]");
	SPLIT(",a", "[][a]");
	SPLIT("a,,b", "[a][][b]");
	SPLIT("a,,", "[a][][]");
	SPLIT(" ", "[]");
	SPLIT(" , ", "[][]");
	SPLIT("a, ", "[a][]");
	SPLIT("a,\t,b", "[a][][b]");
}
END_TEST

/* Blanks (space, tab, CR, LF) around items go; blanks inside stay. */
START_TEST(optlist_blanks)
{
	SPLIT(" a , b ", "[a][b]");
	SPLIT("  a  ,  b  ", "[a][b]");
	SPLIT("\ta\n,\rb\r\n", "[a][b]");
	SPLIT("a b , c  d", "[a b][c  d]");
	SPLIT("a\tb", "[a\tb]");
	/* other characters are not blanks */
	SPLIT("\va\f", "[\va\f]");
	SPLIT("\xc2\xa0" "a", "[\xc2\xa0" "a]");
}
END_TEST

/* Commas inside double quotes do not split; the quotes are kept. */
START_TEST(optlist_quotes)
{
	SPLIT("\"x,y\",z", "[\"x,y\"][z]");
	SPLIT("\"x,y\"", "[\"x,y\"]");
	SPLIT("public.\"a,b\",c", "[public.\"a,b\"][c]");
	SPLIT("\"a\"\"b,c\",d", "[\"a\"\"b,c\"][d]");	/* "" inside a name */
	SPLIT("\"\",a", "[\"\"][a]");
	SPLIT("\" a \" , b", "[\" a \"][b]");
	SPLIT("\"a\",\"b\"", "[\"a\"][\"b\"]");
	SPLIT("a\"b,c\"d,e", "[a\"b,c\"d][e]");
	/* an unbalanced quote runs to the end of the list */
	SPLIT("\"a,b", "[\"a,b]");
	SPLIT("a,\"b,c", "[a][\"b,c]");
	SPLIT("a\",b", "[a\",b]");
	SPLIT("\"", "[\"]");
	SPLIT("\"a ", "[\"a]");
}
END_TEST

/* A backslash protects the next character and is kept, for the matcher. */
START_TEST(optlist_backslashes)
{
	SPLIT("a\\,b", "[a\\,b]");
	SPLIT("a\\,b,c", "[a\\,b][c]");
	SPLIT("\\\"a,b", "[\\\"a][b]");	/* escaped quote opens nothing */
	SPLIT("\"a\\\",b\",c", "[\"a\\\",b\"][c]");	/* nor closes */
	SPLIT("\\,", "[\\,]");
	SPLIT("\\", "[\\]");
	SPLIT("a\\", "[a\\]");
	SPLIT("a\\,", "[a\\,]");
	SPLIT("a\\\\,b", "[a\\\\][b]");	/* escaped backslash, real comma */
	/* an escaped blank is part of the item */
	SPLIT("a\\ ", "[a\\ ]");
	SPLIT("a\\ ,b", "[a\\ ][b]");
	SPLIT("a\\  ,b", "[a\\ ][b]");
	SPLIT("\\ ", "[\\ ]");
	SPLIT("\\\t", "[\\\t]");
	/* but a blank after an escaped backslash is not escaped */
	SPLIT("a\\\\ ,b", "[a\\\\][b]");
	SPLIT("a\\\\ ", "[a\\\\]");
	SPLIT("\\\\ ", "[\\\\]");
	SPLIT("a\\\\\\ ", "[a\\\\\\ ]");
	SPLIT("a\\\\\\\\ ", "[a\\\\\\\\]");
}
END_TEST

/* The position protocol, step by step. */
START_TEST(optlist_positions)
{
	const char *s = " ab , c,";
	size_t		slen = strlen(s);
	size_t		pos = 0,
				start = 99,
				len = 99;

	ck_assert(cdc_optlist_next(s, slen, &pos, &start, &len));
	ck_assert_uint_eq(start, 1);
	ck_assert_uint_eq(len, 2);
	ck_assert_uint_eq(pos, 5);
	ck_assert(cdc_optlist_next(s, slen, &pos, &start, &len));
	ck_assert_uint_eq(start, 6);
	ck_assert_uint_eq(len, 1);
	ck_assert_uint_eq(pos, 8);
	ck_assert(cdc_optlist_next(s, slen, &pos, &start, &len));
	ck_assert_uint_eq(start, 8);
	ck_assert_uint_eq(len, 0);
	ck_assert_uint_eq(pos, 9);
	ck_assert(!cdc_optlist_next(s, slen, &pos, &start, &len));
	ck_assert_uint_eq(pos, 9);

	/* slen bounds the list: NUL is an ordinary byte */
	{
		char		out[64];

		split_n("a,b,c", 3, out, sizeof(out));
		ck_assert_str_eq(out, "[a][b]");
		pos = 0;
		ck_assert(cdc_optlist_next("a\0b,c", 5, &pos, &start, &len));
		ck_assert_uint_eq(start, 0);
		ck_assert_uint_eq(len, 3);
		ck_assert(cdc_optlist_next("a\0b,c", 5, &pos, &start, &len));
		ck_assert_uint_eq(start, 4);
		ck_assert_uint_eq(len, 1);
		ck_assert(!cdc_optlist_next("a\0b,c", 5, &pos, &start, &len));
	}

	/* starting past the end returns nothing and moves nothing */
	pos = 42;
	ck_assert(!cdc_optlist_next("a", 1, &pos, &start, &len));
	ck_assert_uint_eq(pos, 42);
}
END_TEST

START_TEST(parse_bool_accepts)
{
	static const char *const yes[] = {
		"true", "TRUE", "True", "tRuE", "on", "ON", "On", "yes", "YES",
		"Yes", "1", "t", "T", "y", "Y",
	};
	static const char *const no[] = {
		"false", "FALSE", "False", "off", "OFF", "Off", "no", "NO", "No",
		"0", "f", "F", "n", "N",
	};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
	{
		bool		b = false;

		ck_assert_msg(cdc_parse_bool(yes[i], &b) && b, "\"%s\" should be true",
					  yes[i]);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
	{
		bool		b = true;

		ck_assert_msg(cdc_parse_bool(no[i], &b) && !b, "\"%s\" should be false",
					  no[i]);
	}
}
END_TEST

START_TEST(parse_bool_rejects)
{
	static const char *const bad[] = {
		"", " ", "maybe", "tru", "fals", "o", "of", "ye", "2", "-1",
		"10", "01", "00", "yess", "onn", "offf", " true", "true ",
		"true\n", "\"true\"", "enable", "enabled", "null", "T1",
		("tr\xc3\xbc" "e"),
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		bool		b;

		ck_assert_msg(!cdc_parse_bool(bad[i], &b), "\"%s\" should be rejected",
					  bad[i]);
	}
}
END_TEST

Suite *
make_optlist_suite(void)
{
	Suite	   *s = suite_create("optlist");
	TCase	   *split = tcase_create("split");
	TCase	   *boolean = tcase_create("bool");

	tcase_add_test(split, optlist_plain);
	tcase_add_test(split, optlist_empty_items);
	tcase_add_test(split, optlist_blanks);
	tcase_add_test(split, optlist_quotes);
	tcase_add_test(split, optlist_backslashes);
	tcase_add_test(split, optlist_positions);
	suite_add_tcase(s, split);

	tcase_add_test(boolean, parse_bool_accepts);
	tcase_add_test(boolean, parse_bool_rejects);
	suite_add_tcase(s, boolean);
	return s;
}
