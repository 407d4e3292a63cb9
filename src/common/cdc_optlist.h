/*
 * cdc_optlist.h
 *		Splitting of comma-separated option values (pure C, unit-tested).
 */
#ifndef CDC_OPTLIST_H
#define CDC_OPTLIST_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Next item of a comma-separated list.  *pos is where to start and is moved
 * past the item and its comma.  Commas inside double quotes or after a
 * backslash do not split; blanks around an item are dropped.  Sets
 * *start and *len to the item (backslashes kept, for the glob matcher).
 * Returns false at the end of the list.  An empty item ("a,,b", "a,")
 * is returned with *len == 0, for the caller to reject.
 */
extern bool cdc_optlist_next(const char *s, size_t slen, size_t *pos,
							 size_t *start, size_t *len);

/* Parse "true/false/on/off/yes/no/1/0" (any case); false if none of them. */
extern bool cdc_parse_bool(const char *s, bool *result);

#endif
