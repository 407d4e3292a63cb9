/*
 * lsn.c
 *		Formatting and parsing of LSN text, the way pg_lsn does it, without
 *		snprintf on the hot path (every entry carries two LSNs).
 */
#include "cdc_lsn.h"

#include <string.h>

static size_t
format_hex32(char *buf, uint32_t v)
{
	static const char hex[] = "0123456789ABCDEF";
	char		tmp[8];
	size_t		n = 0;

	do
	{
		tmp[n++] = hex[v & 0xF];
		v >>= 4;
	} while (v != 0);
	for (size_t i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	return n;
}

size_t
cdc_lsn_format(char *buf, uint64_t lsn)
{
	size_t		n = format_hex32(buf, (uint32_t) (lsn >> 32));

	buf[n++] = '/';
	n += format_hex32(buf + n, (uint32_t) lsn);
	return n;
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static const char *
parse_hex32(const char *s, uint32_t *v)
{
	int			n = 0;

	*v = 0;
	while (hex_value(*s) >= 0)
	{
		if (++n > 8)
			return NULL;
		*v = (*v << 4) | (uint32_t) hex_value(*s);
		s++;
	}
	return n == 0 ? NULL : s;
}

bool
cdc_lsn_parse(const char *s, uint64_t *lsn)
{
	uint32_t	hi,
				lo;

	s = parse_hex32(s, &hi);
	if (s == NULL || *s != '/')
		return false;
	s = parse_hex32(s + 1, &lo);
	if (s == NULL || *s != '\0')
		return false;
	*lsn = ((uint64_t) hi << 32) | lo;
	return true;
}
