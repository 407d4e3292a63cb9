/*
 * cdc_ext.c
 *		Change Data Capture for PostgreSQL: module entry points.
 *
 * Wiring only.  The output plugin's callbacks live in src/decode.c, the SQL
 * API in src/stream.c, src/consumer.c and src/admin.c.
 */
#include "postgres.h"

#include "fmgr.h"
#include "replication/output_plugin.h"

#include "cdc_plugin.h"

PG_MODULE_MAGIC;

extern void _PG_output_plugin_init(OutputPluginCallbacks *cb);

void
_PG_output_plugin_init(OutputPluginCallbacks *cb)
{
	CdcDecodeInit(cb);
}
