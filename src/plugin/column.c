/*
 * column.c
 *		Value categorisation shared by the two writers (entry_json.c for JSON
 *		text, entry_jsonb.c for jsonb): how each type is written, rows and
 *		their unchanged TOAST values, the text of date/time, uuid and bytea
 *		values, and the session settings pinned while output functions run.
 *
 * The categories are to_jsonb()'s (core's json.c / jsonb.c), decided once
 * per column when the relation's cache entry is built: domains are looked
 * through; integers, floats and numeric are JSON numbers; bool is a JSON
 * bool; json and jsonb are embedded; date and timestamps are in JSON's ISO
 * form (timestamptz in UTC); arrays are JSON arrays of their elements and
 * composites JSON objects of their attributes; everything else is the text
 * of its output function.
 *
 * One difference, for security: no code owned by an
 * unprivileged role may run while decoding, because decoding runs with the
 * rights of whoever reads the slot (often a superuser).  to_json() would run
 * a user-created CREATE CAST (t AS json) function, and would reach such a
 * cast through composites and arrays.  So cdc_ext walks composites and
 * arrays itself, and uses a cast to json only when a superuser owns its
 * function (a system or extension cast); otherwise the type's output
 * function writes the value, which for the types an unprivileged role can
 * create (enums, ranges, multiranges, composites, domains) is built-in C.
 */
#include "cdc_plugin.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "utils/resowner.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "common/shortest_dec.h"
#include "datatype/timestamp.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "parser/parse_coerce.h"
#include "utils/builtins.h"
#include "utils/bytea.h"
#include "utils/date.h"
#include "utils/float.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"
#include "utils/uuid.h"

#include "cdc_json.h"

/* The encoding of a type that has a fast path, or -1. */
static int
scalar_encoding(Oid typid)
{
	switch (typid)
	{
		case INT2OID:
			return CDC_ENC_INT2;
		case INT4OID:
			return CDC_ENC_INT4;
		case INT8OID:
			return CDC_ENC_INT8;
		case FLOAT4OID:
			return CDC_ENC_FLOAT4;
		case FLOAT8OID:
			return CDC_ENC_FLOAT8;
		case NUMERICOID:
			return CDC_ENC_NUMERIC;
		case BOOLOID:
			return CDC_ENC_BOOL;
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
			return CDC_ENC_TEXT;
		case NAMEOID:
			return CDC_ENC_NAME;
		case UUIDOID:
			return CDC_ENC_UUID;
		case JSONOID:
			return CDC_ENC_JSON;
		case JSONBOID:
			return CDC_ENC_JSONB;
		case DATEOID:
			return CDC_ENC_DATE;
		case TIMEOID:
			return CDC_ENC_TIME;
		case TIMETZOID:
			return CDC_ENC_TIMETZ;
		case TIMESTAMPOID:
			return CDC_ENC_TIMESTAMP;
		case TIMESTAMPTZOID:
			return CDC_ENC_TIMESTAMPTZ;
		case BYTEAOID:
			return CDC_ENC_BYTEA;
		default:
			return -1;
	}
}

/*
 * The function of a cast from typid to json that may run while decoding:
 * one whose function a superuser owns.  InvalidOid when there is no such
 * cast, or when its function belongs to an ordinary role (then the value is
 * written by its output function, and that role's code never runs).
 */
static Oid
trusted_json_cast(Oid typid)
{
	Oid			castfunc = InvalidOid;
	HeapTuple	tup;
	Form_pg_proc proc;
	Oid			owner;
	bool		usable;

	if (find_coercion_pathway(JSONOID, typid, COERCION_EXPLICIT,
							  &castfunc) != COERCION_PATH_FUNC ||
		!OidIsValid(castfunc))
		return InvalidOid;
	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(castfunc));
	if (!HeapTupleIsValid(tup))
		return InvalidOid;
	proc = (Form_pg_proc) GETSTRUCT(tup);
	owner = proc->proowner;

	/*
	 * A function that cannot run as a plain call on one value is never
	 * used: a polymorphic or pseudo-typed argument needs the call's
	 * expression to resolve its type (CREATE CAST (t AS json) WITH FUNCTION
	 * to_json(anyelement) fails with "could not determine input data type"
	 * on every value, which stalled the log), and a set-returning one or
	 * one returning something else than json has no single json value.
	 */
	usable = proc->pronargs >= 1 && !proc->proretset &&
		proc->prorettype == JSONOID &&
		!IsPolymorphicType(proc->proargtypes.values[0]) &&
		get_typtype(proc->proargtypes.values[0]) != TYPTYPE_PSEUDO;
	ReleaseSysCache(tup);
	return usable && superuser_arg(owner) ? castfunc : InvalidOid;
}

/*
 * A superuser's cast to json applied to one value: its json text, or NULL
 * when the cast function raised an error.  The function is the cast's, not
 * ours: it may fail on some values (it is SQL or PL code as often as C), and
 * a change the writer cannot convert must not stop the log.  So the call
 * runs in a subtransaction whose failure is caught; the caller then writes
 * the value in the fallback form (the type's output text, named in the
 * change's fallback list).  A cancel or shutdown is raised again.  Casts
 * are rare (types not built in, with a superuser's cast to json), so the
 * subtransaction per value costs nothing elsewhere.
 */
/*
 * Run fn(arg) in a subtransaction, in the caller's memory context: NULL
 * when it returned, else the error it raised (copied; the subtransaction
 * rolled back, the error state flushed).  A cancel or shutdown is raised
 * again.  For conversions that run code cdc_ext does not control, or that
 * may pass jsonb's limits, which must never stop the log (their callers
 * then write the fallback form).
 */
ErrorData *
CdcRunCaught(void (*fn) (void *), void *arg)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ErrorData  *volatile edata = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED ||
			edata->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN)
			ReThrowError(edata);
	}
	PG_END_TRY();
	return edata;
}

typedef struct CastCall
{
	const CdcType *type;
	Datum		value;
	text	   *result;
} CastCall;

static void
cast_call(void *arg)
{
	CastCall   *c = arg;

	c->result = DatumGetTextPP(FunctionCall1((FmgrInfo *) &c->type->func, c->value));
}

text *
CdcCastToJson(const CdcType *type, Datum value)
{
	CastCall	call = {type, value, NULL};
	ErrorData  *edata = CdcRunCaught(cast_call, &call);

	if (edata == NULL)
		return call.result;
	ereport(WARNING,
			(errcode(edata->sqlerrcode),
			 errmsg("cdc_ext: the cast of type %s to json failed: %s",
					format_type_be(type->typid), edata->message),
			 errdetail("The value is written as its text, and its column is named in the change's fallback list.")));
	FreeErrorData(edata);
	return NULL;
}

static CdcType *classify_type(Oid typid, MemoryContext cxt);
static CdcType *classify_type_new(Oid typid, MemoryContext cxt);

/*
 * Types classified while one relation's entry is built, by type OID: a type
 * is classified once and shared by every column, attribute and element of
 * that type.  Without it, a composite whose attributes are two of the
 * composite below it, 40 levels deep, took 2^40 classifications (a table
 * owner can make one; the writer ran out of memory on first meeting the
 * table, whatever its values).  Emptied by CdcClassifyReset before and after
 * each entry is built (relcache.c): it points into that entry's memory.
 */
typedef struct ClassifiedType
{
	Oid			typid;
	CdcType    *type;
} ClassifiedType;
static List *classified = NIL;

/* lappend with the list's cells in TopMemoryContext (the memo outlives cxt's switches) */
static List *
lappend_in_top(List *list, void *datum)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	list = lappend(list, datum);
	MemoryContextSwitchTo(old);
	return list;
}

void
CdcClassifyReset(void)
{
	list_free_deep(classified);
	classified = NIL;
}

/*
 * A composite type's attributes as columns, each with its own category,
 * the way to_json() writes a row value (dropped attributes left out).
 */
static void
classify_composite(CdcType *t, Oid typid, MemoryContext cxt)
{
	TupleDesc	desc = lookup_rowtype_tupdesc_copy(typid, -1);

	t->enc = CDC_ENC_COMPOSITE;
	t->typrelid = get_typ_typrelid(typid);
	t->desc = desc;
	t->cols = palloc0(sizeof(CdcColumn) * Max(desc->natts, 1));
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		CdcColumn  *col;

		if (att->attisdropped)
			continue;
		col = &t->cols[t->ncols++];
		CdcInitColumn(col, att, cxt);
		t->needs_pin |= col->type->needs_pin;
		t->has_json |= col->type->has_json;
		t->has_cast |= col->type->has_cast;
	}
	t->jsonb_order = CdcJsonbOrder(t->cols, t->ncols, cxt);
}

/*
 * Categorise typid (see the file header), allocating in cxt, which must be
 * the current memory context.
 */
static CdcType *
classify_type(Oid typid, MemoryContext cxt)
{
	CdcType    *t;
	ListCell   *lc;
	ClassifiedType *known;

	foreach(lc, classified)
	{
		known = lfirst(lc);
		if (known->typid == typid)
			return known->type;
	}
	t = classify_type_new(typid, cxt);
	known = MemoryContextAlloc(TopMemoryContext, sizeof(ClassifiedType));
	known->typid = typid;
	known->type = t;
	classified = lappend_in_top(classified, known);
	return t;
}

static CdcType *
classify_type_new(Oid typid, MemoryContext cxt)
{
	CdcType    *t = palloc0(sizeof(CdcType));
	Oid			base = getBaseType(typid);
	int			enc = scalar_encoding(base);
	Oid			elem;
	Oid			func;
	bool		isvarlena;

	check_stack_depth();
	t->typid = base;
	if (enc >= 0)
	{
		t->enc = (CdcEncoding) enc;
		t->has_json = (enc == CDC_ENC_JSON);
		return t;
	}

	elem = get_element_type(base);
	if (OidIsValid(elem))
	{
		t->enc = CDC_ENC_ARRAY;
		t->elem = classify_type(elem, cxt);
		t->elem_typid = elem;
		get_typlenbyvalalign(elem, &t->elem_len, &t->elem_byval, &t->elem_align);
		t->needs_pin = t->elem->needs_pin;
		t->has_json = t->elem->has_json;
		t->has_cast = t->elem->has_cast;
		return t;
	}

	if (type_is_rowtype(base))
	{
		classify_composite(t, base, cxt);
		return t;
	}

	/* as to_json(): only types that are not built in may cast to json */
	func = base >= FirstNormalObjectId ? trusted_json_cast(base) : InvalidOid;
	if (OidIsValid(func))
	{
		t->enc = CDC_ENC_CAST;
		t->needs_pin = true;
		t->has_json = true;
		t->has_cast = true;
		getTypeOutputInfo(base, &t->outfunc, &isvarlena);
	}
	else
	{
		getTypeOutputInfo(base, &func, &isvarlena);
		t->enc = CDC_ENC_STRING;
		t->needs_pin = true;
	}
	fmgr_info_cxt(func, &t->func, cxt);
	return t;
}

/*
 * Fill col for attribute att: its name, the name as a JSON key ready to
 * append ("name":), and its category.  Allocates in cxt.
 */
void
CdcInitColumn(CdcColumn *col, Form_pg_attribute att, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	size_t		nlen,
				elen;
	bool		utf8 = GetDatabaseEncoding() == PG_UTF8;

	col->attnum = att->attnum;
	col->name = pstrdup(NameStr(att->attname));
	nlen = strlen(col->name);
	elen = cdc_json_escaped_len(col->name, nlen, utf8);
	col->key = palloc(elen + 4);
	col->key[0] = '"';
	cdc_json_escape(col->key + 1, col->name, nlen, utf8);
	col->key[elen + 1] = '"';
	col->key[elen + 2] = ':';
	col->key[elen + 3] = '\0';
	col->keylen = (int) elen + 3;
	col->type = classify_type(att->atttypid, cxt);
	MemoryContextSwitchTo(old);
}

/*
 * jsonb keeps an object's keys sorted by length, then bytes: columns pushed
 * in that order spare pushJsonbValue a real sort per row.
 */
static int
jsonb_key_cmp(const void *a, const void *b, void *arg)
{
	const CdcColumn *cols = arg;
	const char *na = cols[*(const int *) a].name;
	const char *nb = cols[*(const int *) b].name;
	size_t		la = strlen(na),
				lb = strlen(nb);

	if (la != lb)
		return la < lb ? -1 : 1;
	return memcmp(na, nb, la);
}

/* Indexes into cols[0..ncols) in jsonb's key order, allocated in cxt. */
int *
CdcJsonbOrder(const CdcColumn *cols, int ncols, MemoryContext cxt)
{
	int		   *order = MemoryContextAlloc(cxt, sizeof(int) * Max(ncols, 1));

	for (int i = 0; i < ncols; i++)
		order[i] = i;
	qsort_arg(order, ncols, sizeof(int), jsonb_key_cmp, (void *) cols);
	return order;
}

/* Is this datum an unchanged TOAST value that the WAL does not carry? */
static inline bool
is_unchanged_toast(const CdcColumn *col, Datum d, TupleDesc desc)
{
	return TupleDescAttr(desc, col->attnum - 1)->attlen == -1 &&
		VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(d));
}

/*
 * Deform tuple into the entry's buffer "which" (CDC_ROW_NEW or CDC_ROW_OLD)
 * and describe it in *row.  NULL tuple: returns NULL (no such row).
 */
CdcRow *
CdcDeformRow(CdcRelEntry *re, HeapTuple tuple, int which, CdcRow *row)
{
	if (tuple == NULL)
		return NULL;
	Assert(re->desc->natts == re->natts);
	heap_deform_tuple(tuple, re->desc, re->row_values[which], re->row_nulls[which]);
	row->tuple = tuple;
	row->values = re->row_values[which];
	row->nulls = re->row_nulls[which];
	return row;
}

/*
 * The value of column col in row, or in fallback when row has it only as an
 * unchanged TOAST pointer.  Returns false when neither row carries it.
 */
bool
CdcGetValue(CdcRelEntry *re, const CdcColumn *col, const CdcRow *row,
			const CdcRow *fallback, Datum *value, bool *isnull)
{
	int			i = col->attnum - 1;

	*value = row->values[i];
	*isnull = row->nulls[i];
	if (*isnull || !is_unchanged_toast(col, *value, re->desc))
		return true;
	if (fallback == NULL)
		return false;
	*value = fallback->values[i];
	*isnull = fallback->nulls[i];
	return !*isnull && !is_unchanged_toast(col, *value, re->desc);
}

/*
 * Should the text of a number (numeric_out, a float's shortest form) be a
 * JSON string rather than a number?  Yes for NaN and the infinities, as
 * to_json() does, and, with numeric_as_string, for numbers a JavaScript
 * double would round.
 */
bool
CdcNumberAsString(const char *s, size_t len, bool numeric_as_string)
{
	return !cdc_json_is_number(s, len) ||
		(numeric_as_string && !cdc_json_number_is_exact_double(s, len));
}

/* Write v as exactly n decimal digits, zero-padded, at p. */
static inline char *
put_digits(char *p, int v, int n)
{
	for (int i = n - 1; i >= 0; i--)
	{
		p[i] = (char) ('0' + v % 10);
		v /= 10;
	}
	return p + n;
}

/*
 * A timestamp (with time zone: in UTC) of years 1 to 9999 the way
 * JsonEncodeDateTime writes it ("2026-01-02T03:04:05.5+00:00"), without its
 * general machinery.  Returns the length, or -1 for what it leaves to that:
 * infinities and years outside 1..9999.
 */
static int
format_timestamp_fast(char *buf, Timestamp ts, bool with_tz)
{
	int64		days = ts / USECS_PER_DAY;
	int64		usec = ts % USECS_PER_DAY;
	int			year,
				month,
				day,
				secs;
	char	   *p = buf;

	if (TIMESTAMP_NOT_FINITE(ts))
		return -1;
	if (usec < 0)
	{
		usec += USECS_PER_DAY;
		days--;
	}
	/* Julian days of 0001-01-01 and 9999-12-31 */
	if (days < 1721426 - POSTGRES_EPOCH_JDATE || days > 5373484 - POSTGRES_EPOCH_JDATE)
		return -1;
	j2date((int) (days + POSTGRES_EPOCH_JDATE), &year, &month, &day);
	if (year < 1 || year > 9999)
		return -1;
	secs = (int) (usec / USECS_PER_SEC);
	usec %= USECS_PER_SEC;

	p = put_digits(p, year, 4);
	*p++ = '-';
	p = put_digits(p, month, 2);
	*p++ = '-';
	p = put_digits(p, day, 2);
	*p++ = 'T';
	p = put_digits(p, secs / 3600, 2);
	*p++ = ':';
	p = put_digits(p, secs / 60 % 60, 2);
	*p++ = ':';
	p = put_digits(p, secs % 60, 2);
	if (usec != 0)
	{
		int			digits = 6;

		while (usec % 10 == 0)
		{
			usec /= 10;
			digits--;
		}
		*p++ = '.';
		p = put_digits(p, (int) usec, digits);
	}
	if (with_tz)
	{
		memcpy(p, "+00:00", 6);
		p += 6;
	}
	*p = '\0';
	return (int) (p - buf);
}

/*
 * The text of a date/time value (enc CDC_ENC_DATE .. CDC_ENC_TIMESTAMPTZ) as
 * to_json() writes it, timestamptz in UTC whatever the session's TimeZone,
 * into buf (CDC_DATETIME_BUFLEN bytes).  Plain ASCII that JSON need not
 * escape.  Returns its length.
 */
int
CdcFormatDateTime(char *buf, Datum value, CdcEncoding enc)
{
	static const Oid typids[] = {DATEOID, TIMEOID, TIMETZOID, TIMESTAMPOID, TIMESTAMPTZOID};
	Oid			typid = typids[enc - CDC_ENC_DATE];
	int			utc = 0;
	int			n;

	Assert(enc >= CDC_ENC_DATE && enc <= CDC_ENC_TIMESTAMPTZ);
	if (typid == TIMESTAMPOID || typid == TIMESTAMPTZOID)
	{
		n = format_timestamp_fast(buf, DatumGetTimestamp(value), typid == TIMESTAMPTZOID);
		if (n >= 0)
			return n;
	}
	JsonEncodeDateTime(buf, value, typid, typid == TIMESTAMPTZOID ? &utc : NULL);
	return (int) strlen(buf);
}

/* The text of a uuid: 36 characters at buf (no NUL). */
void
CdcFormatUuid(char *buf, Datum value)
{
	static const char hex[] = "0123456789abcdef";
	pg_uuid_t  *u = DatumGetUUIDP(value);
	char	   *p = buf;

	for (int i = 0; i < UUID_LEN; i++)
	{
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[u->data[i] >> 4];
		*p++ = hex[u->data[i] & 0xF];
	}
}

/* src[0..n) as lowercase hex digits at dst (bytea's hex form); returns the end. */
char *
CdcHexEncode(char *dst, const unsigned char *src, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++)
	{
		*dst++ = hex[src[i] >> 4];
		*dst++ = hex[src[i] & 0xF];
	}
	return dst;
}

/*
 * Session pinning.  Output functions (and casts) write text shaped by the
 * reading session's settings; the output must not depend on them (every
 * reader of a change gets the same entry: sql/plugin_types.sql).  The
 * settings that shape the text of built-in types are set to PostgreSQL's
 * defaults in a new GUC nest level, the way postgres_fdw pins
 * its transmission settings, and restored by CdcSessionUnpin.  An error in
 * between needs no handler: the abort of the (sub)transaction that decoding
 * runs in pops the nest level and restores them.  Settings that already
 * have the default value are left alone, so a session with the defaults
 * pays only for the nest level.
 */
int
CdcSessionPin(void)
{
	int			level = NewGUCNestLevel();
	GucContext	context = superuser() ? PGC_SUSET : PGC_USERSET;

	if (DateStyle != USE_ISO_DATES || DateOrder != DATEORDER_MDY)
		(void) set_config_option("datestyle", "ISO, MDY", context, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	if (IntervalStyle != INTSTYLE_POSTGRES)
		(void) set_config_option("intervalstyle", "postgres", context, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	if (extra_float_digits != 1)
		(void) set_config_option("extra_float_digits", "1", context, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	if (bytea_output != BYTEA_OUTPUT_HEX)
		(void) set_config_option("bytea_output", "hex", context, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	if (session_timezone == NULL ||
		strcmp(pg_get_timezone_name(session_timezone), "UTC") != 0)
		(void) set_config_option("timezone", "UTC", context, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	return level;
}

/* Restore the settings CdcSessionPin pinned (nestlevel: what it returned). */
void
CdcSessionUnpin(int nestlevel)
{
	AtEOXact_GUC(true, nestlevel);
}
