/*
 * status.c
 *		cdc.status() (the "admin cdc status" of PostgreSQL) and the set
 *		behind the cdc.consumers view.
 *
 * Both run as their caller and read the extension's tables as its owner
 * (CdcOwnerBegin/End); what they say about consumers covers only those the
 * caller may use (has the privileges of the owner), counts included.
 */
#include "cdc_api.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/numeric.h"
#include "utils/pg_lsn.h"

PG_FUNCTION_INFO_V1(cdc_status);
PG_FUNCTION_INFO_V1(cdc_consumer_info);

/* cdc.status(): one row (1.2 added the last lost range: lost_*). */
#define CDC_STATUS_NATTS 20

Datum
cdc_status(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	CdcOwnerScope scope;
	Oid			argtypes[2] = {OIDOID, PG_LSNOID};
	Datum		args[2];
	Datum		values[CDC_STATUS_NATTS];
	bool		nulls[CDC_STATUS_NATTS];
	bool		running;
	int			pid = 0;
	HeapTuple	result;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "cdc_ext: cdc.status() must return a row");
	desc = BlessTupleDesc(desc);
	if (desc->natts != CDC_STATUS_NATTS)
		CdcCheckInstalledVersion(fcinfo, -1);

	CdcOwnerBegin(&scope);
	/* the writer's live state, from shared memory (false without it) */
	running = CdcLogWriterRunning(&pid);
	args[0] = ObjectIdGetDatum(scope.saved_user);
	/* the writer records its position in the table only when it logs rows */
	args[1] = LSNGetDatum(CdcLogProcessedLsn());
	if (SPI_execute_with_args(
							  "SELECT pg_catalog.current_setting('wal_level') OPERATOR(pg_catalog.=) 'logical', "
							  "pg_catalog.current_setting('wal_level'), "
							  "NULL::boolean, NULL::integer, "
							  "greatest(pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), greatest(s.confirmed_lsn, $2)), 0)::bigint, "
							  "pg_catalog.pg_current_wal_lsn(), "
							  "s.logged_commit_lsn, greatest(s.confirmed_lsn, $2), s.oldest_lsn, "
							  "(SELECT l.\"timestamp\" FROM cdc.log l ORDER BY l.commit_lsn, l.seq LIMIT 1), "
							  "'max_age ' OPERATOR(pg_catalog.||) s.retention_max_age::text OPERATOR(pg_catalog.||) "
							  "coalesce(', max_bytes ' OPERATOR(pg_catalog.||) pg_catalog.pg_size_pretty(s.retention_max_bytes), ''), "
							  "d.bytes, pg_catalog.pg_size_pretty(d.bytes), "
							  "(SELECT pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), r.restart_lsn)::bigint "
							  " FROM pg_catalog.pg_replication_slots r WHERE r.slot_name OPERATOR(pg_catalog.=) s.slot_name), "
							  "(SELECT pg_catalog.count(*) FROM cdc.consumer_state c "
							  " WHERE pg_catalog.pg_has_role($1, c.owner, 'USAGE'))::integer, "
							  "(SELECT pg_catalog.count(*) FROM cdc.consumer_state c "
							  " WHERE pg_catalog.pg_has_role($1, c.owner, 'USAGE') "
							  " AND (c.gap_to OPERATOR(pg_catalog.>) c.checkpoint_lsn "
							  "      OR c.checkpoint_lsn OPERATOR(pg_catalog.<) s.oldest_lsn))::integer, "
							  "s.lost_from, s.lost_to, s.lost_reason, s.lost_at "
							  "FROM cdc.log_state s, "
							  "LATERAL (SELECT coalesce(pg_catalog.sum(pg_catalog.pg_total_relation_size(t.relid)), 0)::bigint AS bytes "
							  "         FROM pg_catalog.pg_partition_tree('cdc.log'::pg_catalog.regclass) t WHERE t.isleaf) d",
							  2, argtypes, args, NULL, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "cdc_ext: reading the log's state failed");
	for (int i = 0; i < CDC_STATUS_NATTS; i++)
		values[i] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 1, &nulls[i]);
	values[2] = BoolGetDatum(running);
	nulls[2] = false;
	values[3] = Int32GetDatum(pid);
	nulls[3] = !running;
	/* the row outlives SPI: SPI_returntuple copies it out */
	result = heap_form_tuple(desc, values, nulls);
	{
		HeapTupleHeader h = SPI_returntuple(result, desc);

		CdcOwnerEnd(&scope);
		PG_RETURN_DATUM(PointerGetDatum(h));
	}
}

/*
 * lag_changes and lag_seconds of a consumer: the log rows after its
 * checkpoint (or the horizon) that it receives (its filters, its owner's
 * privileges now), and the age of the first of them (0 when none).
 * Counted through the read filter, so that the lag says nothing about
 * tables the owner may not read.  Inside CdcOwnerBegin/End.
 */
static void
consumer_lag(Oid owner, int32 id, List *filters, bool messages, XLogRecPtr lsn, int32 seq,
			 Datum *changes, Datum *seconds)
{
	XLogRecPtr	oldest = CdcLogOldestLsn();
	int64		n;
	TimestampTz first;
	char		buf[64];
	CdcReadFilter *rf = CdcReadFilterCreate(owner, filters, messages, false);

	if (lsn < oldest)
	{
		lsn = oldest;
		seq = 0;
	}
	CdcReadFilterSetAudience(rf, id);
	CdcLogCountReceived(rf, lsn, seq, &n, &first);
	*changes = Int64GetDatum(n);
	snprintf(buf, sizeof(buf), "%.3f", n == 0 ? 0.0 :
			 Max(0.0, (double) (GetCurrentTransactionStartTimestamp() - first) / USECS_PER_SEC));
	*seconds = DirectFunctionCall3(numeric_in, CStringGetDatum(buf),
								   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
}

/* Set behind the cdc.consumers view: the consumers the caller may use. */
Datum
cdc_consumer_info(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	CdcOwnerScope scope;
	Oid			argtypes[2] = {OIDOID, OIDOID};
	Datum		args[2];
	SPITupleTable *tt;
	uint64		n;

	InitMaterializedSRF(fcinfo, 0);
	if (rsinfo->setDesc->natts != 16)
		CdcCheckInstalledVersion(fcinfo, -1);
	CdcOwnerBegin(&scope);
	args[0] = ObjectIdGetDatum(scope.saved_user);
	args[1] = ObjectIdGetDatum(CDC_READER_LOCK_CLASSID);
	if (SPI_execute_with_args(
							  "SELECT c.name, c.owner, c.entities, c.exclude_entities, c.operations, "
							  "c.checkpoint_lsn, c.checkpoint_seq, c.checkpoint_at, "
							  "NULL::bigint, NULL::numeric, "
							  "greatest(pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), c.checkpoint_lsn), 0)::bigint, "
							  "(SELECT pg_catalog.count(DISTINCT k.pid) FROM pg_catalog.pg_locks k "
							  " WHERE k.locktype OPERATOR(pg_catalog.=) 'advisory' AND k.granted "
							  " AND k.database OPERATOR(pg_catalog.=) (SELECT oid FROM pg_catalog.pg_database "
							  "     WHERE datname OPERATOR(pg_catalog.=) pg_catalog.current_database()) "
							  " AND k.classid OPERATOR(pg_catalog.=) $2 "
							  " AND k.objid OPERATOR(pg_catalog.=) c.id::pg_catalog.oid "
							  " AND k.objsubid OPERATOR(pg_catalog.=) " CppAsString2(CDC_READER_LOCK_SUBID) ")::integer, "
							  "coalesce(c.gap_to OPERATOR(pg_catalog.>) c.checkpoint_lsn, false) "
							  " OR c.checkpoint_lsn OPERATOR(pg_catalog.<) s.oldest_lsn, "
							  "CASE WHEN c.gap_to OPERATOR(pg_catalog.>) c.checkpoint_lsn THEN c.gap_reason "
							  "     WHEN c.checkpoint_lsn OPERATOR(pg_catalog.<) s.oldest_lsn "
							  "     THEN 'the change log was trimmed past the checkpoint' END, "
							  "NULL::text[], c.created_at, c.operations::pg_catalog.text[], c.id "
							  "FROM cdc.consumer_state c, cdc.log_state s "
							  "WHERE pg_catalog.pg_has_role($1, c.owner, 'USAGE') ORDER BY c.name",
							  2, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "cdc_ext: reading consumers failed");
	tt = SPI_tuptable;
	n = SPI_processed;
	for (uint64 i = 0; i < n; i++)
	{
		Datum		values[16];
		bool		nulls[16];
		CdcFilter  *f;
		bool		messages;
		List	   *withheld;

		for (int j = 0; j < 16; j++)
			values[j] = SPI_getbinval(tt->vals[i], tt->tupdesc, j + 1, &nulls[j]);
		f = CdcStoredFilter(tt->vals[i], tt->tupdesc, 3, 4, 17, &messages);
		consumer_lag(DatumGetObjectId(values[1]),
					 DatumGetInt32(SPI_getbinval(tt->vals[i], tt->tupdesc, 18, &(bool) {0})),
					 list_make1(f), messages,
					 DatumGetLSN(values[5]), DatumGetInt32(values[6]),
					 &values[8], &values[9]);
		nulls[8] = nulls[9] = false;
		/* a consumer of messages only is withheld no table */
		withheld = f->operations == 0 ? NIL :
			CdcWithheldTables(DatumGetObjectId(values[1]), list_make1(f),
							  f->entities != NIL);
		/* tables it asks for that the log no longer captures (capture.c) */
		if (f->operations != 0)
			withheld = list_concat(withheld, CdcUncapturedTables(list_make1(f),
																 f->entities != NIL));
		if (withheld != NIL)
		{
			Datum	   *elems = palloc(sizeof(Datum) * list_length(withheld));
			int			k = 0;
			ListCell   *lc;

			foreach(lc, withheld)
				elems[k++] = CStringGetTextDatum(lfirst(lc));
			values[14] = PointerGetDatum(construct_array(elems, k, TEXTOID, -1, false, TYPALIGN_INT));
			nulls[14] = false;
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	CdcOwnerEnd(&scope);
	return (Datum) 0;
}
