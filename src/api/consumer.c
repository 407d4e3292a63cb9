/*
 * consumer.c
 *		Named consumers: cdc.create_consumer, cdc.drop_consumer,
 *		cdc.checkpoint, and the helpers the other SQL functions share (state
 *		table access as the extension's owner, slot inspection and advance).
 *
 * A consumer is a row of cdc.consumer_state plus a logical slot of plugin
 * cdc_ext.  The row's checkpoint (commit_lsn, seq) is the truth: it is
 * written transactionally, so a consumer that stores its results and calls
 * cdc.checkpoint in one transaction processes every change exactly once.
 * The slot is not transactional; it only follows the committed checkpoint
 * (cdc.stream moves it there before reading) and never passes it, so WAL a
 * consumer still needs is never released behind its back.  Should the slot
 * get ahead anyway (cdc.trim, max_slot_wal_keep_size, someone advancing it
 * by hand), the difference is a gap, reported and never silently skipped.
 *
 * Security: these functions are not SECURITY DEFINER.  They run as their
 * caller, check that the caller owns the consumer (or is a member of the
 * owning role, or superuser), and switch to the extension's owner only for
 * the SPI statements on the state table and the slot functions, with
 * search_path pinned to pg_catalog, pg_temp.
 */
#include "cdc_api.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "access/xlogrecovery.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/pg_lsn.h"
#include "utils/regproc.h"

#include "cdc_glob.h"

PG_FUNCTION_INFO_V1(cdc_create_consumer);
PG_FUNCTION_INFO_V1(cdc_drop_consumer);
PG_FUNCTION_INFO_V1(cdc_checkpoint);

/* Owner of the cdc_ext extension: the role the state table belongs to. */
static Oid
extension_owner(void)
{
	bool		isnull;
	Datum		d;
	int			rc;

	rc = SPI_execute("SELECT extowner FROM pg_catalog.pg_extension "
					 "WHERE extname OPERATOR(pg_catalog.=) 'cdc_ext'", true, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"cdc_ext\" is not installed in this database"),
				 errhint("Run CREATE EXTENSION cdc_ext first.")));
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return DatumGetObjectId(d);
}

/*
 * Open an SPI session running as the extension's owner with a pinned
 * search_path.  priv->invoker is the role that called the SQL function.
 */
void
CdcPrivBegin(CdcPriv *priv)
{
	Oid			owner;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "cdc_ext: SPI_connect failed");
	GetUserIdAndSecContext(&priv->saved_user, &priv->saved_sec);
	priv->invoker = priv->saved_user;
	priv->guc_level = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	owner = extension_owner();
	SetUserIdAndSecContext(owner, priv->saved_sec | SECURITY_LOCAL_USERID_CHANGE);
}

void
CdcPrivEnd(CdcPriv *priv)
{
	SetUserIdAndSecContext(priv->saved_user, priv->saved_sec);
	AtEOXact_GUC(true, priv->guc_level);
	SPI_finish();
}

/* text[] argument to a list of C strings; NULL elements are an error. */
List *
CdcTextArrayToList(ArrayType *arr, const char *argname)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	List	   *result = NIL;

	if (arr == NULL)
		return NIL;
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		char	   *s;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument \"%s\" must not contain nulls", argname)));
		s = TextDatumGetCString(elems[i]);
		CdcCheckPattern(argname, s);
		result = lappend(result, s);
	}
	return result;
}

/* cdc.operation[] argument to a CDC_OP_* mask (all when NULL or empty). */
uint8
CdcOperationArrayToMask(ArrayType *arr, const char *argname, bool *messages)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	uint8		mask = 0;

	*messages = false;
	if (arr == NULL)
		return CDC_OP_ALL;
	deconstruct_array(arr, ARR_ELEMTYPE(arr), sizeof(Oid), true, TYPALIGN_INT,
					  &elems, &nulls, &n);
	if (n == 0)
		return CDC_OP_ALL;
	for (int i = 0; i < n; i++)
	{
		char	   *label;
		int			op;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument \"%s\" must not contain nulls", argname)));
		label = DatumGetCString(DirectFunctionCall1(enum_out, elems[i]));
		if (strcmp(label, "message") == 0)
		{
			*messages = true;
			continue;
		}
		op = CdcParseOperation(label);
		if (op == 0)
			elog(ERROR, "cdc_ext: unexpected operation \"%s\"", label);
		mask |= op;
	}
	return mask;
}

/* Copy of a text[] column value as a List, in cxt. */
static List *
column_list(HeapTuple tup, TupleDesc desc, int col, MemoryContext cxt)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);
	MemoryContext old;
	List	   *l;

	if (isnull)
		return NIL;
	old = MemoryContextSwitchTo(cxt);
	l = CdcTextArrayToList(DatumGetArrayTypeP(d), "entities");
	MemoryContextSwitchTo(old);
	return l;
}

/*
 * Load consumer name into *c (allocated in cxt), locking its row when
 * for_update.  Must run inside CdcPrivBegin/End.  Returns false if there is
 * no such consumer.
 */
bool
CdcConsumerLoad(const char *name, bool for_update, CdcConsumer *c,
				MemoryContext cxt)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(name)};
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	Datum		d;
	int			rc;

	rc = SPI_execute_with_args(for_update ?
							   "SELECT owner, slot_name, entities, exclude_entities, operations::text[], "
							   "checkpoint_lsn, checkpoint_seq, gap_from, gap_to, gap_reason "
							   "FROM cdc.consumer_state WHERE name OPERATOR(pg_catalog.=) $1 FOR UPDATE" :
							   "SELECT owner, slot_name, entities, exclude_entities, operations::text[], "
							   "checkpoint_lsn, checkpoint_seq, gap_from, gap_to, gap_reason "
							   "FROM cdc.consumer_state WHERE name OPERATOR(pg_catalog.=) $1",
							   1, argtypes, args, NULL, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "cdc_ext: reading consumer state failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
		return false;

	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	memset(c, 0, sizeof(*c));
	c->name = MemoryContextStrdup(cxt, name);
	c->owner = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
	strlcpy(c->slot_name, NameStr(*DatumGetName(SPI_getbinval(tup, desc, 2, &isnull))),
			NAMEDATALEN);
	c->entities = column_list(tup, desc, 3, cxt);
	c->exclude_entities = column_list(tup, desc, 4, cxt);
	c->operations = CDC_OP_ALL;
	d = SPI_getbinval(tup, desc, 5, &isnull);
	if (!isnull)
	{
		List	   *ops = column_list(tup, desc, 5, cxt);
		ListCell   *lc;

		if (ops != NIL)
			c->operations = 0;
		foreach(lc, ops)
		{
			if (strcmp(lfirst(lc), "message") == 0)
				c->messages = true;
			else
				c->operations |= CdcParseOperation(lfirst(lc));
		}
	}
	c->checkpoint_lsn = DatumGetLSN(SPI_getbinval(tup, desc, 6, &isnull));
	c->checkpoint_seq = DatumGetInt32(SPI_getbinval(tup, desc, 7, &isnull));
	d = SPI_getbinval(tup, desc, 8, &isnull);
	c->gap_from = isnull ? InvalidXLogRecPtr : DatumGetLSN(d);
	d = SPI_getbinval(tup, desc, 9, &isnull);
	c->gap_to = isnull ? InvalidXLogRecPtr : DatumGetLSN(d);
	d = SPI_getbinval(tup, desc, 10, &isnull);
	c->gap_reason = isnull ? NULL : MemoryContextStrdup(cxt, TextDatumGetCString(d));
	return true;
}

/*
 * Load a consumer the invoker may use, or raise the error that says why not.
 * Another role's consumer is reported as not existing, so names do not leak.
 */
void
CdcConsumerRequire(const char *name, bool for_update, CdcConsumer *c,
				   Oid invoker, MemoryContext cxt)
{
	if (!CdcConsumerLoad(name, for_update, c, cxt) ||
		!has_privs_of_role(invoker, c->owner))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("consumer \"%s\" does not exist", name),
				 errhint("SELECT name FROM cdc.consumers lists the consumers you can use; cdc.create_consumer() makes one.")));
}

/* State of a replication slot, from pg_replication_slots (inside CdcPriv). */
void
CdcSlotInfoGet(const char *slot_name, CdcSlotInfo *info)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(slot_name)};
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	Datum		d;

	memset(info, 0, sizeof(*info));
	if (SPI_execute_with_args("SELECT restart_lsn, confirmed_flush_lsn, active_pid, "
							  "coalesce(wal_status, '') OPERATOR(pg_catalog.=) 'lost', plugin, datoid "
							  "FROM pg_catalog.pg_replication_slots "
							  "WHERE slot_name OPERATOR(pg_catalog.=) $1::pg_catalog.name",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "cdc_ext: reading pg_replication_slots failed");
	if (SPI_processed == 0)
		return;
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	info->exists = true;
	d = SPI_getbinval(tup, desc, 1, &isnull);
	info->restart_lsn = isnull ? InvalidXLogRecPtr : DatumGetLSN(d);
	d = SPI_getbinval(tup, desc, 2, &isnull);
	info->confirmed_flush = isnull ? InvalidXLogRecPtr : DatumGetLSN(d);
	d = SPI_getbinval(tup, desc, 3, &isnull);
	info->active_pid = isnull ? 0 : DatumGetInt32(d);
	d = SPI_getbinval(tup, desc, 4, &isnull);
	info->lost = !isnull && DatumGetBool(d);
	if (XLogRecPtrIsInvalid(info->restart_lsn))
		info->lost = true;
	d = SPI_getbinval(tup, desc, 5, &isnull);
	if (!isnull)
		strlcpy(info->plugin, NameStr(*DatumGetName(d)), NAMEDATALEN);
	d = SPI_getbinval(tup, desc, 6, &isnull);
	info->database = isnull ? InvalidOid : DatumGetObjectId(d);
}

/*
 * Advance the slot to "to" (capped at the flushed end of WAL), the way
 * pg_replication_slot_advance does; returns where it ended up.  Inside CdcPriv.
 */
XLogRecPtr
CdcSlotAdvance(const char *slot_name, XLogRecPtr to)
{
	Oid			argtypes[2] = {TEXTOID, PG_LSNOID};
	Datum		args[2];
	bool		isnull;
	XLogRecPtr	flush = GetFlushRecPtr(NULL);

	if (to > flush)
		to = flush;
	args[0] = CStringGetTextDatum(slot_name);
	args[1] = LSNGetDatum(to);
	if (SPI_execute_with_args("SELECT end_lsn FROM pg_catalog.pg_replication_slot_advance($1::pg_catalog.name, $2)",
							  2, argtypes, args, NULL, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "cdc_ext: advancing slot \"%s\" failed", slot_name);
	return DatumGetLSN(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* Store a new checkpoint (inside CdcPriv; the caller has checked it). */
void
CdcConsumerSetCheckpoint(const char *name, XLogRecPtr lsn, int32 seq)
{
	Oid			argtypes[3] = {TEXTOID, PG_LSNOID, INT4OID};
	Datum		args[3];

	args[0] = CStringGetTextDatum(name);
	args[1] = LSNGetDatum(lsn);
	args[2] = Int32GetDatum(seq);
	if (SPI_execute_with_args("UPDATE cdc.consumer_state SET checkpoint_lsn = $2, checkpoint_seq = $3, "
							  "checkpoint_at = pg_catalog.now(), "
							  "gap_from = CASE WHEN gap_to OPERATOR(pg_catalog.<=) $2 THEN NULL ELSE gap_from END, "
							  "gap_reason = CASE WHEN gap_to OPERATOR(pg_catalog.<=) $2 THEN NULL ELSE gap_reason END, "
							  "gap_to = CASE WHEN gap_to OPERATOR(pg_catalog.<=) $2 THEN NULL ELSE gap_to END "
							  "WHERE name OPERATOR(pg_catalog.=) $1",
							  3, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "cdc_ext: updating the checkpoint failed");
}

static void
check_consumer_name(const char *name)
{
	size_t		len = strlen(name);

	if (len == 0 || len > 48 || strspn(name, "abcdefghijklmnopqrstuvwxyz"
										"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != len)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("invalid consumer name \"%s\"", name),
				 errhint("A consumer name has 1 to 48 characters among letters, digits, \"_\", \".\" and \"-\".")));
}

/* The slot of a consumer: cdc_<database oid>_<name, sanitized>_<hash>. */
static void
consumer_slot_name(const char *name, char *slot)
{
	char		clean[31];
	int			n = 0;

	for (const char *p = name; *p && n < 30; p++)
	{
		char		ch = *p;

		if (ch >= 'A' && ch <= 'Z')
			ch = ch - 'A' + 'a';
		clean[n++] = ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')) ? ch : '_';
	}
	clean[n] = '\0';
	snprintf(slot, NAMEDATALEN, "cdc_%u_%s_%08x", MyDatabaseId, clean,
			 (unsigned) hash_bytes((const unsigned char *) name, (int) strlen(name)));
}

/* Argument i as an SPI parameter, setting *null_flag as SPI wants it. */
static Datum
arg_for_spi(FunctionCallInfo fcinfo, int i, char *null_flag)
{
	*null_flag = PG_ARGISNULL(i) ? 'n' : ' ';
	return PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
}

Datum
cdc_create_consumer(PG_FUNCTION_ARGS)
{
	char	   *name;
	CdcPriv		priv;
	CdcConsumer existing;
	CdcSlotInfo slot;
	char		slot_name[NAMEDATALEN];
	Oid			argtypes[7] = {TEXTOID, OIDOID, NAMEOID, TEXTARRAYOID, TEXTARRAYOID, InvalidOid, PG_LSNOID};
	Datum		args[7];
	char		nulls[8] = "       ";
	XLogRecPtr	start;
	bool		messages;
	bool		isnull;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("consumer name must not be null")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	check_consumer_name(name);
	(void) CdcTextArrayToList(PG_ARGISNULL(1) ? NULL : PG_GETARG_ARRAYTYPE_P(1), "entities");
	(void) CdcTextArrayToList(PG_ARGISNULL(2) ? NULL : PG_GETARG_ARRAYTYPE_P(2), "exclude_entities");
	(void) CdcOperationArrayToMask(PG_ARGISNULL(3) ? NULL : PG_GETARG_ARRAYTYPE_P(3),
								   "operations", &messages);

	if (wal_level < WAL_LEVEL_LOGICAL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("change data capture needs wal_level = logical, but it is \"%s\"",
						GetConfigOption("wal_level", false, false)),
				 errhint("Set wal_level = logical in postgresql.conf (ALTER SYSTEM SET wal_level = logical) and restart the server.")));
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot create a consumer during recovery"),
				 errhint("Create consumers on the primary.")));
	/* the slot cannot be made after a write; say so before doing anything */
	if (TransactionIdIsValid(GetTopTransactionIdIfAny()))
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("cannot create consumer \"%s\" in a transaction that has already written", name),
				 errhint("Call cdc.create_consumer() in its own transaction, or before any write in this one.")));

	CdcPrivBegin(&priv);
	if (CdcConsumerLoad(name, false, &existing, CurrentMemoryContext))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("consumer \"%s\" already exists", name),
				 errhint("Choose another name, or drop it first with cdc.drop_consumer('%s').", name)));

	/*
	 * A slot of that name without a consumer row is left over from a
	 * create_consumer whose transaction rolled back (slots are not
	 * transactional): it belongs to nobody, so replace it.
	 */
	consumer_slot_name(name, slot_name);
	CdcSlotInfoGet(slot_name, &slot);
	if (slot.exists)
	{
		Oid			t[1] = {TEXTOID};
		Datum		a[1] = {CStringGetTextDatum(slot_name)};

		if (SPI_execute_with_args("SELECT pg_catalog.pg_drop_replication_slot($1::pg_catalog.name)",
								  1, t, a, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "cdc_ext: dropping leftover slot failed");
	}

	{
		Oid			t[1] = {TEXTOID};
		Datum		a[1] = {CStringGetTextDatum(slot_name)};

		if (SPI_execute_with_args("SELECT lsn FROM pg_catalog.pg_create_logical_replication_slot($1::pg_catalog.name, 'cdc_ext')",
								  1, t, a, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "cdc_ext: creating slot \"%s\" failed", slot_name);
		start = DatumGetLSN(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}

	args[0] = CStringGetTextDatum(name);
	args[1] = ObjectIdGetDatum(priv.invoker);
	args[2] = CStringGetDatum(slot_name);
	args[3] = arg_for_spi(fcinfo, 1, &nulls[3]);
	args[4] = arg_for_spi(fcinfo, 2, &nulls[4]);
	args[5] = arg_for_spi(fcinfo, 3, &nulls[5]);
	args[6] = LSNGetDatum(start);
	argtypes[5] = get_fn_expr_argtype(fcinfo->flinfo, 3);
	if (SPI_execute_with_args("INSERT INTO cdc.consumer_state (name, owner, slot_name, entities, "
							  "exclude_entities, operations, checkpoint_lsn) "
							  "VALUES ($1, $2, $3, $4, $5, $6, $7)",
							  7, argtypes, args, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "cdc_ext: recording consumer \"%s\" failed", name);
	CdcPrivEnd(&priv);
	PG_RETURN_LSN(start);
}

Datum
cdc_drop_consumer(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	CdcPriv		priv;
	CdcConsumer c;
	CdcSlotInfo slot;
	Oid			t[1] = {TEXTOID};

	CdcPrivBegin(&priv);
	CdcConsumerRequire(name, true, &c, priv.invoker, CurrentMemoryContext);
	CdcSlotInfoGet(c.slot_name, &slot);
	if (slot.exists)
	{
		if (slot.active_pid != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_IN_USE),
					 errmsg("consumer \"%s\" is being read by the process with PID %d", name, slot.active_pid),
					 errhint("Wait for that read to finish, or end it with pg_terminate_backend(%d).", slot.active_pid)));
		if (SPI_execute_with_args("SELECT pg_catalog.pg_drop_replication_slot($1::pg_catalog.name)",
								  1, t, (Datum[]) {CStringGetTextDatum(c.slot_name)},
								  NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "cdc_ext: dropping slot failed");
	}
	if (SPI_execute_with_args("DELETE FROM cdc.consumer_state WHERE name OPERATOR(pg_catalog.=) $1",
							  1, t, (Datum[]) {CStringGetTextDatum(name)},
							  NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "cdc_ext: deleting consumer failed");
	CdcPrivEnd(&priv);
	PG_RETURN_BOOL(true);
}

Datum
cdc_checkpoint(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	XLogRecPtr	lsn = PG_GETARG_LSN(1);
	int32		seq = PG_GETARG_INT32(2);
	XLogRecPtr	flush = GetFlushRecPtr(NULL);
	CdcPriv		priv;
	CdcConsumer c;

	if (XLogRecPtrIsInvalid(lsn) || seq < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid checkpoint position (%X/%X, %d)", LSN_FORMAT_ARGS(lsn), seq),
				 errhint("A checkpoint is the commit_lsn and seq of a change that cdc.stream() returned; seq is 0 or more.")));
	if (lsn > flush)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("checkpoint %X/%X is beyond the end of WAL %X/%X",
						LSN_FORMAT_ARGS(lsn), LSN_FORMAT_ARGS(flush)),
				 errhint("A checkpoint is the commit_lsn and seq of a change that cdc.stream() returned.")));

	CdcPrivBegin(&priv);
	CdcConsumerRequire(name, true, &c, priv.invoker, CurrentMemoryContext);
	if (lsn < c.checkpoint_lsn || (lsn == c.checkpoint_lsn && seq < c.checkpoint_seq))
		ereport(NOTICE,
				(errmsg("checkpoint (%X/%X, %d) is behind consumer \"%s\"'s checkpoint (%X/%X, %d); nothing changed",
						LSN_FORMAT_ARGS(lsn), seq, name,
						LSN_FORMAT_ARGS(c.checkpoint_lsn), c.checkpoint_seq)));
	else if (lsn != c.checkpoint_lsn || seq != c.checkpoint_seq)
		CdcConsumerSetCheckpoint(name, lsn, seq);
	CdcPrivEnd(&priv);
	PG_RETURN_VOID();
}
