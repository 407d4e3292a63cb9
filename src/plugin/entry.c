/*
 * entry.c
 *		Tuple to ChangeEntry JSON: rows, keys and single values.
 *
 * Values must equal, as jsonb, to_jsonb() of the same value under
 * PostgreSQL's default settings, whatever settings the consuming session
 * has.  The common types are encoded here directly from their binary form,
 * with no output function and no session setting involved (integers, floats
 * by the shortest exact text, numeric, bool, text, uuid, json, jsonb,
 * date/time types in JSON's ISO form with timestamptz in UTC, bytea in hex,
 * and arrays of those).  The rest goes through its output function or
 * to_json() with the settings that shape their text pinned to the defaults
 * (CdcSessionPin) and restored afterwards, also on error.
 *
 * Everything appends to a StringInfo in the caller's memory context; the
 * caller resets that context after each change.
 */
#include "cdc_plugin.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/shortest_dec.h"
#include "datatype/timestamp.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/bytea.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/float.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "cdc_json.h"
#include "cdc_lsn.h"

/* 2^53: integers beyond it are not exact as a JavaScript number. */
#define JS_MAX_SAFE ((int64) 9007199254740992)

void
CdcAppendJsonString(StringInfo out, const char *s, size_t len)
{
	size_t		elen = cdc_json_escaped_len(s, len);
	char	   *p;

	if (elen + 2 >= (size_t) (MaxAllocSize - out->len))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("change entry too large to output"),
				 errdetail("A value of %zu bytes would need %zu bytes as JSON, beyond the 1 GB limit of one output row.",
						   len, elen),
				 errhint("Leave the table out with the \"exclude_entities\" option to read past this change; the slot has not moved.")));
	enlargeStringInfo(out, (int) elen + 2);
	p = out->data + out->len;
	*p++ = '"';
	if (elen == len)
	{
		memcpy(p, s, len);
		p += len;
	}
	else
		p = cdc_json_escape(p, s, len);
	*p++ = '"';
	*p = '\0';
	out->len = (int) (p - out->data);
}

void
CdcAppendLsn(StringInfo out, XLogRecPtr lsn)
{
	char		buf[CDC_LSN_MAXLEN + 2];
	size_t		n;

	buf[0] = '"';
	n = cdc_lsn_format(buf + 1, lsn) + 1;
	buf[n++] = '"';
	appendBinaryStringInfo(out, buf, (int) n);
}

void
CdcAppendInt64(StringInfo out, int64 v)
{
	char		buf[24];

	appendBinaryStringInfo(out, buf, (int) cdc_json_format_int64(buf, v));
}

/* Commit time as JSON wants it: microseconds since the Unix epoch. */
int64
CdcTimestampToUnixMicros(TimestampTz ts)
{
	return ts + (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
}

/*
 * Session pinning: the settings that change the text of output functions,
 * set to PostgreSQL's defaults for the duration of one conversion.
 */
static struct
{
	int			date_style;
	int			date_order;
	int			interval_style;
	int			extra_float_digits;
	int			bytea_output;
	pg_tz	   *timezone;
} saved_settings;
static pg_tz *utc_tz = NULL;

void
CdcSessionPin(void)
{
	if (utc_tz == NULL)
		utc_tz = pg_tzset("UTC");
	saved_settings.date_style = DateStyle;
	saved_settings.date_order = DateOrder;
	saved_settings.interval_style = IntervalStyle;
	saved_settings.extra_float_digits = extra_float_digits;
	saved_settings.bytea_output = bytea_output;
	saved_settings.timezone = session_timezone;
	DateStyle = USE_ISO_DATES;
	DateOrder = DATEORDER_MDY;
	IntervalStyle = INTSTYLE_POSTGRES;
	extra_float_digits = 1;
	bytea_output = BYTEA_OUTPUT_HEX;
	if (utc_tz != NULL)
		session_timezone = utc_tz;
}

void
CdcSessionUnpin(void)
{
	DateStyle = saved_settings.date_style;
	DateOrder = saved_settings.date_order;
	IntervalStyle = saved_settings.interval_style;
	extra_float_digits = saved_settings.extra_float_digits;
	bytea_output = saved_settings.bytea_output;
	session_timezone = saved_settings.timezone;
}

static void
append_number_text(StringInfo out, const char *s, bool numeric_as_string)
{
	size_t		len = strlen(s);

	if (!cdc_json_is_number(s, len) ||
		(numeric_as_string && !cdc_json_number_is_exact_double(s, len)))
		CdcAppendJsonString(out, s, len);
	else
		appendBinaryStringInfo(out, s, (int) len);
}

static void
append_float8(StringInfo out, double f)
{
	char		buf[32];

	if (isnan(f))
		appendStringInfoString(out, "\"NaN\"");
	else if (isinf(f))
		appendStringInfoString(out, f > 0 ? "\"Infinity\"" : "\"-Infinity\"");
	else
		appendBinaryStringInfo(out, buf, double_to_shortest_decimal_buf(f, buf));
}

static void
append_float4(StringInfo out, float f)
{
	char		buf[32];

	if (isnan(f))
		appendStringInfoString(out, "\"NaN\"");
	else if (isinf(f))
		appendStringInfoString(out, f > 0 ? "\"Infinity\"" : "\"-Infinity\"");
	else
		appendBinaryStringInfo(out, buf, float_to_shortest_decimal_buf(f, buf));
}

static void
append_int64(StringInfo out, int64 v, bool numeric_as_string)
{
	if (numeric_as_string && (v > JS_MAX_SAFE || v < -JS_MAX_SAFE))
	{
		appendStringInfoCharMacro(out, '"');
		CdcAppendInt64(out, v);
		appendStringInfoCharMacro(out, '"');
	}
	else
		CdcAppendInt64(out, v);
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
 * A timestamp (with time zone: in UTC) of years 1 to 9999 as JSON, the way
 * JsonEncodeDateTime writes it ("2026-01-02T03:04:05.5+00:00"), without its
 * general machinery.  Returns false for what it leaves to that: infinities
 * and years outside 1..9999.
 */
static bool
append_timestamp_fast(StringInfo out, Timestamp ts, bool with_tz)
{
	int64		days = ts / USECS_PER_DAY;
	int64		usec = ts % USECS_PER_DAY;
	int			year,
				month,
				day,
				secs;
	char		buf[40];
	char	   *p = buf;

	if (TIMESTAMP_NOT_FINITE(ts))
		return false;
	if (usec < 0)
	{
		usec += USECS_PER_DAY;
		days--;
	}
	/* Julian days of 0001-01-01 and 9999-12-31 */
	if (days < 1721426 - POSTGRES_EPOCH_JDATE || days > 5373484 - POSTGRES_EPOCH_JDATE)
		return false;
	j2date((int) (days + POSTGRES_EPOCH_JDATE), &year, &month, &day);
	if (year < 1 || year > 9999)
		return false;
	secs = (int) (usec / USECS_PER_SEC);
	usec %= USECS_PER_SEC;

	*p++ = '"';
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
	*p++ = '"';
	appendBinaryStringInfo(out, buf, (int) (p - buf));
	return true;
}

static void
append_datetime(StringInfo out, Datum value, Oid typid)
{
	char		buf[MAXDATELEN + 1];
	int			utc = 0;

	if ((typid == TIMESTAMPOID || typid == TIMESTAMPTZOID) &&
		append_timestamp_fast(out, DatumGetTimestamp(value), typid == TIMESTAMPTZOID))
		return;
	/* timestamptz in UTC whatever the session's TimeZone */
	JsonEncodeDateTime(buf, value, typid, typid == TIMESTAMPTZOID ? &utc : NULL);
	CdcAppendJsonString(out, buf, strlen(buf));
}

static void
append_bytea(StringInfo out, Datum value)
{
	static const char hex[] = "0123456789abcdef";
	bytea	   *b = DatumGetByteaPP(value);
	const unsigned char *d = (const unsigned char *) VARDATA_ANY(b);
	size_t		n = VARSIZE_ANY_EXHDR(b);
	char	   *p;

	if (n * 2 + 6 >= (size_t) (MaxAllocSize - out->len))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("change entry too large to output"),
				 errdetail("A bytea value of %zu bytes would need %zu bytes as JSON, beyond the 1 GB limit of one output row.",
						   n, n * 2 + 6),
				 errhint("Leave the table out with the \"exclude_entities\" option to read past this change; the slot has not moved.")));
	/* the text "\x0a..." as a JSON string: "\\x0a..." */
	enlargeStringInfo(out, (int) (n * 2 + 6));
	p = out->data + out->len;
	*p++ = '"';
	*p++ = '\\';
	*p++ = '\\';
	*p++ = 'x';
	for (size_t i = 0; i < n; i++)
	{
		*p++ = hex[d[i] >> 4];
		*p++ = hex[d[i] & 0xF];
	}
	*p++ = '"';
	*p = '\0';
	out->len = (int) (p - out->data);
}

static void
append_uuid(StringInfo out, Datum value)
{
	static const char hex[] = "0123456789abcdef";
	pg_uuid_t  *u = DatumGetUUIDP(value);
	char		buf[40];
	char	   *p = buf;

	*p++ = '"';
	for (int i = 0; i < UUID_LEN; i++)
	{
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[u->data[i] >> 4];
		*p++ = hex[u->data[i] & 0xF];
	}
	*p++ = '"';
	appendBinaryStringInfo(out, buf, (int) (p - buf));
}

/* One value of a fast-path encoding (not ARRAY, STRING or TO_JSON). */
static void
append_scalar(StringInfo out, CdcEncoding enc, Datum value, bool numeric_as_string)
{
	switch (enc)
	{
		case CDC_ENC_INT2:
			CdcAppendInt64(out, DatumGetInt16(value));
			break;
		case CDC_ENC_INT4:
			CdcAppendInt64(out, DatumGetInt32(value));
			break;
		case CDC_ENC_INT8:
			append_int64(out, DatumGetInt64(value), numeric_as_string);
			break;
		case CDC_ENC_FLOAT4:
			append_float4(out, DatumGetFloat4(value));
			break;
		case CDC_ENC_FLOAT8:
			append_float8(out, DatumGetFloat8(value));
			break;
		case CDC_ENC_NUMERIC:
			append_number_text(out,
							   DatumGetCString(DirectFunctionCall1(numeric_out, value)),
							   numeric_as_string);
			break;
		case CDC_ENC_BOOL:
			if (DatumGetBool(value))
				appendBinaryStringInfo(out, "true", 4);
			else
				appendBinaryStringInfo(out, "false", 5);
			break;
		case CDC_ENC_TEXT:
			{
				text	   *t = DatumGetTextPP(value);

				CdcAppendJsonString(out, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
				break;
			}
		case CDC_ENC_NAME:
			{
				const char *n = NameStr(*DatumGetName(value));

				CdcAppendJsonString(out, n, strlen(n));
				break;
			}
		case CDC_ENC_UUID:
			append_uuid(out, value);
			break;
		case CDC_ENC_JSON:
			{
				text	   *t = DatumGetTextPP(value);

				/* json_in validated it: embed as is */
				appendBinaryStringInfo(out, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
				break;
			}
		case CDC_ENC_JSONB:
			{
				Jsonb	   *jb = DatumGetJsonbP(value);

				JsonbToCString(out, &jb->root, VARSIZE(jb));
				break;
			}
		case CDC_ENC_DATE:
			append_datetime(out, value, DATEOID);
			break;
		case CDC_ENC_TIME:
			append_datetime(out, value, TIMEOID);
			break;
		case CDC_ENC_TIMETZ:
			append_datetime(out, value, TIMETZOID);
			break;
		case CDC_ENC_TIMESTAMP:
			append_datetime(out, value, TIMESTAMPOID);
			break;
		case CDC_ENC_TIMESTAMPTZ:
			append_datetime(out, value, TIMESTAMPTZOID);
			break;
		case CDC_ENC_BYTEA:
			append_bytea(out, value);
			break;
		default:
			elog(ERROR, "cdc_ext: encoding %d is not scalar", (int) enc);
	}
}

/*
 * Elements [*pos, ...) of one dimension of an array, as nested JSON arrays
 * the way to_json() writes a multi-dimensional array.
 */
static void
append_array_dim(StringInfo out, const CdcColumn *col, int dim, int ndims,
				 const int *dims, Datum *elems, bool *nulls, int *pos,
				 bool numeric_as_string)
{
	appendStringInfoCharMacro(out, '[');
	for (int i = 0; i < dims[dim]; i++)
	{
		if (i > 0)
			appendStringInfoCharMacro(out, ',');
		if (dim + 1 < ndims)
			append_array_dim(out, col, dim + 1, ndims, dims, elems, nulls, pos,
							 numeric_as_string);
		else
		{
			if (nulls[*pos])
				appendBinaryStringInfo(out, "null", 4);
			else
				append_scalar(out, col->elem_enc, elems[*pos], numeric_as_string);
			(*pos)++;
		}
	}
	appendStringInfoCharMacro(out, ']');
}

static void
append_array(StringInfo out, const CdcColumn *col, Datum value, bool numeric_as_string)
{
	ArrayType  *arr = DatumGetArrayTypeP(value);
	int			ndims = ARR_NDIM(arr);
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	int			pos = 0;

	if (ndims <= 0 || ArrayGetNItems(ndims, ARR_DIMS(arr)) == 0)
	{
		appendBinaryStringInfo(out, "[]", 2);
		return;
	}
	deconstruct_array(arr, col->elem_typid, col->elem_len, col->elem_byval,
					  col->elem_align, &elems, &nulls, &nelems);
	append_array_dim(out, col, 0, ndims, ARR_DIMS(arr), elems, nulls, &pos,
					 numeric_as_string);
}

/* One non-null value of a column. */
static void
append_value(StringInfo out, CdcColumn *col, Datum value, bool numeric_as_string)
{
	switch (col->enc)
	{
		case CDC_ENC_ARRAY:
			append_array(out, col, value, numeric_as_string);
			break;
		case CDC_ENC_STRING:
			{
				char	   *s = OutputFunctionCall(&col->func, value);

				CdcAppendJsonString(out, s, strlen(s));
				break;
			}
		case CDC_ENC_TO_JSON:
			{
				text	   *t = DatumGetTextPP(FunctionCall1(&col->func, value));

				appendBinaryStringInfo(out, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
				break;
			}
		default:
			append_scalar(out, col->enc, value, numeric_as_string);
	}
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
static inline bool
get_value(CdcRelEntry *re, const CdcColumn *col, const CdcRow *row,
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
 * Append the row as a JSON object.  only_replident: include only replica
 * identity columns (an old key tuple that is not REPLICA IDENTITY FULL).
 * fallback, when not NULL, is the old row: it supplies values of unchanged
 * TOAST columns that the new row lacks.  Columns whose value neither row
 * carries are left out and listed in *unchanged_toast.
 */
void
CdcAppendRow(StringInfo out, CdcRelEntry *re, const CdcRow *row,
			 const CdcRow *fallback, bool only_replident, bool numeric_as_string,
			 List **unchanged_toast)
{
	bool		first = true;

	appendStringInfoCharMacro(out, '{');
	for (int i = 0; i < re->ncols; i++)
	{
		CdcColumn  *col = &re->cols[i];
		Datum		d;
		bool		isnull;

		if (only_replident && !col->is_replident)
			continue;
		if (!get_value(re, col, row, fallback, &d, &isnull))
		{
			if (unchanged_toast != NULL)
				*unchanged_toast = lappend(*unchanged_toast, col->name);
			continue;
		}
		if (!first)
			appendStringInfoCharMacro(out, ',');
		first = false;
		appendBinaryStringInfo(out, col->key, col->keylen);
		if (isnull)
			appendBinaryStringInfo(out, "null", 4);
		else
			append_value(out, col, d, numeric_as_string);
	}
	appendStringInfoCharMacro(out, '}');
}

/*
 * Append the entity_id of the row: the key column's value, an object of the
 * key columns when there are several, null when the table has no key or the
 * row does not carry it (a DELETE under REPLICA IDENTITY NOTHING).
 */
void
CdcAppendKey(StringInfo out, CdcRelEntry *re, const CdcRow *row,
			 const CdcRow *fallback, bool numeric_as_string)
{
	int			start = out->len;

	if (re->nkeys == 0 || row == NULL)
	{
		appendBinaryStringInfo(out, "null", 4);
		return;
	}
	if (re->nkeys > 1)
		appendStringInfoCharMacro(out, '{');
	for (int i = 0; i < re->nkeys; i++)
	{
		CdcColumn  *col = &re->cols[re->keys[i]];
		Datum		d;
		bool		isnull;

		if (!get_value(re, col, row, fallback, &d, &isnull))
		{
			/* a key value the WAL does not carry: no usable id */
			out->len = start;
			out->data[start] = '\0';
			appendBinaryStringInfo(out, "null", 4);
			return;
		}
		if (re->nkeys > 1)
		{
			if (i > 0)
				appendStringInfoCharMacro(out, ',');
			appendBinaryStringInfo(out, col->key, col->keylen);
		}
		if (isnull)
			appendBinaryStringInfo(out, "null", 4);
		else
			append_value(out, col, d, numeric_as_string);
	}
	if (re->nkeys > 1)
		appendStringInfoCharMacro(out, '}');
}

/*
 * Typed output (cdc.stream): the same rows and keys as jsonb, built from the
 * datums directly rather than by writing JSON text and parsing it back.
 * Scalars become jsonb scalars (integers and floats as numeric, the way
 * to_jsonb() makes them from their text); json, arrays, composites and
 * extension types go through their JSON text (CdcAppend*), which is the
 * only parse left, and only for those types.
 */

static void
set_string(JsonbValue *v, const char *s, size_t len)
{
	v->type = jbvString;
	v->val.string.val = (char *) s;
	v->val.string.len = (int) len;
}

static void
set_numeric_text(JsonbValue *v, const char *s, bool numeric_as_string)
{
	size_t		len = strlen(s);

	if (!cdc_json_is_number(s, len) ||
		(numeric_as_string && !cdc_json_number_is_exact_double(s, len)))
		set_string(v, s, len);
	else
	{
		v->type = jbvNumeric;
		v->val.numeric = DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(s),
															 ObjectIdGetDatum(InvalidOid),
															 Int32GetDatum(-1)));
	}
}

/* Push one non-null value of col as tok (WJB_VALUE or WJB_ELEM). */
static void push_value(JsonbParseState **ps, JsonbIteratorToken tok,
					   CdcColumn *col, Datum d, bool numeric_as_string);
static void push_null(JsonbParseState **ps, JsonbIteratorToken tok);

/* One dimension of an array as jsonb arrays, as append_array_dim writes it. */
static void
push_array_dim(JsonbParseState **ps, CdcColumn *elemcol, int dim, int ndims,
			   const int *dims, Datum *elems, bool *nulls, int *pos,
			   bool numeric_as_string)
{
	(void) pushJsonbValue(ps, WJB_BEGIN_ARRAY, NULL);
	for (int i = 0; i < dims[dim]; i++)
	{
		if (dim + 1 < ndims)
			push_array_dim(ps, elemcol, dim + 1, ndims, dims, elems, nulls, pos,
						   numeric_as_string);
		else
		{
			if (nulls[*pos])
				push_null(ps, WJB_ELEM);
			else
				push_value(ps, WJB_ELEM, elemcol, elems[*pos], numeric_as_string);
			(*pos)++;
		}
	}
	(void) pushJsonbValue(ps, WJB_END_ARRAY, NULL);
}

/* An array column straight into jsonb (no JSON text in between). */
static void
push_array(JsonbParseState **ps, const CdcColumn *col, Datum value,
		   bool numeric_as_string)
{
	ArrayType  *arr = DatumGetArrayTypeP(value);
	int			ndims = ARR_NDIM(arr);
	CdcColumn	elemcol = *col;
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	int			pos = 0;

	if (ndims <= 0 || ArrayGetNItems(ndims, ARR_DIMS(arr)) == 0)
	{
		(void) pushJsonbValue(ps, WJB_BEGIN_ARRAY, NULL);
		(void) pushJsonbValue(ps, WJB_END_ARRAY, NULL);
		return;
	}
	/* elements always have a scalar encoding (see classify_column) */
	elemcol.enc = col->elem_enc;
	elemcol.typid = col->elem_typid;
	deconstruct_array(arr, col->elem_typid, col->elem_len, col->elem_byval,
					  col->elem_align, &elems, &nulls, &nelems);
	push_array_dim(ps, &elemcol, 0, ndims, ARR_DIMS(arr), elems, nulls, &pos,
				   numeric_as_string);
}

static void
push_value(JsonbParseState **ps, JsonbIteratorToken tok, CdcColumn *col,
		   Datum d, bool numeric_as_string)
{
	JsonbValue	v;
	char		buf[MAXDATELEN + 40];

	switch (col->enc)
	{
		case CDC_ENC_ARRAY:
			push_array(ps, col, d, numeric_as_string);
			return;
		case CDC_ENC_INT2:
		case CDC_ENC_INT4:
		case CDC_ENC_INT8:
			{
				int64		i = col->enc == CDC_ENC_INT2 ? DatumGetInt16(d) :
				col->enc == CDC_ENC_INT4 ? DatumGetInt32(d) : DatumGetInt64(d);

				if (numeric_as_string && (i > JS_MAX_SAFE || i < -JS_MAX_SAFE))
				{
					size_t		n = cdc_json_format_int64(buf, i);

					set_string(&v, pnstrdup(buf, n), n);
				}
				else
				{
					v.type = jbvNumeric;
					v.val.numeric = int64_to_numeric(i);
				}
				break;
			}
		case CDC_ENC_FLOAT4:
		case CDC_ENC_FLOAT8:
			{
				double		f = col->enc == CDC_ENC_FLOAT4 ? DatumGetFloat4(d) : DatumGetFloat8(d);

				if (isnan(f))
					set_string(&v, "NaN", 3);
				else if (isinf(f))
					set_string(&v, f > 0 ? "Infinity" : "-Infinity", f > 0 ? 8 : 9);
				else
				{
					int			n = col->enc == CDC_ENC_FLOAT4 ?
					float_to_shortest_decimal_buf(DatumGetFloat4(d), buf) :
					double_to_shortest_decimal_buf(f, buf);

					buf[n] = '\0';
					set_numeric_text(&v, buf, false);
				}
				break;
			}
		case CDC_ENC_NUMERIC:
			{
				Numeric		num = DatumGetNumeric(d);

				if (numeric_is_nan(num) || numeric_is_inf(num) || numeric_as_string)
					set_numeric_text(&v, DatumGetCString(DirectFunctionCall1(numeric_out, d)),
									 numeric_as_string);
				else
				{
					v.type = jbvNumeric;
					v.val.numeric = num;
				}
				break;
			}
		case CDC_ENC_BOOL:
			v.type = jbvBool;
			v.val.boolean = DatumGetBool(d);
			break;
		case CDC_ENC_TEXT:
			{
				text	   *t = DatumGetTextPP(d);

				set_string(&v, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
				break;
			}
		case CDC_ENC_NAME:
			{
				const char *n = NameStr(*DatumGetName(d));

				set_string(&v, n, strlen(n));
				break;
			}
		case CDC_ENC_JSONB:
			{
				Jsonb	   *jb = DatumGetJsonbP(d);

				v.type = jbvBinary;
				v.val.binary.data = &jb->root;
				v.val.binary.len = VARSIZE(jb) - VARHDRSZ;
				break;
			}
		case CDC_ENC_DATE:
		case CDC_ENC_TIME:
		case CDC_ENC_TIMETZ:
		case CDC_ENC_TIMESTAMP:
		case CDC_ENC_TIMESTAMPTZ:
		case CDC_ENC_UUID:
		case CDC_ENC_BYTEA:
		case CDC_ENC_STRING:
			{
				/* the JSON string's text, without its quotes and escapes */
				StringInfoData s;

				initStringInfo(&s);
				if (col->enc == CDC_ENC_STRING)
					appendStringInfoString(&s, OutputFunctionCall(&col->func, d));
				else if (col->enc == CDC_ENC_UUID)
				{
					append_uuid(&s, d);
					s.data[s.len - 1] = '\0';
					s.data++;
					s.len -= 2;
				}
				else if (col->enc == CDC_ENC_BYTEA)
				{
					bytea	   *b = DatumGetByteaPP(d);
					const unsigned char *p = (const unsigned char *) VARDATA_ANY(b);
					static const char hex[] = "0123456789abcdef";

					appendBinaryStringInfo(&s, "\\x", 2);
					for (size_t i = 0; i < VARSIZE_ANY_EXHDR(b); i++)
					{
						appendStringInfoCharMacro(&s, hex[p[i] >> 4]);
						appendStringInfoCharMacro(&s, hex[p[i] & 0xF]);
					}
				}
				else
				{
					int			utc = 0;
					static const Oid typids[] = {DATEOID, TIMEOID, TIMETZOID, TIMESTAMPOID, TIMESTAMPTZOID};
					Oid			typid = typids[col->enc - CDC_ENC_DATE];

					JsonEncodeDateTime(buf, d, typid, typid == TIMESTAMPTZOID ? &utc : NULL);
					appendStringInfoString(&s, buf);
				}
				set_string(&v, s.data, s.len);
				break;
			}
		default:
			{
				/* json, arrays, composites, extension types: via their JSON text */
				StringInfoData s;
				Jsonb	   *jb;

				initStringInfo(&s);
				append_value(&s, col, d, numeric_as_string);
				jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(s.data)));
				v.type = jbvBinary;
				v.val.binary.data = &jb->root;
				v.val.binary.len = VARSIZE(jb) - VARHDRSZ;
				break;
			}
	}
	(void) pushJsonbValue(ps, tok, &v);
}

static void
push_null(JsonbParseState **ps, JsonbIteratorToken tok)
{
	JsonbValue	v;

	v.type = jbvNull;
	(void) pushJsonbValue(ps, tok, &v);
}

static void
push_key(JsonbParseState **ps, const CdcColumn *col)
{
	JsonbValue	k;

	set_string(&k, col->name, strlen(col->name));
	(void) pushJsonbValue(ps, WJB_KEY, &k);
}

/* CdcAppendRow's row as a jsonb datum. */
Datum
CdcRowToJsonb(CdcRelEntry *re, const CdcRow *row, const CdcRow *fallback,
			  bool only_replident, bool numeric_as_string,
			  List **unchanged_toast)
{
	JsonbParseState *ps = NULL;
	JsonbValue *res;

	/* unchanged TOAST columns, named in the order of the table */
	if (unchanged_toast != NULL)
		for (int i = 0; i < re->ncols; i++)
		{
			CdcColumn  *col = &re->cols[i];
			Datum		d;
			bool		isnull;

			if (!(only_replident && !col->is_replident) &&
				!get_value(re, col, row, fallback, &d, &isnull))
				*unchanged_toast = lappend(*unchanged_toast, col->name);
		}

	(void) pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	for (int k = 0; k < re->ncols; k++)
	{
		CdcColumn  *col = &re->cols[re->jsonb_order[k]];
		Datum		d;
		bool		isnull;

		if (only_replident && !col->is_replident)
			continue;
		if (!get_value(re, col, row, fallback, &d, &isnull))
			continue;
		push_key(&ps, col);
		if (isnull)
			push_null(&ps, WJB_VALUE);
		else
			push_value(&ps, WJB_VALUE, col, d, numeric_as_string);
	}
	res = pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	return JsonbPGetDatum(JsonbValueToJsonb(res));
}

/* CdcAppendKey's entity_id as a jsonb datum; *isnull when it is null. */
Datum
CdcKeyToJsonb(CdcRelEntry *re, const CdcRow *row, const CdcRow *fallback,
			  bool numeric_as_string, bool *isnull)
{
	JsonbParseState *ps = NULL;
	JsonbValue *res = NULL;
	Datum		values[INDEX_MAX_KEYS];
	bool		nulls[INDEX_MAX_KEYS];

	*isnull = true;
	if (re->nkeys == 0 || row == NULL)
		return (Datum) 0;
	for (int i = 0; i < re->nkeys; i++)
		if (!get_value(re, &re->cols[re->keys[i]], row, fallback, &values[i], &nulls[i]))
			return (Datum) 0;	/* a key value the WAL does not carry */

	if (re->nkeys == 1)
	{
		CdcColumn  *col = &re->cols[re->keys[0]];
		JsonbValue	va;

		/* a key of a container type: through its JSON text */
		if (!nulls[0] && (col->enc == CDC_ENC_JSON || col->enc == CDC_ENC_JSONB ||
						  col->enc == CDC_ENC_ARRAY || col->enc == CDC_ENC_TO_JSON))
		{
			StringInfoData s;

			initStringInfo(&s);
			append_value(&s, col, values[0], numeric_as_string);
			*isnull = false;
			return DirectFunctionCall1(jsonb_in, CStringGetDatum(s.data));
		}
		/* a scalar: jsonb keeps it as a one-element raw-scalar array */
		va.type = jbvArray;
		va.val.array.rawScalar = true;
		va.val.array.nElems = 1;
		(void) pushJsonbValue(&ps, WJB_BEGIN_ARRAY, &va);
		if (nulls[0])
			push_null(&ps, WJB_ELEM);
		else
			push_value(&ps, WJB_ELEM, col, values[0], numeric_as_string);
		res = pushJsonbValue(&ps, WJB_END_ARRAY, NULL);
	}
	else
	{
		(void) pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
		for (int i = 0; i < re->nkeys; i++)
		{
			push_key(&ps, &re->cols[re->keys[i]]);
			if (nulls[i])
				push_null(&ps, WJB_VALUE);
			else
				push_value(&ps, WJB_VALUE, &re->cols[re->keys[i]], values[i], numeric_as_string);
		}
		res = pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	}
	*isnull = false;
	return JsonbPGetDatum(JsonbValueToJsonb(res));
}
