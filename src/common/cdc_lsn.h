/*
 * cdc_lsn.h
 *		LSN text: "X/Y" in upper-case hex, as pg_lsn prints it (pure C).
 */
#ifndef CDC_LSN_H
#define CDC_LSN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CDC_LSN_MAXLEN 17		/* "FFFFFFFF/FFFFFFFF" */

/* Format lsn into buf (room for CDC_LSN_MAXLEN bytes); returns the length. */
extern size_t cdc_lsn_format(char *buf, uint64_t lsn);

/* Parse "X/Y" (1-8 hex digits each side, nothing else); false if malformed. */
extern bool cdc_lsn_parse(const char *s, uint64_t *lsn);

#endif
