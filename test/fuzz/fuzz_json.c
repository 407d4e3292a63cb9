/*
 * fuzz_json.c
 *		libFuzzer target for src/json.c.
 *
 * Invariants:
 *	- escaping, in both modes (UTF-8 text, and text in another server
 *	  encoding): the measured length is the written length (into a buffer
 *	  of exactly that size); the output is the inside of a valid JSON string
 *	  (no raw control character or quote; every backslash starts a
 *	  well-formed escape); decoding it gives the input back byte for byte.
 *	  UTF-8 mode: no raw line separator, and valid UTF-8 in gives valid
 *	  UTF-8 out.  Other encodings: no \u escape above U+001F, and every byte
 *	  of 0x80 and above comes out as it went in.
 *	- numbers: cdc_json_is_number agrees with an independent reading of
 *	  RFC 8259's grammar, and strtod consumes all of what it accepts;
 *	  cdc_json_number_is_exact_double is true for what its contract promises
 *	  and, when true, the double prints back as the same digits; it does not
 *	  depend on the sign.
 *	- integers: cdc_json_format_int64 agrees with printf, fits 20 bytes, and
 *	  is a number that is exact as a double whenever |v| <= 2^53.
 */
#include <inttypes.h>
#include <math.h>

#include "cdc_json.h"
#include "fuzz_common.h"

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Check out[0..olen) as a JSON string body and decode it into dec; utf8 is
 * the mode it was escaped in.
 */
static size_t
check_and_decode(const unsigned char *out, size_t olen, unsigned char *dec,
				 bool utf8)
{
	size_t		n = 0;

	for (size_t i = 0; i < olen; i++)
	{
		unsigned char c = out[i];

		FUZZ_ASSERT(c >= 0x20);			/* no raw control character */
		FUZZ_ASSERT(c != '"');			/* no unescaped quote */
		/* UTF-8: no raw U+2028 / U+2029 (line terminators to JavaScript) */
		FUZZ_ASSERT(!utf8 || !(c == 0xE2 && i + 2 < olen && out[i + 1] == 0x80 &&
					  (out[i + 2] == 0xA8 || out[i + 2] == 0xA9)));
		if (c != '\\')
		{
			dec[n++] = c;
			continue;
		}
		FUZZ_ASSERT(i + 1 < olen);		/* no dangling backslash */
		switch (out[++i])
		{
			case '"': dec[n++] = '"'; break;
			case '\\': dec[n++] = '\\'; break;
			case '/': dec[n++] = '/'; break;
			case 'b': dec[n++] = '\b'; break;
			case 'f': dec[n++] = '\f'; break;
			case 'n': dec[n++] = '\n'; break;
			case 'r': dec[n++] = '\r'; break;
			case 't': dec[n++] = '\t'; break;
			case 'u':
				{
					uint32_t	cp = 0;

					FUZZ_ASSERT(i + 4 < olen);
					for (int k = 1; k <= 4; k++)
					{
						int			h = hexval(out[i + k]);

						FUZZ_ASSERT(h >= 0);
						cp = (cp << 4) | (uint32_t) h;
					}
					i += 4;
					if (cp < 0x80)
						dec[n++] = (unsigned char) cp;
					else
					{
						/* the only others the escaper writes, in UTF-8 only */
						FUZZ_ASSERT(utf8 && (cp == 0x2028 || cp == 0x2029));
						dec[n++] = 0xE2;
						dec[n++] = 0x80;
						dec[n++] = cp == 0x2028 ? 0xA8 : 0xA9;
					}
					break;
				}
			default:
				FUZZ_ASSERT(!"unknown escape");
		}
	}
	return n;
}

static void
fuzz_escape(const uint8_t *data, size_t size, bool utf8)
{
	size_t		elen = cdc_json_escaped_len((const char *) data, size, utf8);
	char	   *out = malloc(elen > 0 ? elen : 1);
	unsigned char *dec = malloc(size > 0 ? size : 1);
	char	   *end;
	size_t		n;

	FUZZ_ASSERT(out != NULL && dec != NULL);
	FUZZ_ASSERT(elen >= size && elen <= 6 * size);
	end = cdc_json_escape(out, (const char *) data, size, utf8);
	FUZZ_ASSERT(end == out + elen);
	/* dec has room for size bytes: a longer decoding overruns under ASan */
	n = check_and_decode((const unsigned char *) out, elen, dec, utf8);
	FUZZ_ASSERT(n == size);
	FUZZ_ASSERT(size == 0 || memcmp(dec, data, size) == 0);
	if (utf8 && fuzz_valid_utf8(data, size))
		FUZZ_ASSERT(fuzz_valid_utf8((const unsigned char *) out, elen));
	if (!utf8)
	{
		/* the high bytes, in order, are exactly the input's */
		size_t		hi_in = 0,
					hi_out = 0;

		for (size_t i = 0; i < size; i++)
			hi_in += data[i] >= 0x80;
		for (size_t i = 0; i < elen; i++)
			hi_out += (unsigned char) out[i] >= 0x80;
		FUZZ_ASSERT(hi_in == hi_out);
	}
	free(out);
	free(dec);
}

/*
 * Reference for JSON's number grammar, as a state machine:
 * -? (0 | [1-9][0-9]*) (\.[0-9]+)? ([eE][+-]?[0-9]+)?
 */
static bool
ref_is_number(const char *s, size_t len)
{
	enum
	{
		START, SIGN, ZERO, INT, DOT, FRAC, E, ESIGN, EXP
	}			st = START;

	for (size_t i = 0; i < len; i++)
	{
		char		c = s[i];
		bool		digit = c >= '0' && c <= '9';

		switch (st)
		{
			case START:
			case SIGN:
				if (st == START && c == '-')
					st = SIGN;
				else if (c == '0')
					st = ZERO;
				else if (digit)
					st = INT;
				else
					return false;
				break;
			case ZERO:
			case INT:
				if (digit && st == INT)
					st = INT;
				else if (c == '.')
					st = DOT;
				else if (c == 'e' || c == 'E')
					st = E;
				else
					return false;
				break;
			case DOT:
			case FRAC:
				if (digit)
					st = FRAC;
				else if (st == FRAC && (c == 'e' || c == 'E'))
					st = E;
				else
					return false;
				break;
			case E:
			case ESIGN:
				if (digit)
					st = EXP;
				else if (st == E && (c == '+' || c == '-'))
					st = ESIGN;
				else
					return false;
				break;
			case EXP:
				if (!digit)
					return false;
				break;
		}
	}
	return st == ZERO || st == INT || st == FRAC || st == EXP;
}

/*
 * A JSON number as 0.D x 10^E with D free of leading and trailing zeros
 * (D empty for zero).  E saturates far outside double's range.
 */
static void
normalize(const char *s, size_t len, char *d, size_t dsize, long *e)
{
	size_t		i = 0,
				nd = 0;
	long		point = 0;		/* digits before the point */
	long		lead = 0;		/* leading zeros among all digits */
	long		exp10 = 0;
	bool		seen = false,
				frac = false,
				neg = false;

	if (i < len && s[i] == '-')
		i++;
	for (; i < len && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.'); i++)
	{
		if (s[i] == '.')
		{
			frac = true;
			continue;
		}
		if (!frac)
			point++;
		if (!seen && s[i] == '0')
		{
			lead++;
			continue;
		}
		seen = true;
		FUZZ_ASSERT(nd + 1 < dsize);
		d[nd++] = s[i];
	}
	if (i < len && (s[i] == 'e' || s[i] == 'E'))
	{
		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			neg = s[i++] == '-';
		for (; i < len; i++)
			if (exp10 < 1000000000L)
				exp10 = exp10 * 10 + (s[i] - '0');
	}
	while (nd > 0 && d[nd - 1] == '0')
		nd--;
	d[nd] = '\0';
	*e = (neg ? -exp10 : exp10) + point - lead;
}

static void
fuzz_number(const uint8_t *data, size_t size)
{
	const char *s = (const char *) data;
	bool		is_num = cdc_json_is_number(s, size);
	char	   *copy;
	char	   *endp;
	double		v;
	char	   *digits;
	long		e;
	size_t		nd;
	bool		exact;

	FUZZ_ASSERT(is_num == ref_is_number(s, size));
	if (!is_num)
		return;

	copy = fuzz_strndup(data, size);
	v = strtod(copy, &endp);
	FUZZ_ASSERT(endp == copy + size);

	digits = malloc(size + 1);
	FUZZ_ASSERT(digits != NULL);
	normalize(s, size, digits, size + 1, &e);
	nd = strlen(digits);
	exact = cdc_json_number_is_exact_double(s, size);

	/* what the contract promises */
	if (nd == 0)
		FUZZ_ASSERT(exact);				/* zero, in any spelling */
	if (nd > 0 && nd <= 15 && e >= -250 && e <= 250)
		FUZZ_ASSERT(exact);				/* few digits, well inside range */
	if (nd > 0 && nd <= 16 && e >= (long) nd && e <= 16)
	{
		/* an integer of at most 16 digits: exact iff |v| <= 2^53 */
		char		padded[17];

		memset(padded, '0', 16);
		padded[16] = '\0';
		memcpy(padded + (16 - e), digits, nd);
		if (e < 16 || memcmp(padded, "9007199254740992", 16) <= 0)
			FUZZ_ASSERT(exact);
	}

	/* what a true answer means: the double prints back as the same digits */
	if (exact && nd > 0)
	{
		char		buf[64];
		char		back[64];
		long		e2;

		FUZZ_ASSERT(nd <= 16);
		FUZZ_ASSERT(isfinite(v) && v != 0.0);
		snprintf(buf, sizeof(buf), "%.*e", (int) nd - 1, fabs(v));
		normalize(buf, strlen(buf), back, sizeof(back), &e2);
		FUZZ_ASSERT(strcmp(back, digits) == 0);
		FUZZ_ASSERT(e2 == e);
	}

	/* the sign does not matter */
	if (s[0] != '-')
	{
		char	   *neg = malloc(size + 1);

		FUZZ_ASSERT(neg != NULL);
		neg[0] = '-';
		memcpy(neg + 1, s, size);
		FUZZ_ASSERT(cdc_json_is_number(neg, size + 1));
		FUZZ_ASSERT(cdc_json_number_is_exact_double(neg, size + 1) == exact);
		free(neg);
	}
	free(digits);
	free(copy);
}

static void
fuzz_int64(const uint8_t *data, size_t size)
{
	int64_t		v;
	char	   *buf;
	char		want[32];
	char	   *copy;
	size_t		n;

	if (size < 8)
		return;
	memcpy(&v, data, 8);
	/* also the small numbers around zero, where most digits change */
	if (size > 8 && data[8] & 1)
		v >>= (data[8] >> 1) & 63;

	buf = malloc(20);					/* the longest, with no NUL */
	FUZZ_ASSERT(buf != NULL);
	n = cdc_json_format_int64(buf, v);
	FUZZ_ASSERT(n >= 1 && n <= 20);
	snprintf(want, sizeof(want), "%" PRId64, v);
	FUZZ_ASSERT(n == strlen(want) && memcmp(buf, want, n) == 0);
	FUZZ_ASSERT(cdc_json_is_number(buf, n));
	copy = fuzz_strndup((const uint8_t *) buf, n);
	FUZZ_ASSERT(strtoll(copy, NULL, 10) == v);
	if (v >= -INT64_C(9007199254740992) && v <= INT64_C(9007199254740992))
		FUZZ_ASSERT(cdc_json_number_is_exact_double(buf, n));
	free(copy);
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_escape(data, size, true);
	fuzz_escape(data, size, false);
	fuzz_number(data, size);
	fuzz_int64(data, size);
	return 0;
}
