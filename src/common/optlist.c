/*
 * optlist.c
 *		Comma-separated list and boolean parsing for plugin option values.
 */
#include "cdc_optlist.h"

#include <strings.h>

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool
cdc_optlist_next(const char *s, size_t slen, size_t *pos,
				 size_t *start, size_t *len)
{
	size_t		i = *pos;
	size_t		end;
	size_t		keep;			/* end of the last backslash-escaped byte */
	bool		quoted = false;

	if (i > slen)
		return false;			/* past the last item */

	while (i < slen && is_blank(s[i]))
		i++;
	*start = i;
	keep = i;
	for (; i < slen; i++)
	{
		if (s[i] == '\\' && i + 1 < slen)
		{
			i++;
			keep = i + 1;
		}
		else if (s[i] == '"')
			quoted = !quoted;
		else if (s[i] == ',' && !quoted)
			break;
	}

	/*
	 * Drop trailing blanks, but not one that a backslash protects: in the
	 * text a\<blank> the blank stays; in a\\<blank> (an escaped backslash,
	 * then a blank) it goes.
	 */
	end = i;
	while (end > keep && is_blank(s[end - 1]))
		end--;
	*len = end - *start;

	/* after a comma there is always one more item, empty if need be */
	*pos = (i < slen) ? i + 1 : slen + 1;
	return true;
}

bool
cdc_parse_bool(const char *s, bool *result)
{
	static const char *const yes[] = {"true", "on", "yes", "1", "t", "y"};
	static const char *const no[] = {"false", "off", "no", "0", "f", "n"};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
	{
		if (strcasecmp(s, yes[i]) == 0)
		{
			*result = true;
			return true;
		}
		if (strcasecmp(s, no[i]) == 0)
		{
			*result = false;
			return true;
		}
	}
	return false;
}
