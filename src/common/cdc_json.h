/*
 * cdc_json.h
 *		JSON text helpers used by the output plugin: string escaping, number
 *		classification and integer formatting.
 *
 * Pure C (no postgres.h), so the unit tests link it without a server.
 */
#ifndef CDC_JSON_H
#define CDC_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/*
 * Bytes needed to escape src[0..len) as the inside of a JSON string (without
 * the surrounding quotes).  Stops at len, not at NUL: a NUL byte is escaped.
 * utf8: the text is UTF-8 (see cdc_json_escape); pass the same value to both.
 */
extern size_t cdc_json_escaped_len(const char *src, size_t len, bool utf8);

/*
 * Write the escaped form of src[0..len) to dst, which must have room for
 * cdc_json_escaped_len(src, len, utf8) bytes; returns the end of what was
 * written.  Quotes, backslashes and control characters (below 0x20) are
 * escaped.  When utf8 is true, so are U+2028 and U+2029 (E2 80 A8/A9: valid
 * JSON, but line terminators to JavaScript).  When it is false (the text is
 * in another server encoding: LATIN1, SQL_ASCII, EUC_JP, ...) every byte of
 * 0x80 and above is copied as it is, since E2 80 A8 are then other
 * characters, which a \u2028 would corrupt.
 */
extern char *cdc_json_escape(char *dst, const char *src, size_t len, bool utf8);

/* Is s[0..len) a number by JSON's grammar (no NaN, no Infinity, no "+1")? */
extern bool cdc_json_is_number(const char *s, size_t len);

/*
 * Would a JavaScript (IEEE double) reader get s[0..len) back exactly?  True
 * for integers within +-2^53 and for any number with at most 15 significant
 * digits whose exponent stays well inside double's range.  s must be a JSON
 * number.
 */
extern bool cdc_json_number_is_exact_double(const char *s, size_t len);

/* Decimal text of v into buf (room for 21 bytes); returns its length. */
extern size_t cdc_json_format_int64(char *buf, int64_t v);

#endif
