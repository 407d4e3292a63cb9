/*
 * cdc_ext.c
 *		Change Data Capture for PostgreSQL: module entry points.
 *
 * Wiring only.  The output plugin lives in src/plugin/, the change log
 * (launcher, log writers, ingest, retention) in src/log/, the SQL API in
 * src/api/.  Under shared_preload_libraries the log's shared memory and
 * launcher are set up here; without it the plugin and CALL cdc.ingest()
 * still work.
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "replication/output_plugin.h"

#include "cdc_plugin.h"
#include "cdc_log.h"
#include "cdc_api.h"

PG_MODULE_MAGIC;

extern void _PG_init(void);
extern void _PG_output_plugin_init(OutputPluginCallbacks *cb);

void
_PG_init(void)
{
	CdcApiInit();
	if (process_shared_preload_libraries_in_progress)
	{
		CdcLogShmemRequest();
		CdcLogRegisterLauncher();
		CdcLogInstallDropdbHook();
	}
}

void
_PG_output_plugin_init(OutputPluginCallbacks *cb)
{
	CdcDecodeInit(cb);
}
