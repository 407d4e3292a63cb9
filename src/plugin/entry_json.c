/*
 * entry_json.c
 *		The text JSON writer: rows, keys and single values of a ChangeEntry as
 *		JSON text (pg_logical_slot_*_changes, the replication protocol).
 *
 * Values must equal, as jsonb, to_jsonb() of the same value under
 * PostgreSQL's default settings, whatever settings the consuming session
 * has.  column.c decides each column's category; this file writes it.  The
 * common types are written here directly from their binary form, with no
 * output function and no session setting involved.  The rest goes through
 * its output function or a superuser-owned cast, with the settings that
 * shape their text pinned by the caller (CdcSessionPin).  json values are
 * embedded exactly as stored.
 *
 * Everything appends to a StringInfo in the caller's memory context; the
 * caller resets that context after each change.
 */
#include "cdc_plugin.h"

#include <math.h>

#include "access/htup_details.h"
#include "common/shortest_dec.h"
#include "datatype/timestamp.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "cdc_json.h"
#include "cdc_lsn.h"

/*
 * s[0..len) as a JSON string, quotes included.  U+2028/U+2029 are escaped
 * only when the database encoding is UTF-8: in any other encoding their
 * bytes are other characters.
 */
void
CdcAppendJsonString(StringInfo out, const char *s, size_t len)
{
	bool		utf8 = GetDatabaseEncoding() == PG_UTF8;
	size_t		elen = cdc_json_escaped_len(s, len, utf8);
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
		p = cdc_json_escape(p, s, len, utf8);
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

/* A number's text: as a number, or as a string where CdcNumberAsString says. */
static void
append_number_text(StringInfo out, const char *s, size_t len, bool numeric_as_string)
{
	if (CdcNumberAsString(s, len, numeric_as_string))
		CdcAppendJsonString(out, s, len);
	else
		appendBinaryStringInfo(out, s, (int) len);
}

static void
append_float(StringInfo out, double f, bool is_float4)
{
	char		buf[32];

	if (isnan(f))
		appendStringInfoString(out, "\"NaN\"");
	else if (isinf(f))
		appendStringInfoString(out, f > 0 ? "\"Infinity\"" : "\"-Infinity\"");
	else if (is_float4)
		appendBinaryStringInfo(out, buf, float_to_shortest_decimal_buf((float) f, buf));
	else
		appendBinaryStringInfo(out, buf, double_to_shortest_decimal_buf(f, buf));
}

static void
append_int64(StringInfo out, int64 v, bool numeric_as_string)
{
	if (numeric_as_string && (v > CDC_JS_MAX_SAFE || v < -CDC_JS_MAX_SAFE))
	{
		appendStringInfoCharMacro(out, '"');
		CdcAppendInt64(out, v);
		appendStringInfoCharMacro(out, '"');
	}
	else
		CdcAppendInt64(out, v);
}

static void
append_bytea(StringInfo out, Datum value)
{
	bytea	   *b = DatumGetByteaPP(value);
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
	memcpy(p, "\"\\\\x", 4);
	p = CdcHexEncode(p + 4, (const unsigned char *) VARDATA_ANY(b), n);
	*p++ = '"';
	*p = '\0';
	out->len = (int) (p - out->data);
}

static void append_value(StringInfo out, const CdcType *type, Datum value,
						 bool numeric_as_string);

/*
 * Elements [*pos, ...) of one dimension of an array, as nested JSON arrays
 * the way to_json() writes a multi-dimensional array.
 */
static void
append_array_dim(StringInfo out, const CdcType *elem, int dim, int ndims,
				 const int *dims, Datum *elems, bool *nulls, int *pos,
				 bool numeric_as_string)
{
	appendStringInfoCharMacro(out, '[');
	for (int i = 0; i < dims[dim]; i++)
	{
		if (i > 0)
			appendStringInfoCharMacro(out, ',');
		if (dim + 1 < ndims)
			append_array_dim(out, elem, dim + 1, ndims, dims, elems, nulls, pos,
							 numeric_as_string);
		else
		{
			if (nulls[*pos])
				appendBinaryStringInfo(out, "null", 4);
			else
				append_value(out, elem, elems[*pos], numeric_as_string);
			(*pos)++;
		}
	}
	appendStringInfoCharMacro(out, ']');
}

static void
append_array(StringInfo out, const CdcType *type, Datum value, bool numeric_as_string)
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
	deconstruct_array(arr, type->elem_typid, type->elem_len, type->elem_byval,
					  type->elem_align, &elems, &nulls, &nelems);
	append_array_dim(out, type->elem, 0, ndims, ARR_DIMS(arr), elems, nulls, &pos,
					 numeric_as_string);
}

/* A composite value as an object of its attributes, in attribute order. */
static void
append_composite(StringInfo out, const CdcType *type, Datum value,
				 bool numeric_as_string)
{
	HeapTupleHeader td = DatumGetHeapTupleHeader(value);
	HeapTupleData tup;
	Datum	   *values = palloc(sizeof(Datum) * Max(type->desc->natts, 1));
	bool	   *nulls = palloc(sizeof(bool) * Max(type->desc->natts, 1));

	tup.t_len = HeapTupleHeaderGetDatumLength(td);
	ItemPointerSetInvalid(&tup.t_self);
	tup.t_tableOid = InvalidOid;
	tup.t_data = td;
	heap_deform_tuple(&tup, type->desc, values, nulls);

	appendStringInfoCharMacro(out, '{');
	for (int i = 0; i < type->ncols; i++)
	{
		const CdcColumn *col = &type->cols[i];
		int			a = col->attnum - 1;

		if (i > 0)
			appendStringInfoCharMacro(out, ',');
		appendBinaryStringInfo(out, col->key, col->keylen);
		if (nulls[a])
			appendBinaryStringInfo(out, "null", 4);
		else
			append_value(out, col->type, values[a], numeric_as_string);
	}
	appendStringInfoCharMacro(out, '}');
}

/* One non-null value of a type, by its category. */
static void
append_value(StringInfo out, const CdcType *type, Datum value, bool numeric_as_string)
{
	switch (type->enc)
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
			append_float(out, DatumGetFloat4(value), true);
			break;
		case CDC_ENC_FLOAT8:
			append_float(out, DatumGetFloat8(value), false);
			break;
		case CDC_ENC_NUMERIC:
			{
				char	   *s = DatumGetCString(DirectFunctionCall1(numeric_out, value));

				append_number_text(out, s, strlen(s), numeric_as_string);
				break;
			}
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
			{
				char		buf[38];

				buf[0] = '"';
				CdcFormatUuid(buf + 1, value);
				buf[37] = '"';
				appendBinaryStringInfo(out, buf, 38);
				break;
			}
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
		case CDC_ENC_TIME:
		case CDC_ENC_TIMETZ:
		case CDC_ENC_TIMESTAMP:
		case CDC_ENC_TIMESTAMPTZ:
			{
				/* ASCII digits, signs, colons, letters: nothing to escape */
				char		buf[CDC_DATETIME_BUFLEN + 2];
				int			n = CdcFormatDateTime(buf + 1, value, type->enc);

				buf[0] = '"';
				buf[n + 1] = '"';
				appendBinaryStringInfo(out, buf, n + 2);
				break;
			}
		case CDC_ENC_BYTEA:
			append_bytea(out, value);
			break;
		case CDC_ENC_ARRAY:
			append_array(out, type, value, numeric_as_string);
			break;
		case CDC_ENC_COMPOSITE:
			append_composite(out, type, value, numeric_as_string);
			break;
		case CDC_ENC_CAST:
			{
				/* a superuser's cast to json: its json text, embedded */
				text	   *t = CdcCastToJson(type, value);

				if (t != NULL)
				{
					appendBinaryStringInfo(out, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
					break;
				}
				{
					/* the cast failed: the type's output text (column.c) */
					char	   *s = OidOutputFunctionCall(type->outfunc, value);

					CdcAppendJsonString(out, s, strlen(s));
				}
				break;
			}
		case CDC_ENC_STRING:
			{
				char	   *s = OutputFunctionCall((FmgrInfo *) &type->func, value);

				CdcAppendJsonString(out, s, strlen(s));
				break;
			}
	}
}

/*
 * One non-null value of a type as JSON text.  Also what the jsonb writer
 * stores, as a string, for a value jsonb cannot hold.
 */
void
CdcAppendValue(StringInfo out, const CdcType *type, Datum value,
			   bool numeric_as_string)
{
	append_value(out, type, value, numeric_as_string);
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
		if (!CdcGetValue(re, col, row, fallback, &d, &isnull))
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
			append_value(out, col->type, d, numeric_as_string);
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

		if (!CdcGetValue(re, col, row, fallback, &d, &isnull))
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
			append_value(out, col->type, d, numeric_as_string);
	}
	if (re->nkeys > 1)
		appendStringInfoCharMacro(out, '}');
}
