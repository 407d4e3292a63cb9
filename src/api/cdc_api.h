/*
 * cdc_api.h
 *		The SQL API (src/api/): consumers, stream/consume, checkpoint, trim,
 *		status, privileges, over the change log.
 */
#ifndef CDC_API_H
#define CDC_API_H

#include "cdc_plugin.h"

#include "cdc_log.h"

/* Attribute numbers (0-based) of cdc.change_entry, as created in log.sql. */
typedef enum CdcEntryColumn
{
	CDC_ENTRY_LSN,
	CDC_ENTRY_COMMIT_LSN,
	CDC_ENTRY_SEQ,
	CDC_ENTRY_XID,
	CDC_ENTRY_TIMESTAMP,
	CDC_ENTRY_ENTITY,
	CDC_ENTRY_ENTITY_ID,
	CDC_ENTRY_OPERATION,
	CDC_ENTRY_OLD_DATA,
	CDC_ENTRY_NEW_DATA,
	CDC_ENTRY_UNCHANGED_TOAST,
	CDC_ENTRY_FALLBACK,
	CDC_ENTRY_NCOLUMNS
} CdcEntryColumn;

/*
 * The one place that decides what a role receives of a log row and shapes
 * it (DESIGN §3, §6): filter layers (CdcFilter, all must pass; messages by
 * the CDC_OP_MESSAGE rule), table / column / RLS / message privileges
 * checked against the current catalog (cached per relation for the life of
 * the filter, i.e. one call), numeric_as_string.  Used by cdc.stream,
 * cdc.consume and consumer groups alike.
 */
typedef struct CdcReadFilter CdcReadFilter;
extern CdcReadFilter *CdcReadFilterCreate(Oid role, List *filters,
										  bool messages,
										  bool numeric_as_string);
/* log_values/log_nulls: a cdc.log row (CdcLogColumn order); fills a
 * cdc.change_entry row; returns false when the role receives nothing of it */
extern bool CdcReadFilterApply(CdcReadFilter *rf, Datum *log_values,
							   bool *log_nulls, Datum *entry_values,
							   bool *entry_nulls);

/*
 * groups.c: consumer groups' part of the log's horizon hook.  Whoever
 * installs the hook (CdcLogSetHorizonHook) calls it too, with the same
 * arguments and inside the same SPI session: groups behind new_oldest get a
 * gap or follow the horizon.  Returns how many got a gap.
 */
extern int	CdcGroupsHorizon(XLogRecPtr old_oldest, XLogRecPtr new_oldest,
							 const char *reason);

/* Called from _PG_init in every backend: registers the API's hooks. */
extern void CdcApiInit(void);

#endif
