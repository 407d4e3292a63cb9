/*
 * fuzz_glob.c
 *		libFuzzer target for src/glob.c.
 *
 * The input is "pattern NUL text" (no NUL: the input is both).
 * Invariants:
 *	- cdc_glob_match never claims a match that the full-backtracking
 *	  definition (a dynamic program over the same steps) rejects, and agrees
 *	  with it whenever character boundaries cannot disagree: a pattern of
 *	  ASCII only, or pattern and text both valid UTF-8.
 *	- a pattern made from any text by escaping '*', '?' and '\' is valid and
 *	  matches that text and nothing longer or shorter.
 *	- cdc_glob_is_valid and cdc_glob_is_qualified agree with references
 *	  written another way (trailing backslash run; escape marks first).
 */
#include "cdc_glob.h"
#include "fuzz_common.h"

/* Length of the character at s[i]: a complete UTF-8 sequence, else 1. */
static size_t
ref_clen(const unsigned char *s, size_t len, size_t i)
{
	size_t		n = s[i] >= 0xF0 ? 4 : s[i] >= 0xE0 ? 3 : s[i] >= 0xC0 ? 2 : 1;

	if (i + n > len)
		return 1;
	for (size_t k = 1; k < n; k++)
		if ((s[i + k] & 0xC0) != 0x80)
			return 1;
	return n;
}

/*
 * Full backtracking, as a dynamic program: ok[pi * (tlen + 1) + ti] says
 * whether pattern[pi..) matches text[ti..), filled from the end, so deep
 * patterns do not recurse.  A row whose pi is the byte a backslash escapes
 * is filled as if a token started there, but never read: the backslash's row
 * jumps to pi + 2.
 */
static bool
ref_match(const unsigned char *p, size_t plen, const unsigned char *t, size_t tlen)
{
	size_t		w = tlen + 1;
	bool	   *ok = calloc((plen + 1) * w, sizeof(bool));
	bool		result;

	FUZZ_ASSERT(ok != NULL);
	ok[plen * w + tlen] = true;
	for (size_t pi = plen; pi-- > 0;)
	{
		for (size_t ti = tlen + 1; ti-- > 0;)
		{
			bool		r = false;

			if (p[pi] == '*')
				r = ok[(pi + 1) * w + ti] ||
					(ti < tlen && ok[pi * w + ti + ref_clen(t, tlen, ti)]);
			else if (p[pi] == '?')
				r = ti < tlen && ok[(pi + 1) * w + ti + ref_clen(t, tlen, ti)];
			else if (p[pi] == '\\' && pi + 1 < plen)
				r = ti < tlen && t[ti] == p[pi + 1] && ok[(pi + 2) * w + ti + 1];
			else
				r = ti < tlen && t[ti] == p[pi] && ok[(pi + 1) * w + ti + 1];
			ok[pi * w + ti] = r;
		}
	}
	result = ok[0];
	free(ok);
	return result;
}

static bool
ref_valid(const unsigned char *p, size_t plen)
{
	size_t		run = 0;

	while (run < plen && p[plen - 1 - run] == '\\')
		run++;
	return plen > 0 && run % 2 == 0;
}

static bool
ref_qualified(const unsigned char *p, size_t plen)
{
	bool	   *escaped = calloc(plen + 1, sizeof(bool));
	bool	   *introducer = calloc(plen + 1, sizeof(bool));
	int			quotes = 0;
	bool		result = false;

	FUZZ_ASSERT(escaped != NULL && introducer != NULL);
	for (size_t i = 0; i < plen; i++)
		if (!escaped[i] && p[i] == '\\' && i + 1 < plen)
		{
			introducer[i] = true;
			escaped[i + 1] = true;
		}
	for (size_t i = 0; i < plen && !result; i++)
	{
		if (escaped[i] || introducer[i])
			continue;
		if (p[i] == '"')
			quotes++;
		else if (p[i] == '.' && quotes % 2 == 0)
			result = true;
	}
	free(escaped);
	free(introducer);
	return result;
}

static bool
all_ascii(const unsigned char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] >= 0x80)
			return false;
	return true;
}

static void
check_pair(const unsigned char *p, size_t plen, const unsigned char *t, size_t tlen)
{
	bool		m = cdc_glob_match((const char *) p, plen, (const char *) t, tlen);

	FUZZ_ASSERT(cdc_glob_is_valid((const char *) p, plen) == ref_valid(p, plen));
	FUZZ_ASSERT(cdc_glob_is_qualified((const char *) p, plen) ==
				ref_qualified(p, plen));
	if (plen <= 512 && tlen <= 512)
	{
		bool		r = ref_match(p, plen, t, tlen);

		if (m)
			FUZZ_ASSERT(r);		/* never a match the definition rejects */
		if (all_ascii(p, plen) ||
			(fuzz_valid_utf8(p, plen) && fuzz_valid_utf8(t, tlen)))
			FUZZ_ASSERT(m == r);
	}
}

/* The text with '*', '?' and '\' escaped matches exactly the text. */
static void
check_literal(const unsigned char *t, size_t tlen)
{
	char	   *lp = malloc(2 * tlen + 1);
	char	   *longer = malloc(tlen + 1);
	size_t		n = 0;

	FUZZ_ASSERT(lp != NULL && longer != NULL);
	for (size_t i = 0; i < tlen; i++)
	{
		if (t[i] == '*' || t[i] == '?' || t[i] == '\\')
			lp[n++] = '\\';
		lp[n++] = (char) t[i];
	}
	FUZZ_ASSERT(cdc_glob_is_valid(lp, n) == (tlen > 0));
	FUZZ_ASSERT(cdc_glob_match(lp, n, (const char *) t, tlen));
	if (tlen > 0)
	{
		memcpy(longer, t, tlen);
		longer[tlen] = 'x';
		FUZZ_ASSERT(!cdc_glob_match(lp, n, longer, tlen + 1));
		FUZZ_ASSERT(!cdc_glob_match(lp, n, (const char *) t, tlen - 1));
		/* a star anywhere keeps it matching */
		lp[n] = '*';
		FUZZ_ASSERT(cdc_glob_match(lp, n + 1, (const char *) t, tlen));
		FUZZ_ASSERT(cdc_glob_match(lp, n + 1, longer, tlen + 1));
	}
	FUZZ_ASSERT(cdc_glob_match("*", 1, (const char *) t, tlen));
	free(lp);
	free(longer);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const unsigned char *nul = memchr(data, 0, size);
	unsigned char *p,
			   *t;
	size_t		plen,
				tlen;

	/* private copies, so that ASan sees any read past either end */
	plen = nul ? (size_t) (nul - data) : size;
	tlen = nul ? size - plen - 1 : size;
	p = malloc(plen ? plen : 1);
	t = malloc(tlen ? tlen : 1);
	FUZZ_ASSERT(p != NULL && t != NULL);
	memcpy(p, data, plen);
	memcpy(t, nul ? nul + 1 : data, tlen);

	check_pair(p, plen, t, tlen);
	check_literal(t, tlen);
	free(p);
	free(t);
	return 0;
}
