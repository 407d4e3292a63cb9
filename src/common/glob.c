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

/*
 * Length of the character at s[0..left): a whole UTF-8 sequence when its
 * continuation bytes are all there, else 1 (a stray or non-UTF-8 byte, as in
 * a LATIN1 database, is a character of its own).  left must be > 0.
 */
static size_t
char_len(const char *s, size_t left)
{
	unsigned char c = (unsigned char) s[0];
	size_t		n;

	if (c < 0xC0)
		return 1;
	n = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
	if (n > left)
		return 1;
	for (size_t i = 1; i < n; i++)
		if (((unsigned char) s[i] & 0xC0) != 0x80)
			return 1;
	return n;
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
			p++;
			t += char_len(text + t, tlen - t);
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
		/*
		 * Mismatch: let the last star swallow one more character, or fail.
		 * A whole character, so that a '?' after the star never starts
		 * inside a UTF-8 sequence (which would let "*??" match one "€").
		 */
		if (star_p == (size_t) -1)
			return false;
		p = star_p;
		star_t += char_len(text + star_t, tlen - star_t);
		t = star_t;
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
