/*
 * group_admin.c
 *		A group's lifecycle: cdc.create_group, cdc.drop_group,
 *		cdc.reset_group (the way out of a gap), cdc.replay_dead_letters, and
 *		the groups' part of the log's horizon hook (CdcGroupsHorizon).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/pg_lsn.h"

#include "group_internal.h"

PG_FUNCTION_INFO_V1(cdc_create_group);
PG_FUNCTION_INFO_V1(cdc_drop_group);
PG_FUNCTION_INFO_V1(cdc_reset_group);
PG_FUNCTION_INFO_V1(cdc_replay_dead_letters);

/*
 * cdc.replay_dead_letters(group, commit_lsn, seq): the dead letters (all, or
 * one) become entries of the group again, ready, with a fresh count; their
 * content comes from the dead-letter row, which an acknowledgement deletes.
 */
Datum
cdc_replay_dead_letters(PG_FUNCTION_ARGS)
{
	char	   *name = CdcGroupTextArg(fcinfo, 0, "group");
	bool		one = !PG_ARGISNULL(1);
	XLogRecPtr	lsn = one ? PG_GETARG_LSN(1) : InvalidXLogRecPtr;
	int32		seq = PG_ARGISNULL(2) ? 0 : PG_GETARG_INT32(2);
	CdcOwnerScope scope;
	CdcGroup		g;
	int			n;
	Datum	   *c,
			   *s,
			   *k,
			   *kh,
			   *eh,
			   *b;

	if (one && PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("seq must be given with commit_lsn")));
	CdcGroupOwnerBegin(&scope);
	CdcGroupRequire(&scope, name, false, &g);
	{
		Oid			types[] = {INT4OID, PG_LSNOID, INT4OID};
		Datum		values[] = {Int32GetDatum(g.id), LSNGetDatum(lsn), Int32GetDatum(seq)};
		char		nulls[] = {' ', one ? ' ' : 'n', one ? ' ' : 'n'};

		RUN("SELECT " CDC_LOG_COLUMNS " "
			"FROM cdc.group_dead_letter WHERE grp = $1 AND NOT replaying "
			"AND ($2::pg_lsn IS NULL OR (commit_lsn = $2 AND seq = $3)) "
			"ORDER BY commit_lsn, seq FOR UPDATE",
			types, values, nulls, SPI_OK_SELECT, 0);
	}
	n = (int) SPI_processed;
	if (one && n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("consumer group \"%s\" has no dead letter at (%X/%X, %d)",
						g.name, LSN_FORMAT_ARGS(lsn), seq),
				 errhint("SELECT commit_lsn, seq FROM cdc.dead_letters('%s') lists them.", g.name)));
	if (n > 0)
	{
		Oid			truncate_op = CdcGroupTruncateOid();

		c = palloc(n * sizeof(Datum));
		s = palloc(n * sizeof(Datum));
		k = palloc(n * sizeof(Datum));
		kh = palloc(n * sizeof(Datum));
		eh = palloc(n * sizeof(Datum));
		b = palloc(n * sizeof(Datum));
		for (int r = 0; r < n; r++)
		{
			Datum		lv[CDC_LOG_NCOLUMNS];
			bool		ln[CDC_LOG_NCOLUMNS];
			uint32		h1,
						h2;

			heap_deform_tuple(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, lv, ln);
			CdcGroupRowKeys(lv, ln, &h1, &h2);
			c[r] = lv[CDC_LOG_COMMIT_LSN];
			s[r] = lv[CDC_LOG_SEQ];
			k[r] = lv[CDC_LOG_CHUNK];
			kh[r] = Int32GetDatum((int32) h1);
			eh[r] = Int32GetDatum((int32) h2);
			b[r] = BoolGetDatum(CdcGroupIsTruncate(lv[CDC_LOG_OPERATION], truncate_op));
		}
		{
			Oid			types[] = {INT4OID, PG_LSNARRAYOID, INT4ARRAYOID, INT4ARRAYOID,
			INT4ARRAYOID, INT4ARRAYOID, BOOLARRAYOID};
			Datum		values[] = {Int32GetDatum(g.id), CdcGroupLsnArray(c, n), CdcGroupInt4Array(s, n),
				CdcGroupInt4Array(k, n), CdcGroupInt4Array(kh, n), CdcGroupInt4Array(eh, n),
			CdcGroupBoolArray(b, n)};

			RUN("WITH i AS (INSERT INTO cdc.group_entry AS e (grp, commit_lsn, seq, chunk, khash, "
				"  ehash, barrier, replay) "
				"  SELECT $1, u.c, u.s, u.k, u.kh, u.eh, u.b, true "
				"  FROM unnest($2::pg_lsn[], $3::integer[], $4::integer[], $5::integer[], "
				"    $6::integer[], $7::boolean[]) AS u(c, s, k, kh, eh, b) "
				"  ON CONFLICT (grp, commit_lsn, seq) DO UPDATE SET acked = false, replay = true, "
				"    member = NULL, lease_until = NULL, delivered_at = NULL, delivery_count = 0, "
				"    last_member = NULL "
				"  RETURNING e.commit_lsn, e.seq) "
				"UPDATE cdc.group_dead_letter d SET replaying = true FROM i "
				"WHERE d.grp = $1 AND d.commit_lsn = i.commit_lsn AND d.seq = i.seq",
				types, values, NULL, SPI_OK_UPDATE, 0);
		}
	}
	CdcOwnerEnd(&scope);
	PG_RETURN_INT32(n);
}

/* cdc.create_group(name, entities, exclude_entities, operations, start, max_deliveries) */
Datum
cdc_create_group(PG_FUNCTION_ARGS)
{
	char	   *name = CdcGroupTextArg(fcinfo, 0, "name");
	char	   *start = CdcStartArg(fcinfo, 4);
	bool		snapshot = strcmp(start, "snapshot") == 0;
	int32		maxd = CdcGroupPositiveIntArg(fcinfo, 5, "max_deliveries");
	bool		messages = false;
	CdcOwnerScope scope;
	XLogRecPtr	lsn;
	int32		seq;
	CdcFilter  *filter = palloc0(sizeof(CdcFilter));
	List	   *ops;

	CdcCheckName("consumer group", name);
	filter->entities = CdcTextArrayToList(PG_ARGISNULL(1) ? NULL : PG_GETARG_ARRAYTYPE_P(1),
										  "entities");
	filter->exclude_entities = CdcTextArrayToList(PG_ARGISNULL(2) ? NULL : PG_GETARG_ARRAYTYPE_P(2),
												  "exclude_entities");
	ops = CdcOperationArrayArg(PG_ARGISNULL(3) ? NULL : PG_GETARG_ARRAYTYPE_P(3), "operations");
	filter->operations = CdcOperationLabelsToMask(ops, &messages);
	CdcGroupOwnerBegin(&scope);
	/* every change at or before (lsn, 0) is treated as done */
	lsn = CdcStartPosition(snapshot ? "now" : start, scope.saved_user, list_make1(filter), messages);
	seq = 0;
	{
		Oid			types[] = {TEXTOID, OIDOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
		INT4OID, PG_LSNOID, INT4OID};
		Datum		values[8];
		char		nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};

		values[0] = CStringGetTextDatum(name);
		values[1] = ObjectIdGetDatum(scope.saved_user);
		values[2] = PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1);
		nulls[2] = PG_ARGISNULL(1) ? 'n' : ' ';
		values[3] = PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2);
		nulls[3] = PG_ARGISNULL(2) ? 'n' : ' ';
		if (ops == NIL)
		{
			values[4] = (Datum) 0;
			nulls[4] = 'n';
		}
		else
		{
			/* operations come as cdc.operation[]: stored through their labels */
			Datum	   *elems = palloc(list_length(ops) * sizeof(Datum));
			int			n = 0;
			ListCell   *lc;

			foreach(lc, ops)
				elems[n++] = CStringGetTextDatum(lfirst(lc));
			values[4] = PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
		}
		values[5] = Int32GetDatum(maxd);
		values[6] = LSNGetDatum(lsn);
		values[7] = Int32GetDatum(seq);
		RUN("INSERT INTO cdc.group_state (name, owner, entities, exclude_entities, operations, "
			"  max_deliveries, ack_lsn, ack_seq, scan_lsn, scan_seq) "
			"VALUES ($1, $2, $3, $4, $5::cdc.operation[], $6, $7, $8, $7, $8) "
			"ON CONFLICT (name) DO NOTHING",
			types, values, nulls, SPI_OK_INSERT, 0);
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("consumer group \"%s\" already exists", name),
					 errhint("Choose another name, or drop it first with cdc.drop_group('%s').", name)));
	}
	if (snapshot)
		CdcBackfillOnCreate(true, name);
	CdcOwnerEnd(&scope);
	PG_RETURN_LSN(lsn);
}

/* cdc.drop_group(name) */
Datum
cdc_drop_group(PG_FUNCTION_ARGS)
{
	char	   *name = CdcGroupTextArg(fcinfo, 0, "name");
	CdcOwnerScope scope;
	CdcGroup		g;
	Oid			types[] = {INT4OID};
	Datum		values[1];

	CdcGroupOwnerBegin(&scope);
	CdcGroupRequire(&scope, name, true, &g);
	values[0] = Int32GetDatum(g.id);
	RUN("WITH a AS (DELETE FROM cdc.group_entry WHERE grp = $1), "
		"b AS (DELETE FROM cdc.group_member WHERE grp = $1), "
		"c AS (DELETE FROM cdc.group_dead_letter WHERE grp = $1) "
		"DELETE FROM cdc.group_state WHERE id = $1",
		types, values, NULL, SPI_OK_DELETE, 0);
	CdcOwnerEnd(&scope);
	PG_RETURN_BOOL(true);
}

/* cdc.reset_group(group, start): the way out of a gap */
Datum
cdc_reset_group(PG_FUNCTION_ARGS)
{
	char	   *name = CdcGroupTextArg(fcinfo, 0, "group");
	char	   *start = CdcStartArg(fcinfo, 1);
	CdcOwnerScope scope;
	CdcGroup		g;
	XLogRecPtr	lsn;
	int32		seq;

	CdcGroupOwnerBegin(&scope);
	CdcGroupRequire(&scope, name, true, &g);
	(void) CdcGroupLock(&g, 0, CDC_LOCK_GROUP_FRONTIER, true);
	lsn = CdcStartPosition(start, g.owner, list_make1(g.filter), g.messages);
	seq = 0;
	{
		Oid			types[] = {INT4OID, PG_LSNOID, INT4OID};
		Datum		values[] = {Int32GetDatum(g.id), LSNGetDatum(lsn), Int32GetDatum(seq)};

		RUN("WITH a AS (DELETE FROM cdc.group_entry WHERE grp = $1), "
			"b AS (UPDATE cdc.group_dead_letter SET replaying = false WHERE grp = $1) "
			"UPDATE cdc.group_state SET ack_lsn = $2, ack_seq = $3, scan_lsn = $2, scan_seq = $3, "
			"  gap_from = NULL, gap_to = NULL, gap_reason = NULL WHERE id = $1",
			types, values, NULL, SPI_OK_UPDATE, 0);
	}
	CdcOwnerEnd(&scope);
	PG_RETURN_LSN(lsn);
}

/*
 * For the log's horizon hook (see CdcLogSetHorizonHook): before the horizon
 * moves to new_oldest, a group whose watermark is behind it either loses a
 * change it had not finished (an unacknowledged entry before it, or a log
 * row after its frontier that its filters take, as its owner may see it):
 * then its gap is recorded; or not: then its watermark and frontier follow
 * the horizon.  Runs inside the caller's SPI session, as the extension's
 * owner; returns how many groups got a gap.
 */
int
CdcGroupsHorizon(XLogRecPtr old_oldest, XLogRecPtr new_oldest, const char *reason,
				 CdcHorizonRange *range)
{
	Oid			types[] = {PG_LSNOID};
	Datum		values[] = {LSNGetDatum(new_oldest)};
	SPITupleTable *groups;
	int			gaps = 0;

	RUN("SELECT name FROM cdc.group_state WHERE ack_lsn < $1 AND gap_from IS NULL "
		"ORDER BY name FOR UPDATE",
		types, values, NULL, SPI_OK_SELECT, 0);
	groups = SPI_tuptable;
	SPI_tuptable = NULL;
	for (uint64 i = 0; i < groups->numvals; i++)
	{
		bool		isnull;
		char	   *name = TextDatumGetCString(SPI_getbinval(groups->vals[i], groups->tupdesc, 1, &isnull));
		CdcGroup		g;
		bool		loses = false;

		{
			Oid			t[] = {TEXTOID};
			Datum		v[] = {CStringGetTextDatum(name)};

			RUN("SELECT " GROUP_COLUMNS "FROM cdc.group_state WHERE name = $1",
				t, v, NULL, SPI_OK_SELECT, 1);
		}
		CdcGroupFromRow(&g);
		{
			Oid			t[] = {INT4OID, PG_LSNOID};
			Datum		v[] = {Int32GetDatum(g.id), LSNGetDatum(new_oldest)};

			RUN("SELECT 1 FROM cdc.group_entry WHERE grp = $1 AND NOT acked AND NOT replay "
				"AND commit_lsn < $2 LIMIT 1", t, v, NULL, SPI_OK_SELECT, 1);
			loses = SPI_processed > 0;
		}
		if (!loses && g.frontier_lsn < new_oldest)
			loses = CdcHorizonRangeReceives(range, g.frontier_lsn, g.frontier_seq,
											CdcGroupReadFilter(&g, g.owner, false));
		if (loses)
		{
			Oid			t[] = {INT4OID, PG_LSNOID, TEXTOID};
			Datum		v[] = {Int32GetDatum(g.id), LSNGetDatum(new_oldest),
			CStringGetTextDatum(reason ? reason : "the change log was trimmed")};

			RUN("UPDATE cdc.group_state SET gap_from = ack_lsn, gap_to = $2, gap_reason = $3 "
				"WHERE id = $1", t, v, NULL, SPI_OK_UPDATE, 0);
			gaps++;
		}
		else
		{
			Oid			t[] = {INT4OID, PG_LSNOID};
			Datum		v[] = {Int32GetDatum(g.id), LSNGetDatum(new_oldest)};

			RUN("WITH d AS (DELETE FROM cdc.group_entry WHERE grp = $1 AND acked "
				"  AND commit_lsn < $2) "
				"UPDATE cdc.group_state SET ack_lsn = $2, ack_seq = 0, "
				"  scan_lsn = CASE WHEN scan_lsn < $2 THEN $2 ELSE scan_lsn END, "
				"  scan_seq = CASE WHEN scan_lsn < $2 THEN 0 ELSE scan_seq END "
				"WHERE id = $1", t, v, NULL, SPI_OK_UPDATE, 0);
		}
	}
	SPI_freetuptable(groups);
	return gaps;
}
