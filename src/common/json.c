/*
 * json.c
 *		JSON escaping and number helpers for the output plugin.
 *
 * Everything that decides the bytes of a JSON string or number lives here, in
 * plain C, so that it can be unit-tested and fuzzed without a server.  The
 * escaper is the hot path of the plugin: it first measures (one table lookup
 * per byte), so the caller can grow its buffer once, then writes.
 */
#include "cdc_json.h"

#include <stdint.h>
#include <string.h>

/*
 * For each byte: 0 = copy as is, 1 = two-byte escape (\n, \", ...),
 * 2 = six-byte \u00XX escape, 3 = possible start of U+2028/U+2029 (in
 * UTF-8 text only: in any other encoding 0xE2 is copied like other bytes).
 */
static const unsigned char escape_class[256] = {
	2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 2, 1, 1, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

/*
 * Word-at-a-time screening: does any of the 8 bytes in v need a closer look
 * (below 0x20, '"', '\\', or 0xE2, which may start U+2028/U+2029)?  The usual
 * "has a zero byte" bit tricks; each is exact in telling whether any byte
 * matches, which is all that is asked.  Most text has no such byte, so it is
 * skipped 8 bytes per step.
 */
#define BYTES_ONES	UINT64_C(0x0101010101010101)
#define BYTES_HIGHS UINT64_C(0x8080808080808080)
#define HAS_ZERO_BYTE(x) (((x) - BYTES_ONES) & ~(x) & BYTES_HIGHS)

static inline bool
word_needs_look(const unsigned char *p)
{
	uint64_t	v;

	memcpy(&v, p, sizeof(v));
	return ((((v - BYTES_ONES * 0x20) & ~v & BYTES_HIGHS) |
			 HAS_ZERO_BYTE(v ^ (BYTES_ONES * '"')) |
			 HAS_ZERO_BYTE(v ^ (BYTES_ONES * '\\')) |
			 HAS_ZERO_BYTE(v ^ (BYTES_ONES * 0xE2))) != 0);
}

/* E2 80 A8 is U+2028 (line separator), E2 80 A9 is U+2029 (paragraph). */
static inline bool
is_js_line_terminator(const unsigned char *p, size_t left)
{
	return left >= 3 && p[0] == 0xE2 && p[1] == 0x80 &&
		(p[2] == 0xA8 || p[2] == 0xA9);
}

size_t
cdc_json_escaped_len(const char *src, size_t len, bool utf8)
{
	const unsigned char *p = (const unsigned char *) src;
	size_t		extra = 0;

	for (size_t i = 0; i < len; i++)
	{
		if (i + 8 <= len && !word_needs_look(p + i))
		{
			i += 7;
			continue;
		}
		switch (escape_class[p[i]])
		{
			case 0:
				break;
			case 1:
				extra += 1;
				break;
			case 2:
				extra += 5;
				break;
			case 3:
				if (utf8 && is_js_line_terminator(p + i, len - i))
				{
					extra += 3;	/* 3 bytes become the 6 of \u2028 */
					i += 2;
				}
				break;
		}
	}
	return len + extra;
}

char *
cdc_json_escape(char *dst, const char *src, size_t len, bool utf8)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *) src;
	size_t		i = 0;

	while (i < len)
	{
		size_t		run = i;

		/* copy the longest run of bytes that need nothing in one go */
		while (run + 8 <= len && !word_needs_look(p + run))
			run += 8;
		while (run < len && escape_class[p[run]] == 0)
			run++;
		if (run > i)
		{
			memcpy(dst, p + i, run - i);
			dst += run - i;
			i = run;
			if (i == len)
				break;
		}

		switch (p[i])
		{
			case '"':
				*dst++ = '\\';
				*dst++ = '"';
				break;
			case '\\':
				*dst++ = '\\';
				*dst++ = '\\';
				break;
			case '\b':
				*dst++ = '\\';
				*dst++ = 'b';
				break;
			case '\f':
				*dst++ = '\\';
				*dst++ = 'f';
				break;
			case '\n':
				*dst++ = '\\';
				*dst++ = 'n';
				break;
			case '\r':
				*dst++ = '\\';
				*dst++ = 'r';
				break;
			case '\t':
				*dst++ = '\\';
				*dst++ = 't';
				break;
			case 0xE2:
				if (utf8 && is_js_line_terminator(p + i, len - i))
				{
					memcpy(dst, p[i + 2] == 0xA8 ? "\\u2028" : "\\u2029", 6);
					dst += 6;
					i += 3;
					continue;
				}
				*dst++ = (char) p[i];
				break;
			default:
				/* the remaining control characters */
				*dst++ = '\\';
				*dst++ = 'u';
				*dst++ = '0';
				*dst++ = '0';
				*dst++ = hex[p[i] >> 4];
				*dst++ = hex[p[i] & 0xF];
				break;
		}
		i++;
	}
	return dst;
}

static inline bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

bool
cdc_json_is_number(const char *s, size_t len)
{
	size_t		i = 0;

	if (i < len && s[i] == '-')
		i++;
	if (i >= len)
		return false;
	if (s[i] == '0')
		i++;
	else if (is_digit(s[i]))
		while (i < len && is_digit(s[i]))
			i++;
	else
		return false;
	if (i < len && s[i] == '.')
	{
		i++;
		if (i >= len || !is_digit(s[i]))
			return false;
		while (i < len && is_digit(s[i]))
			i++;
	}
	if (i < len && (s[i] == 'e' || s[i] == 'E'))
	{
		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= len || !is_digit(s[i]))
			return false;
		while (i < len && is_digit(s[i]))
			i++;
	}
	return i == len;
}

bool
cdc_json_number_is_exact_double(const char *s, size_t len)
{
	size_t		i = 0;
	size_t		ndig = 0;		/* significant digits seen, trailing 0s too */
	size_t		sig = 0;		/* the same, up to the last non-zero one */
	size_t		int_digits = 0; /* digits before the point, after leading 0s */
	size_t		frac_zeros = 0; /* 0s right after the point, before any other */
	bool		seen_nonzero = false;
	bool		fraction = false;
	long		exponent = 0;
	long		magnitude;
	char		digits[16];

	if (i < len && s[i] == '-')
		i++;
	for (; i < len && (is_digit(s[i]) || s[i] == '.'); i++)
	{
		if (s[i] == '.')
		{
			fraction = true;
			continue;
		}
		if (s[i] != '0')
			seen_nonzero = true;
		if (!seen_nonzero)
		{
			if (fraction)
				frac_zeros++;
			continue;
		}
		if (ndig < sizeof(digits))
			digits[ndig] = s[i];
		ndig++;
		if (s[i] != '0')
			sig = ndig;			/* trailing zeros carry no precision */
		if (!fraction)
			int_digits++;
	}
	if (i < len && (s[i] == 'e' || s[i] == 'E'))
	{
		bool		neg = false;

		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			neg = (s[i++] == '-');
		for (; i < len && is_digit(s[i]); i++)
		{
			if (exponent < 100000)
				exponent = exponent * 10 + (s[i] - '0');
		}
		if (neg)
			exponent = -exponent;
	}

	if (!seen_nonzero)
		return true;			/* zero, in any spelling */

	/*
	 * The value is 0.d1d2d3... times 10^magnitude.  Lengths are capped so
	 * that the sum cannot overflow; anything that large is out of range.
	 */
	magnitude = exponent +
		(int_digits > 0 ? (long) (int_digits < 100000 ? int_digits : 100000)
		 : -(long) (frac_zeros < 100000 ? frac_zeros : 100000));

	/* far from double's range either way: overflow or subnormal loss */
	if (magnitude > 300 || magnitude < -290)
		return false;
	if (sig <= 15)
		return true;
	if (sig > 16)
		return false;

	/*
	 * 16 significant digits: exact only as an integer not above 2^53 =
	 * 9007199254740992 (as many digits, the first one non-zero).
	 */
	if (magnitude != 16)
		return false;
	return memcmp(digits, "9007199254740992", 16) <= 0;
}

size_t
cdc_json_format_int64(char *buf, int64_t v)
{
	char		tmp[21];
	char	   *p = tmp + sizeof(tmp);
	uint64_t	u = v < 0 ? (uint64_t) 0 - (uint64_t) v : (uint64_t) v;
	size_t		n;

	do
	{
		*--p = (char) ('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		*--p = '-';
	n = (size_t) (tmp + sizeof(tmp) - p);
	memcpy(buf, p, n);
	return n;
}
