/*
 * glob.c
 *		Glob matching of entity names for the entities / exclude_entities
 *		filters.
 *
 * Matching is done once per relation (the result is cached), so clarity wins
 * over speed here; still, the matcher is iterative with single-star
 * backtracking, linear in practice and never exponential.
 */
#include "cdc_glob.h"

/* Length of the UTF-8 sequence starting with byte c (1 for stray bytes). */
static size_t
utf8_seq_len(unsigned char c)
{
	if (c < 0xC0)
		return 1;
	if (c < 0xE0)
		return 2;
	if (c < 0xF0)
		return 3;
	return 4;
}

bool
cdc_glob_match(const char *pattern, size_t plen, const char *text, size_t tlen)
{
	size_t		p = 0,
				t = 0;
	size_t		star_p = (size_t) -1,	/* pattern position after last '*' */
				star_t = 0;		/* text position that '*' resumes from */

	while (t < tlen)
	{
		if (p < plen && pattern[p] == '*')
		{
			star_p = ++p;
			star_t = t;
			continue;
		}
		if (p < plen && pattern[p] == '?')
		{
			size_t		n = utf8_seq_len((unsigned char) text[t]);

			p++;
			t += (n <= tlen - t) ? n : tlen - t;
			continue;
		}
		if (p < plen)
		{
			size_t		lit = p;

			if (pattern[lit] == '\\' && lit + 1 < plen)
				lit++;
			if (pattern[lit] == text[t])
			{
				p = lit + 1;
				t++;
				continue;
			}
		}
		/* mismatch: let the last star swallow one more byte, or fail */
		if (star_p == (size_t) -1)
			return false;
		p = star_p;
		t = ++star_t;
	}
	while (p < plen && pattern[p] == '*')
		p++;
	return p == plen;
}

bool
cdc_glob_is_qualified(const char *pattern, size_t plen)
{
	bool		quoted = false;

	for (size_t i = 0; i < plen; i++)
	{
		if (pattern[i] == '\\' && i + 1 < plen)
			i++;
		else if (pattern[i] == '"')
			quoted = !quoted;
		else if (pattern[i] == '.' && !quoted)
			return true;
	}
	return false;
}

bool
cdc_glob_is_valid(const char *pattern, size_t plen)
{
	size_t		i = 0;

	if (plen == 0)
		return false;
	while (i < plen)
	{
		if (pattern[i] == '\\')
		{
			if (i + 1 >= plen)
				return false;
			i += 2;
		}
		else
			i++;
	}
	return true;
}
