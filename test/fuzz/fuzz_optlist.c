/*
 * fuzz_optlist.c
 *		libFuzzer target for src/optlist.c.
 *
 * Invariants:
 *	- cdc_optlist_next walks the list in order and ends: items lie inside
 *	  the input, do not overlap, the end position is slen + 1 and stays.
 *	- the items equal those of a reference splitter written another way
 *	  (mark escaped bytes and splitting commas first, then trim).
 *	- split, then join with ", ", then split again gives the same items
 *	  (unless an item ends in a bare backslash, which would escape the comma
 *	  of the join); and every item, split alone, is one item: itself.
 *	- cdc_parse_bool accepts exactly the twelve spellings, in any case.
 */
#include <ctype.h>

#include "cdc_optlist.h"
#include "fuzz_common.h"

#define MAX_ITEMS 8192

typedef struct
{
	size_t		start;
	size_t		len;
} Item;

static size_t
split(const char *s, size_t slen, Item *items)
{
	size_t		pos = 0,
				start,
				len,
				n = 0,
				prev_end = 0;

	while (cdc_optlist_next(s, slen, &pos, &start, &len))
	{
		FUZZ_ASSERT(n < MAX_ITEMS && n <= slen);
		FUZZ_ASSERT(start >= prev_end && start + len <= slen);
		FUZZ_ASSERT(pos > start + len && pos <= slen + 1);
		items[n].start = start;
		items[n].len = len;
		n++;
		prev_end = start + len;
	}
	FUZZ_ASSERT(n >= 1);
	FUZZ_ASSERT(pos == slen + 1);
	FUZZ_ASSERT(!cdc_optlist_next(s, slen, &pos, &start, &len));
	FUZZ_ASSERT(pos == slen + 1);
	return n;
}

static bool
blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static size_t
ref_split(const char *s, size_t slen, Item *items)
{
	bool	   *escaped = calloc(slen + 1, sizeof(bool));
	bool	   *comma = calloc(slen + 1, sizeof(bool));
	bool		quoted = false;
	size_t		n = 0,
				seg = 0;

	FUZZ_ASSERT(escaped != NULL && comma != NULL);
	/* pass 1: which bytes a backslash protects, which commas split */
	for (size_t i = 0; i < slen; i++)
	{
		if (escaped[i])
			continue;
		if (s[i] == '\\' && i + 1 < slen)
			escaped[i + 1] = true;
		else if (s[i] == '"')
			quoted = !quoted;
		else if (s[i] == ',' && !quoted)
			comma[i] = true;
	}
	/* pass 2: segments between splitting commas, trimmed */
	for (size_t i = 0; i <= slen; i++)
	{
		size_t		a = seg,
					b = i;

		if (i < slen && !comma[i])
			continue;
		while (a < b && blank(s[a]))
			a++;
		while (b > a && blank(s[b - 1]) && !escaped[b - 1])
			b--;
		items[n].start = a;
		items[n].len = b - a;
		n++;
		seg = i + 1;
	}
	free(escaped);
	free(comma);
	return n;
}

/* Does an item end in a backslash that escapes nothing? */
static bool
ends_in_bare_backslash(const char *s, size_t len)
{
	size_t		run = 0;

	while (run < len && s[len - 1 - run] == '\\')
		run++;
	return run % 2 == 1;
}

static void
check_bool(const uint8_t *data, size_t size)
{
	static const char *const yes[] = {"true", "on", "yes", "1", "t", "y"};
	static const char *const no[] = {"false", "off", "no", "0", "f", "n"};
	char	   *s = fuzz_strndup(data, size);
	char	   *lower = fuzz_strndup(data, size);
	bool		b = false;
	bool		ok = cdc_parse_bool(s, &b);
	int			want = -1;

	for (size_t i = 0; lower[i]; i++)
		lower[i] = (char) tolower((unsigned char) lower[i]);
	for (size_t i = 0; i < 6; i++)
	{
		if (strcmp(lower, yes[i]) == 0)
			want = 1;
		if (strcmp(lower, no[i]) == 0)
			want = 0;
	}
	FUZZ_ASSERT(ok == (want >= 0));
	if (ok)
		FUZZ_ASSERT(b == (want == 1));
	free(s);
	free(lower);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *s;
	Item	   *items,
			   *ref,
			   *again;
	size_t		n,
				nref,
				nagain,
				jlen = 0;
	char	   *joined;
	bool		joinable = true;

	if (size > 4 * MAX_ITEMS)
		return 0;
	/* an exact-size copy: ASan sees any read past the end */
	s = malloc(size ? size : 1);
	items = malloc((size + 2) * sizeof(Item));
	ref = malloc((size + 2) * sizeof(Item));
	again = malloc((size + 2) * sizeof(Item));
	joined = malloc(3 * size + 2);
	FUZZ_ASSERT(s && items && ref && again && joined);
	memcpy(s, data, size);

	n = split(s, size, items);
	nref = ref_split(s, size, ref);
	FUZZ_ASSERT(n == nref);
	for (size_t i = 0; i < n; i++)
		FUZZ_ASSERT(items[i].start == ref[i].start && items[i].len == ref[i].len);

	/* join with ", " and split again */
	for (size_t i = 0; i < n; i++)
	{
		if (i > 0)
		{
			joined[jlen++] = ',';
			joined[jlen++] = ' ';
		}
		memcpy(joined + jlen, s + items[i].start, items[i].len);
		jlen += items[i].len;
		if (ends_in_bare_backslash(s + items[i].start, items[i].len))
			joinable = false;
	}
	if (joinable)
	{
		nagain = split(joined, jlen, again);
		FUZZ_ASSERT(nagain == n);
		for (size_t i = 0; i < n; i++)
			FUZZ_ASSERT(again[i].len == items[i].len &&
						memcmp(joined + again[i].start, s + items[i].start,
							   items[i].len) == 0);
	}

	/* each item alone is one item, itself */
	for (size_t i = 0; i < n; i++)
	{
		Item		one[2];
		size_t		pos = 0;

		FUZZ_ASSERT(cdc_optlist_next(s + items[i].start, items[i].len, &pos,
									 &one[0].start, &one[0].len));
		FUZZ_ASSERT(one[0].start == 0 && one[0].len == items[i].len);
		FUZZ_ASSERT(!cdc_optlist_next(s + items[i].start, items[i].len, &pos,
									  &one[1].start, &one[1].len));
	}

	check_bool(data, size);
	free(s);
	free(items);
	free(ref);
	free(again);
	free(joined);
	return 0;
}
