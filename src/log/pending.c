/*
 * pending.c
 *		TEMPORARY: the log's SQL entry points until worker.c, ingest.c and
 *		retention.c land (being written now).  Lets the API and client work
 *		start against the 1.1 schema: rows can be put into cdc.log by hand.
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "cdc_log.h"

PG_FUNCTION_INFO_V1(cdc_ingest);
PG_FUNCTION_INFO_V1(cdc_wait_for_log);
PG_FUNCTION_INFO_V1(cdc_set_capture);
PG_FUNCTION_INFO_V1(cdc_set_retention);
PG_FUNCTION_INFO_V1(cdc_trim);
PG_FUNCTION_INFO_V1(cdc_writer_info);
PG_FUNCTION_INFO_V1(cdc_start_writer);

static CdcHorizonHook horizon_hook = NULL;

#define NOT_YET() ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED), errmsg("not yet")))
Datum cdc_ingest(PG_FUNCTION_ARGS) { NOT_YET(); PG_RETURN_VOID(); }
Datum cdc_wait_for_log(PG_FUNCTION_ARGS) { NOT_YET(); PG_RETURN_VOID(); }
Datum cdc_set_capture(PG_FUNCTION_ARGS) { NOT_YET(); PG_RETURN_VOID(); }
Datum cdc_set_retention(PG_FUNCTION_ARGS) { NOT_YET(); PG_RETURN_VOID(); }
Datum cdc_trim(PG_FUNCTION_ARGS) { NOT_YET(); PG_RETURN_VOID(); }
Datum cdc_writer_info(PG_FUNCTION_ARGS) { NOT_YET(); PG_RETURN_VOID(); }
Datum cdc_start_writer(PG_FUNCTION_ARGS) { PG_RETURN_BOOL(false); }

uint64 CdcLogGeneration(void) { return 0; }
bool
CdcLogWait(uint64 seen, TimestampTz deadline)
{
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 100L, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
	return false;
}
void CdcLogNotifyIngest(void) {}
void CdcLogSetHorizonHook(CdcHorizonHook hook) { horizon_hook = hook; }
