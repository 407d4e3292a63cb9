/*
 * fuzz_lsn.c
 *		libFuzzer target for src/lsn.c.
 *
 * Invariants:
 *	- format: at most CDC_LSN_MAXLEN bytes (into a buffer of exactly that
 *	  size), the same text as printf("%X/%X"), and parse gives the value back.
 *	- parse: accepts exactly 1-8 hex digits, '/', 1-8 hex digits and nothing
 *	  else (checked against a reference), with the value strtoull reads; and
 *	  formatting what it parsed gives the input's canonical spelling (upper
 *	  case, no leading zeros), which parses to the same value again.
 */
#include <ctype.h>
#include <inttypes.h>

#include "cdc_lsn.h"
#include "fuzz_common.h"

static void
check_format(uint64_t v)
{
	char	   *buf = malloc(CDC_LSN_MAXLEN);	/* no room for a NUL */
	char		want[40];
	char		str[CDC_LSN_MAXLEN + 1];
	uint64_t	back = 0;
	size_t		n;

	FUZZ_ASSERT(buf != NULL);
	n = cdc_lsn_format(buf, v);
	FUZZ_ASSERT(n >= 3 && n <= CDC_LSN_MAXLEN);
	snprintf(want, sizeof(want), "%" PRIX32 "/%" PRIX32,
			 (uint32_t) (v >> 32), (uint32_t) v);
	FUZZ_ASSERT(n == strlen(want) && memcmp(buf, want, n) == 0);
	memcpy(str, buf, n);
	str[n] = '\0';
	FUZZ_ASSERT(cdc_lsn_parse(str, &back));
	FUZZ_ASSERT(back == v);
	free(buf);
}

/* Reference: the length of a run of hex digits at s. */
static size_t
hex_run(const char *s)
{
	size_t		n = 0;

	while (isxdigit((unsigned char) s[n]))
		n++;
	return n;
}

static void
check_parse(const uint8_t *data, size_t size)
{
	char	   *s = fuzz_strndup(data, size);
	size_t		slen = strlen(s);	/* parsing stops at a NUL */
	size_t		a = hex_run(s);
	size_t		b = a < slen && s[a] == '/' ? hex_run(s + a + 1) : 0;
	bool		want = a >= 1 && a <= 8 && s[a] == '/' && b >= 1 && b <= 8 &&
		a + 1 + b == slen;
	uint64_t	v = 0x5A5A5A5A5A5A5A5AULL;
	bool		ok = cdc_lsn_parse(s, &v);

	FUZZ_ASSERT(ok == want);
	if (!ok)
	{
		FUZZ_ASSERT(v == 0x5A5A5A5A5A5A5A5AULL);	/* untouched */
		free(s);
		return;
	}
	{
		uint64_t	hi = strtoull(s, NULL, 16);
		uint64_t	lo = strtoull(s + a + 1, NULL, 16);
		char		canon[CDC_LSN_MAXLEN + 1];
		char		buf[CDC_LSN_MAXLEN + 1];
		uint64_t	again = 0;
		size_t		n;

		FUZZ_ASSERT(v == ((hi << 32) | lo));
		snprintf(canon, sizeof(canon), "%" PRIX64 "/%" PRIX64, hi, lo);
		n = cdc_lsn_format(buf, v);
		buf[n] = '\0';
		FUZZ_ASSERT(strcmp(buf, canon) == 0);
		FUZZ_ASSERT(cdc_lsn_parse(buf, &again) && again == v);
	}
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_parse(data, size);
	if (size >= 8)
	{
		uint64_t	v;

		memcpy(&v, data, 8);
		check_format(v);
		check_format(v >> 32);
		check_format(v << 32);
	}
	return 0;
}
