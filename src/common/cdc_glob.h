/*
 * cdc_glob.h
 *		Glob matching for entity filters (pure C, unit-tested).
 */
#ifndef CDC_GLOB_H
#define CDC_GLOB_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Does text[0..tlen) match pattern[0..plen)?  '*' matches any run of
 * characters, '?' exactly one character (a whole UTF-8 sequence; a byte that
 * does not start a complete one is a character alone), '\' makes the next
 * byte literal.  Byte-exact otherwise: no case folding.
 */
extern bool cdc_glob_match(const char *pattern, size_t plen,
						   const char *text, size_t tlen);

/*
 * Does the pattern name schema and table (a '.' outside double quotes and
 * not escaped)?  Such a pattern is matched against "schema.table", one
 * without against the table part alone.
 */
extern bool cdc_glob_is_qualified(const char *pattern, size_t plen);

/* Is the pattern well formed (no dangling trailing backslash)? */
extern bool cdc_glob_is_valid(const char *pattern, size_t plen);

#endif
