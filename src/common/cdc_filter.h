/*
 * cdc_filter.h
 *		One layer of entity/operation filters, as the plugin applies it
 *		(src/plugin/relcache.c), the log stores its capture setting in it
 *		(src/log/sink.c) and the API keeps a consumer's or a group's
 *		(src/api/).  Needs no server header: the lists are PostgreSQL Lists
 *		of C strings, declared here only as struct List.
 */
#ifndef CDC_FILTER_H
#define CDC_FILTER_H

#include <stdbool.h>
#include <stdint.h>

#include "cdc_ops.h"

struct List;

/*
 * A relation passes a layer when it matches one of the entities patterns
 * (or the list is NIL), none of the exclude_entities patterns, and the
 * operation is in the mask.  A decoding session or a read may stack several
 * layers (a consumer's stored filters and the filters of one cdc.stream
 * call): a change must pass them all.
 */
typedef struct CdcFilter
{
	struct List *entities;		/* of char *, glob patterns; NIL = all */
	struct List *exclude_entities;	/* of char *, glob patterns */
	uint8_t		operations;		/* CDC_OP_* mask */
} CdcFilter;

/*
 * Does the table match one of the patterns (cdc_glob.h: a qualified pattern
 * against entity, "schema.table" as PostgreSQL quotes it; another against
 * table alone)?  In src/plugin/relcache.c, where it walks the List.
 */
extern bool CdcEntityMatches(const char *entity, const char *table,
							 struct List *patterns);

#endif
