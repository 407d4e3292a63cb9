/*
 * group_ack.c
 *		cdc.ack and cdc.nack (one position or arrays): all or nothing, in the
 *		caller's transaction, taking only the entries' row locks; and the
 *		error that says why a position could not be acknowledged.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/pg_lsn.h"

#include "group_internal.h"

PG_FUNCTION_INFO_V1(cdc_ack);
PG_FUNCTION_INFO_V1(cdc_ack_array);
PG_FUNCTION_INFO_V1(cdc_nack);
PG_FUNCTION_INFO_V1(cdc_nack_array);

typedef struct PosArg
{
	int			n;
	Datum	   *lsn;
	Datum	   *seq;
} PosArg;

static int
posarg_cmp(const void *a, const void *b, void *arg)
{
	PosArg	   *p = arg;
	int			x = *(const int *) a,
				y = *(const int *) b;

	return CdcGroupPosCmp(DatumGetLSN(p->lsn[x]), DatumGetInt32(p->seq[x]),
				   DatumGetLSN(p->lsn[y]), DatumGetInt32(p->seq[y]));
}

static PosArg
positions_arg(ArrayType *la, ArrayType *sa)
{
	PosArg		p;
	bool	   *ln,
			   *sn;
	int			ns;
	int		   *order;

	CdcRequireOneDim(la, "commit_lsns");
	CdcRequireOneDim(sa, "seqs");
	deconstruct_array(la, PG_LSNOID, sizeof(XLogRecPtr), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &p.lsn, &ln, &p.n);
	deconstruct_array(sa, INT4OID, 4, true, TYPALIGN_INT, &p.seq, &sn, &ns);
	if (ns != p.n)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("commit_lsns has %d elements but seqs has %d", p.n, ns),
				 errhint("Pass one seq per commit_lsn: the positions of the changes.")));
	if (p.n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no positions given"),
				 errhint("Give the commit_lsns and seqs of changes that cdc.read_group() returned.")));
	for (int i = 0; i < p.n; i++)
		if (ln[i] || sn[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("positions must not contain nulls"),
					 errhint("Give the commit_lsns and seqs of changes that cdc.read_group() returned.")));
	order = palloc(p.n * sizeof(int));
	for (int i = 0; i < p.n; i++)
		order[i] = i;
	qsort_arg(order, p.n, sizeof(int), posarg_cmp, &p);
	for (int i = 1; i < p.n; i++)
		if (posarg_cmp(&order[i - 1], &order[i], &p) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("position (%X/%X, %d) is listed twice",
							LSN_FORMAT_ARGS(DatumGetLSN(p.lsn[order[i]])),
							DatumGetInt32(p.seq[order[i]]))));
	return p;
}

/*
 * Why (lsn, seq) could not be acknowledged or nacked: raise that error.
 * Called after the statement changed fewer rows than asked; the caller's
 * statement is rolled back with the error, so nothing changed.
 */
static void
explain_position(CdcGroup *g, Oid role, XLogRecPtr lsn, int32 seq, bool nack)
{
	Oid			types[] = {INT4OID, PG_LSNOID, INT4OID};
	Datum		values[] = {Int32GetDatum(g->id), LSNGetDatum(lsn), Int32GetDatum(seq)};
	const char *verb = nack ? "nack" : "acknowledge";

	RUN("SELECT acked, delivery_count, member FROM cdc.group_entry "
		"WHERE grp = $1 AND commit_lsn = $2 AND seq = $3",
		types, values, NULL, SPI_OK_SELECT, 1);
	if (SPI_processed > 0)
	{
		bool		isnull;
		bool		acked = DatumGetBool(CdcGroupCol(0, 1, &isnull));
		int32		dc = DatumGetInt32(CdcGroupCol(0, 2, &isnull));

		if (acked)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot %s change (%X/%X, %d) of consumer group \"%s\": it is already acknowledged",
							verb, LSN_FORMAT_ARGS(lsn), seq, g->name),
					 errdetail("Another delivery of it was acknowledged first, or it was moved to the dead letters."),
					 errhint("Roll back the work done for this delivery: it was done once already.")));
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot %s change (%X/%X, %d) of consumer group \"%s\": it is not leased",
						verb, LSN_FORMAT_ARGS(lsn), seq, g->name),
				 dc == 0 ? errdetail("It has not been delivered yet.") :
				 errdetail("It was given back for delivery again."),
				 errhint("%s only changes that cdc.read_group() or cdc.claim() returned.",
						 nack ? "Nack" : "Acknowledge")));
	}
	if (CdcGroupPosCmp(lsn, seq, g->watermark_lsn, g->watermark_seq) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot %s change (%X/%X, %d) of consumer group \"%s\": it is already acknowledged",
						verb, LSN_FORMAT_ARGS(lsn), seq, g->name),
				 errdetail("The group's acknowledged watermark is (%X/%X, %d).",
						   LSN_FORMAT_ARGS(g->watermark_lsn), g->watermark_seq),
				 errhint("Roll back the work done for this delivery: it was done once already.")));
	if (CdcGroupPosCmp(lsn, seq, g->frontier_lsn, g->frontier_seq) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot %s change (%X/%X, %d) of consumer group \"%s\": it is not leased",
						verb, LSN_FORMAT_ARGS(lsn), seq, g->name),
				 errdetail("The group has not delivered anything after (%X/%X, %d).",
						   LSN_FORMAT_ARGS(g->frontier_lsn), g->frontier_seq),
				 errhint("%s only changes that cdc.read_group() or cdc.claim() returned.",
						 nack ? "Nack" : "Acknowledge")));

	/*
	 * Between the watermark and the frontier without an entry: acknowledged
	 * (the entry was deleted), moved to the dead letters (likewise), or not
	 * a change of the group at all (its filters, the caller's privileges,
	 * or no such log row).
	 */
	{
		bool		done;

		RUN("SELECT 1 FROM cdc.group_dead_letter WHERE grp = $1 AND commit_lsn = $2 AND seq = $3",
			types, values, NULL, SPI_OK_SELECT, 1);
		done = SPI_processed > 0;
		if (!done)
		{
			Oid			t[] = {PG_LSNOID, INT4OID, INT4OID};
			Datum		v[] = {LSNGetDatum(lsn), Int32GetDatum(seq), Int32GetDatum(CdcGroupFirstChunk(lsn))};

			RUN("SELECT " CDC_LOG_COLUMNS " "
				"FROM cdc.log WHERE commit_lsn = $1 AND seq = $2 AND chunk >= $3",
				t, v, NULL, SPI_OK_SELECT, 1);
			if (SPI_processed > 0)
			{
				Datum		lv[CDC_LOG_NCOLUMNS];
				bool		ln[CDC_LOG_NCOLUMNS];
				Datum		ev[CDC_ENTRY_NCOLUMNS];
				bool		en[CDC_ENTRY_NCOLUMNS];

				heap_deform_tuple(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, lv, ln);
				done = CdcReadFilterApply(CdcGroupReadFilter(g, role, false), lv, ln, ev, en);
			}
		}
		if (done)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot %s change (%X/%X, %d) of consumer group \"%s\": it is already acknowledged",
							verb, LSN_FORMAT_ARGS(lsn), seq, g->name),
					 errdetail("Another delivery of it was acknowledged first, or it was moved to the dead letters."),
					 errhint("Roll back the work done for this delivery: it was done once already.")));
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("(%X/%X, %d) is not a change of consumer group \"%s\"",
					LSN_FORMAT_ARGS(lsn), seq, g->name),
			 errhint("The position of a change is the commit_lsn and seq that cdc.read_group() returned with it.")));
}

/*
 * Acknowledge (or nack) positions: all or nothing.  An acknowledgement
 * takes only the entries' row locks, so it waits only for another ack, nack
 * or lease of those same entries.
 */
static int
ack_positions(const char *name, PosArg *p, bool nack)
{
	CdcOwnerScope scope;
	CdcGroup		g;
	int			done;
	Datum		values[5];

	CdcGroupOwnerBegin(&scope);
	CdcGroupRequire(&scope, name, false, &g);
	CdcGroupPositionArgs(g.id, p->lsn, p->seq, p->n, values);
	if (!nack)
	{
		/*
		 * An acknowledged entry is deleted (one row version, no index
		 * insertion, no space needed on its page; the watermark then has
		 * nothing to clean up).  A replayed dead letter is done with once
		 * acknowledged: its dead-letter row goes too.
		 */
		RUN_HASHED("WITH a AS (DELETE FROM cdc.group_entry e "
			"  USING unnest($2::pg_lsn[], $3::integer[]) AS u(c, s) "
			"  WHERE e.grp = $1 AND e.commit_lsn = u.c AND e.seq = u.s "
			"  AND NOT e.acked AND e.delivery_count > 0 "
			"  AND e.commit_lsn BETWEEN $4 AND $5 "
			"  RETURNING e.commit_lsn, e.seq, e.replay), "
			"d AS (DELETE FROM cdc.group_dead_letter dl USING a "
			"  WHERE a.replay AND dl.grp = $1 AND dl.commit_lsn = a.commit_lsn AND dl.seq = a.seq) "
			"SELECT commit_lsn, seq FROM a",
			CdcGroupPositionTypes, values, NULL, SPI_OK_SELECT, 0);
	}
	else
	{
		/*
		 * The entry goes back to ready, and so do the later changes of the
		 * same row its member holds: they would otherwise be ahead of it.
		 */
		RUN_CUSTOM("WITH t AS (SELECT e.commit_lsn, e.seq, e.khash, e.member FROM cdc.group_entry e "
			"  JOIN unnest($2::pg_lsn[], $3::integer[]) AS u(c, s) "
			"  ON e.commit_lsn = u.c AND e.seq = u.s "
			"  WHERE e.grp = $1 AND NOT e.acked AND e.member IS NOT NULL "
			"  AND e.commit_lsn BETWEEN $4 AND $5 FOR UPDATE OF e), "
			"f AS (SELECT DISTINCT e.commit_lsn, e.seq FROM cdc.group_entry e JOIN t "
			"  ON e.khash = t.khash AND e.member = t.member "
			"  AND (e.commit_lsn, e.seq) >= (t.commit_lsn, t.seq) "
			"  WHERE e.grp = $1 AND NOT e.acked), "
			"n AS (UPDATE cdc.group_entry e SET member = NULL, lease_until = NULL FROM f "
			"  WHERE e.grp = $1 AND e.commit_lsn = f.commit_lsn AND e.seq = f.seq) "
			"SELECT commit_lsn, seq FROM t",
			CdcGroupPositionTypes, values, NULL, SPI_OK_SELECT, 0);
	}
	done = (int) SPI_processed;
	if (done < p->n)
	{
		/* find the first position that was not done, say why */
		SPITupleTable *tt = SPI_tuptable;

		for (int i = 0; i < p->n; i++)
		{
			bool		found = false;

			for (uint64 r = 0; r < tt->numvals && !found; r++)
			{
				bool		isnull;

				found = DatumGetLSN(SPI_getbinval(tt->vals[r], tt->tupdesc, 1, &isnull)) == DatumGetLSN(p->lsn[i]) &&
					DatumGetInt32(SPI_getbinval(tt->vals[r], tt->tupdesc, 2, &isnull)) == DatumGetInt32(p->seq[i]);
			}
			if (!found)
				explain_position(&g, scope.saved_user, DatumGetLSN(p->lsn[i]), DatumGetInt32(p->seq[i]), nack);
		}
		elog(ERROR, "cdc_ext: acknowledged %d of %d positions", done, p->n);
	}
	CdcOwnerEnd(&scope);
	return done;
}

static PosArg
one_position(FunctionCallInfo fcinfo)
{
	PosArg		p;

	CdcRequireArg(fcinfo, 1, "commit_lsn",
				  "Give the commit_lsn and seq of a change that cdc.read_group() returned.");
	CdcRequireArg(fcinfo, 2, "seq",
				  "Give the commit_lsn and seq of a change that cdc.read_group() returned.");
	p.n = 1;
	p.lsn = palloc(sizeof(Datum));
	p.seq = palloc(sizeof(Datum));
	p.lsn[0] = PG_GETARG_DATUM(1);
	p.seq[0] = PG_GETARG_DATUM(2);
	return p;
}

/*
 * cdc.ack / cdc.nack (group, commit_lsn, seq) and their array forms
 * (group, commit_lsns, seqs): how many positions were done.
 */
static int
ack_call(FunctionCallInfo fcinfo, bool array, bool nack)
{
	char	   *name = CdcGroupTextArg(fcinfo, 0, "group");
	PosArg		p;

	if (array)
	{
		CdcRequireArg(fcinfo, 1, "commit_lsns", "Give the commit_lsns and seqs of changes that cdc.read_group() returned.");
		CdcRequireArg(fcinfo, 2, "seqs", "Give the commit_lsns and seqs of changes that cdc.read_group() returned.");
		p = positions_arg(PG_GETARG_ARRAYTYPE_P(1), PG_GETARG_ARRAYTYPE_P(2));
	}
	else
		p = one_position(fcinfo);
	return ack_positions(name, &p, nack);
}

Datum
cdc_ack(PG_FUNCTION_ARGS)
{
	(void) ack_call(fcinfo, false, false);
	PG_RETURN_VOID();
}

Datum
cdc_ack_array(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(ack_call(fcinfo, true, false));
}

Datum
cdc_nack(PG_FUNCTION_ARGS)
{
	(void) ack_call(fcinfo, false, true);
	PG_RETURN_VOID();
}

Datum
cdc_nack_array(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(ack_call(fcinfo, true, true));
}
