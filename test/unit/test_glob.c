/*
 * test_glob.c
 *		Entity glob matching (src/glob.c): '*', '?', '\' escapes, quoted
 *		identifiers, schema qualification, validity.
 */
#include <check.h>
#include <string.h>

#include "cdc_glob.h"
#include "suites.h"

/* Assert that pattern p does (want) or does not match text t. */
#define MATCH(p, t, want) \
	ck_assert_msg(cdc_glob_match(p, strlen(p), t, strlen(t)) == (want), \
				  "pattern \"%s\" vs \"%s\": expected %s", p, t, \
				  (want) ? "match" : "no match")
#define QUALIFIED(p, want) \
	ck_assert_msg(cdc_glob_is_qualified(p, strlen(p)) == (want), \
				  "pattern \"%s\": expected %squalified", p, (want) ? "" : "not ")
#define VALID(p, want) \
	ck_assert_msg(cdc_glob_is_valid(p, strlen(p)) == (want), \
				  "pattern \"%s\": expected %svalid", p, (want) ? "" : "in")

START_TEST(glob_literal)
{
	MATCH("orders", "orders", true);
	MATCH("orders", "orders2", false);
	MATCH("orders", "order", false);
	MATCH("orders", "", false);
	MATCH("", "", true);
	MATCH("", "a", false);
	MATCH("a", "", false);
	/* byte-exact: no case folding, no Unicode normalisation */
	MATCH("Orders", "orders", false);
	MATCH("orders", "ORDERS", false);
	MATCH("caf\xc3\xa9", "caf\xc3\xa9", true);
	MATCH("caf\xc3\xa9", "cafe\xcc\x81", false);
}
END_TEST

START_TEST(glob_star)
{
	MATCH("*", "", true);
	MATCH("*", "anything.at.all", true);
	MATCH("**", "", true);
	MATCH("***", "abc", true);
	MATCH("order*", "orders", true);
	MATCH("order*", "order", true);
	MATCH("order*", "orde", false);
	MATCH("*s", "orders", true);
	MATCH("*s", "order", false);
	MATCH("*der*", "orders", true);
	MATCH("*der*", "ordre", false);
	MATCH("a*b*c", "abc", true);
	MATCH("a*b*c", "axxbyyc", true);
	MATCH("a*b*c", "axxbyy", false);
	MATCH("a*b*c", "acb", false);
	/* backtracking: the star must give back what it took */
	MATCH("a*b", "abab", true);
	MATCH("a*b", "abba", false);
	MATCH("*ab", "aab", true);
	MATCH("*aab", "aaab", true);
	MATCH("a*a", "a", false);
	MATCH("a*a", "aa", true);
	MATCH("*a*a*a*", "banana", true);
	MATCH("*a*a*a*a*", "banana", false);
	MATCH("*x*", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false);
	/* a star crosses dots and quotes: it is not identifier-aware */
	MATCH("public.*", "public.orders", true);
	MATCH("public.*", "public.\"Order.Lines\"", true);
	MATCH("*.*", "public.orders", true);
	MATCH("*.*", "orders", false);
	MATCH("*rders", "public.orders", true);
}
END_TEST

START_TEST(glob_question)
{
	MATCH("?", "a", true);
	MATCH("?", "", false);
	MATCH("?", "ab", false);
	MATCH("??", "ab", true);
	MATCH("?rders", "orders", true);
	MATCH("a?c", "abc", true);
	MATCH("a?c", "ac", false);
	MATCH("a?c", "abbc", false);
	MATCH("?*", "", false);
	MATCH("?*", "x", true);
	MATCH("*?", "x", true);
	MATCH("*?", "", false);
	/* '?' is one character: a whole UTF-8 sequence of 2, 3 or 4 bytes */
	MATCH("caf?", "caf\xc3\xa9", true);
	MATCH("?", "\xc3\xa9", true);
	MATCH("??", "\xc3\xa9", false);
	MATCH("?", "\xe2\x82\xac", true);
	MATCH("??", "\xe2\x82\xac", false);
	MATCH("???", "\xe2\x82\xac", false);
	MATCH("?", "\xf0\x9f\x98\x80", true);
	MATCH("??", "\xf0\x9f\x98\x80", false);
	MATCH("?_log", "\xe6\x97\xa5_log", true);
	MATCH("??", "\xe6\x97\xa5\xe6\x9c\xac", true);
	MATCH("?", "\xe6\x97\xa5\xe6\x9c\xac", false);
}
END_TEST

/*
 * A star gives back whole characters, too: it never stops inside a UTF-8
 * sequence, so two '?' can never share one character between them.
 */
START_TEST(glob_star_utf8)
{
	MATCH("*?", "\xe2\x82\xac", true);
	MATCH("*??", "\xe2\x82\xac", false);
	MATCH("*??c*", "\xe2\x82\xac" "cX", false);
	MATCH("*??c*", "a\xe2\x82\xac" "cX", true);
	MATCH("*???", "\xf0\x9f\x98\x80" "a", false);
	MATCH("*???*", "\xf0\x9f\x98\x80" "ab", true);
	MATCH("*??b*", "\xf0\x9f\x98\x80" "bX", false);
	MATCH("*\xa9", "\xc3\xa9", false);	/* half a character is no match */
	MATCH("*\xc3\xa9", "x\xc3\xa9", true);
	MATCH("*\xe2\x82\xac", "\xe2\x82\xac\xe2\x82\xac", true);
}
END_TEST

/*
 * Bytes that are not UTF-8 (a database in LATIN1, say) are one character
 * each: a lead byte counts as a sequence only with its continuation bytes.
 */
START_TEST(glob_not_utf8)
{
	MATCH("?_log", "\xe9_log", true);	/* LATIN1 e-acute */
	MATCH("??", "\xe9\xe8", true);
	MATCH("?", "\x80", true);
	MATCH("??", "\xe2\x82", true);	/* truncated sequence: two bytes */
	MATCH("?", "\xe2\x82", false);
	MATCH("*?x", "\xf0x", true);
	MATCH("*\xe9*", "caf\xe9s", true);
}
END_TEST

START_TEST(glob_escape)
{
	MATCH("\\*", "*", true);
	MATCH("\\*", "x", false);
	MATCH("\\*", "", false);
	MATCH("a\\*", "a*", true);
	MATCH("a\\*", "ab", false);
	MATCH("\\?", "?", true);
	MATCH("\\?", "x", false);
	MATCH("\\\\", "\\", true);
	MATCH("\\\\", "\\\\", false);
	MATCH("\\\\*", "\\abc", true);
	MATCH("\\a", "a", true);	/* escaping an ordinary character */
	MATCH("\\.", ".", true);
	MATCH("\\\"", "\"", true);
	MATCH("*\\*", "abc*", true);
	MATCH("*\\*", "abc", false);
	MATCH("*\\**", "a*b", true);
	MATCH("\\*\\?\\\\", "*?\\", true);
}
END_TEST

/*
 * Quotes in a pattern are literal characters, matched against the entity as
 * PostgreSQL quotes it ("public.\"My.Table\"").
 */
START_TEST(glob_quoted_identifiers)
{
	MATCH("\"Orders\"", "\"Orders\"", true);
	MATCH("\"Orders\"", "Orders", false);
	MATCH("\"Orders\"", "orders", false);
	MATCH("public.\"My.Table\"", "public.\"My.Table\"", true);
	MATCH("public.\"My.Table\"", "public.My.Table", false);
	MATCH("\"My*\"", "\"My.Table\"", true);
	MATCH("\"My?Table\"", "\"My.Table\"", true);
	MATCH("\"foo\"\"' bar\"", "\"foo\"\"' bar\"", true);
	MATCH("\"foo\"\"*\"", "\"foo\"\"' bar\"", true);
	MATCH("\"Sch\".\"T\"", "\"Sch\".\"T\"", true);
	MATCH("*.\"T\"", "\"Sch\".\"T\"", true);
}
END_TEST

START_TEST(glob_length_bound)
{
	/* lengths bound both strings; NUL is an ordinary byte */
	ck_assert(cdc_glob_match("abc", 2, "ab", 2));
	ck_assert(!cdc_glob_match("abc", 3, "abx", 2));
	ck_assert(cdc_glob_match("a?b", 3, "a\0b", 3));
	ck_assert(cdc_glob_match("a\0b", 3, "a\0b", 3));
	ck_assert(!cdc_glob_match("a\0b", 3, "a", 1));
	ck_assert(cdc_glob_match("*", 0, "", 0));
	ck_assert(!cdc_glob_match("*", 0, "x", 1));
	ck_assert(cdc_glob_match("\xc3\xa9", 2, "\xc3\xa9", 2));
}
END_TEST

START_TEST(glob_qualified)
{
	QUALIFIED("public.orders", true);
	QUALIFIED("orders", false);
	QUALIFIED("", false);
	QUALIFIED(".", true);
	QUALIFIED(".x", true);
	QUALIFIED("x.", true);
	QUALIFIED("*.*", true);
	QUALIFIED("public.*", true);
	QUALIFIED("a.b.c", true);
	/* a dot inside double quotes is part of an identifier */
	QUALIFIED("\"a.b\"", false);
	QUALIFIED("\"a.b\".c", true);
	QUALIFIED("c.\"a.b\"", true);
	QUALIFIED("\"a\".\"b\"", true);
	QUALIFIED("\"a\"\".b\"", false);	/* "" is a quote inside the name */
	QUALIFIED("\"a\"\"b\".c", true);
	QUALIFIED("\"unterminated.x", false);
	/* an escaped dot or quote is literal */
	QUALIFIED("a\\.b", false);
	QUALIFIED("a\\\\.b", true);	/* escaped backslash, then a real dot */
	QUALIFIED("\\\"a.b", true);	/* escaped quote opens nothing */
	QUALIFIED("\"a\\\".b\"", false);	/* escaped quote closes nothing */
	QUALIFIED("a\\", false);
	/* plen bounds the pattern */
	ck_assert(!cdc_glob_is_qualified("ab.c", 2));
	ck_assert(cdc_glob_is_qualified("ab.c", 3));
}
END_TEST

START_TEST(glob_valid)
{
	VALID("", false);
	VALID("\\", false);
	VALID("abc\\", false);
	VALID("\\\\\\", false);
	VALID("*\\", false);
	VALID("a", true);
	VALID("*", true);
	VALID("?", true);
	VALID("\\\\", true);
	VALID("\\*", true);
	VALID("a\\*", true);
	VALID("a\\\\b", true);
	VALID("\"", true);	/* unbalanced quotes are literal, not an error */
	VALID(".", true);
	VALID("\xff", true);
	/* plen bounds the pattern */
	ck_assert(!cdc_glob_is_valid("a\\b", 2));
	ck_assert(cdc_glob_is_valid("a\\b", 1));
	ck_assert(!cdc_glob_is_valid("abc", 0));
}
END_TEST

Suite *
make_glob_suite(void)
{
	Suite	   *s = suite_create("glob");
	TCase	   *match = tcase_create("match");
	TCase	   *shape = tcase_create("shape");

	tcase_add_test(match, glob_literal);
	tcase_add_test(match, glob_star);
	tcase_add_test(match, glob_question);
	tcase_add_test(match, glob_star_utf8);
	tcase_add_test(match, glob_not_utf8);
	tcase_add_test(match, glob_escape);
	tcase_add_test(match, glob_quoted_identifiers);
	tcase_add_test(match, glob_length_bound);
	suite_add_tcase(s, match);

	tcase_add_test(shape, glob_qualified);
	tcase_add_test(shape, glob_valid);
	suite_add_tcase(s, shape);
	return s;
}
