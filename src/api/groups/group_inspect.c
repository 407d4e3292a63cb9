/*
 * group_inspect.c
 *		What groups show: cdc.pending (leases), cdc.dead_letters (as the
 *		caller may see them) and cdc.group_info (the rows of cdc.groups,
 *		with each group's lag as its owner receives the log).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/numeric.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"

#include "group_internal.h"

PG_FUNCTION_INFO_V1(cdc_pending);
PG_FUNCTION_INFO_V1(cdc_dead_letters);
PG_FUNCTION_INFO_V1(cdc_group_info);

/* Copy the current SPI result into the SRF's tuplestore. */
static void
copy_result(GroupOut *out)
{
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		Datum	   *v = palloc(out->desc->natts * sizeof(Datum));
		bool	   *n = palloc(out->desc->natts * sizeof(bool));

		heap_deform_tuple(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, v, n);
		tuplestore_putvalues(out->store, out->desc, v, n);
	}
}

/* cdc.pending(group, member) */
Datum
cdc_pending(PG_FUNCTION_ARGS)
{
	char	   *name = CdcGroupTextArg(fcinfo, 0, "group");
	char	   *member = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	CdcOwnerScope scope;
	CdcGroup		g;
	GroupOut			out;

	if (member)
		CdcCheckName("member", member);
	CdcGroupOutBegin(fcinfo, &out);
	CdcGroupOwnerBegin(&scope);
	CdcGroupRequire(&scope, name, false, &g);
	if (member)
		CdcGroupMemberRequire(&g, member);
	{
		Oid			types[] = {INT4OID, TEXTOID, TIMESTAMPTZOID, PG_LSNOID, INT4OID};
		Datum		values[] = {Int32GetDatum(g.id), member ? CStringGetTextDatum(member) : (Datum) 0,
			TimestampTzGetDatum(GetCurrentTimestamp()), LSNGetDatum(g.watermark_lsn),
		Int32GetDatum(g.watermark_seq)};
		char		nulls[] = {' ', member ? ' ' : 'n', ' ', ' ', ' '};

		RUN("SELECT commit_lsn, seq, member, delivery_count, $3 - delivered_at, lease_until "
			"FROM cdc.group_entry WHERE grp = $1 AND ((commit_lsn, seq) > ($4, $5) OR replay) "
			"AND NOT acked AND member IS NOT NULL "
			"AND ($2::text IS NULL OR member = $2) ORDER BY commit_lsn, seq",
			types, values, nulls, SPI_OK_SELECT, 0);
	}
	copy_result(&out);
	CdcOwnerEnd(&scope);
	return (Datum) 0;
}

/* cdc.dead_letters(group): as the caller may see them */
Datum
cdc_dead_letters(PG_FUNCTION_ARGS)
{
	char	   *name = CdcGroupTextArg(fcinfo, 0, "group");
	CdcOwnerScope scope;
	CdcGroup		g;
	GroupOut			out;
	CdcReadFilter *rf;

	CdcGroupOutBegin(fcinfo, &out);
	CdcGroupOwnerBegin(&scope);
	CdcGroupRequire(&scope, name, false, &g);
	rf = CdcReadFilterCreate(scope.saved_user, NIL, true, false);
	CdcReadFilterSetAudience(rf, -g.id);
	{
		Oid			types[] = {INT4OID};
		Datum		values[] = {Int32GetDatum(g.id)};

		RUN("SELECT " CDC_LOG_COLUMNS ", "
			"delivery_count, last_member, moved_at, replaying "
			"FROM cdc.group_dead_letter WHERE grp = $1 ORDER BY commit_lsn, seq",
			types, values, NULL, SPI_OK_SELECT, 0);
	}
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		Datum		lv[CDC_LOG_NCOLUMNS + 4];
		bool		ln[CDC_LOG_NCOLUMNS + 4];
		Datum		ev[CDC_ENTRY_NCOLUMNS + 4];
		bool		en[CDC_ENTRY_NCOLUMNS + 4];

		heap_deform_tuple(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, lv, ln);
		if (!CdcReadFilterApply(rf, lv, ln, ev, en))
			continue;
		for (int i = 0; i < 4; i++)
		{
			ev[CDC_ENTRY_NCOLUMNS + i] = lv[CDC_LOG_NCOLUMNS + i];
			en[CDC_ENTRY_NCOLUMNS + i] = ln[CDC_LOG_NCOLUMNS + i];
		}
		tuplestore_putvalues(out.store, out.desc, ev, en);
	}
	CdcOwnerEnd(&scope);
	return (Datum) 0;
}

/* What rf receives after (lsn, seq), or after the horizon oldest if that is later. */
static void
count_received(CdcReadFilter *rf, XLogRecPtr oldest, XLogRecPtr lsn, int32 seq,
			   int64 *n, TimestampTz *first)
{
	if (lsn < oldest)
	{
		lsn = oldest;
		seq = 0;
	}
	CdcLogCountReceived(rf, lsn, seq, n, first);
}

/*
 * The rows of cdc.group_info's statement (its 17 columns, then owner,
 * operations as text[], frontier) to the result, with the lag of each
 * group as its owner receives it: lag_changes adds to its unacknowledged
 * entries the log rows past the frontier that pass its filters and the
 * owner's privileges; lag_seconds is the age of the oldest such row after
 * the watermark (CdcLogCountReceived).  So the lag says nothing about
 * tables the owner may not read.  The statement's result is kept while
 * they are counted (each count runs statements of its own).
 */
static void
group_info_rows(GroupOut *out)
{
	SPITupleTable *tt = SPI_tuptable;
	uint64		n = SPI_processed;

	for (uint64 r = 0; r < n; r++)
	{
		Datum		v[22];
		bool		nl[22];
		CdcFilter  *f;
		bool		messages;
		CdcReadFilter *rf;
		XLogRecPtr	oldest = CdcLogOldestLsn();
		int64		n;
		TimestampTz first;
		char		buf[64];

		heap_deform_tuple(tt->vals[r], tt->tupdesc, v, nl);
		f = CdcStoredFilter(tt->vals[r], tt->tupdesc, 3, 4, 19, &messages);

		rf = CdcReadFilterCreate(DatumGetObjectId(v[17]), list_make1(f), messages, false);
		CdcReadFilterSetAudience(rf, -DatumGetInt32(v[21]));

		/* log rows past the frontier it receives */
		count_received(rf, oldest, DatumGetLSN(v[19]), DatumGetInt32(v[20]), &n, &first);
		v[11] = Int64GetDatum(DatumGetInt64(v[11]) + n);

		/* the first change after the watermark it receives */
		count_received(rf, oldest, DatumGetLSN(v[6]), DatumGetInt32(v[7]), &n, &first);
		nl[12] = n == 0;
		if (n > 0)
		{
			snprintf(buf, sizeof(buf), "%.3f",
					 (double) (GetCurrentTimestamp() - first) / USECS_PER_SEC);
			v[12] = DirectFunctionCall3(numeric_in, CStringGetDatum(buf),
										ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
		}
		tuplestore_putvalues(out->store, out->desc, v, nl);
	}
}

/* cdc.group_info(): the rows of cdc.groups the caller may see */
Datum
cdc_group_info(PG_FUNCTION_ARGS)
{
	CdcOwnerScope scope;
	GroupOut			out;

	CdcGroupOutBegin(fcinfo, &out);
	CdcGroupOwnerBegin(&scope);
	{
		Oid			types[] = {OIDOID, TIMESTAMPTZOID};
		Datum		values[] = {ObjectIdGetDatum(scope.saved_user),
		TimestampTzGetDatum(GetCurrentTimestamp())};

		RUN("SELECT g.name, g.owner::regrole, g.entities, g.exclude_entities, g.operations, "
			"  g.max_deliveries, g.ack_lsn, g.ack_seq, "
			"  (SELECT count(*) FROM cdc.group_member m WHERE m.grp = g.id)::integer, "
			"  p.n, $2 - p.oldest, "
			"  (SELECT count(*) FROM cdc.group_entry e WHERE e.grp = g.id AND NOT e.acked), "
			"  NULL::numeric, "
			"  (SELECT count(*) FROM cdc.group_dead_letter d WHERE d.grp = g.id AND NOT d.replaying), "
			"  g.gap_from IS NOT NULL OR (g.ack_lsn < s.oldest_lsn AND "
			"   ((g.scan_lsn, g.scan_seq) < (s.oldest_lsn, 0) OR EXISTS (SELECT 1 FROM cdc.group_entry e "
			"     WHERE e.grp = g.id AND NOT e.acked AND NOT e.replay AND e.commit_lsn < s.oldest_lsn))), "
			"  g.gap_reason, g.created_at, "
			"  g.owner, g.operations::text[], g.scan_lsn, g.scan_seq, g.id "
			"FROM cdc.group_state g CROSS JOIN cdc.log_state s "
			"CROSS JOIN LATERAL (SELECT count(*) AS n, min(e.delivered_at) AS oldest "
			"  FROM cdc.group_entry e WHERE e.grp = g.id AND NOT e.acked AND e.member IS NOT NULL) p "
			"WHERE pg_has_role($1, g.owner, 'USAGE') ORDER BY g.name",
			types, values, NULL, SPI_OK_SELECT, 0);
	}
	group_info_rows(&out);
	CdcOwnerEnd(&scope);
	return (Datum) 0;
}
