/*
 * entry_jsonb.c
 *		The jsonb writer: rows and keys of a ChangeEntry as jsonb datums, for
 *		the typed sink (the log writer decodes in process: src/log/sink.c).
 *
 * The same values as entry_json.c writes, by the same categories
 * (column.c), built from the datums directly rather than by writing JSON
 * text and parsing it back.  Scalars become jsonb scalars (integers and
 * floats as numeric, the way to_jsonb() makes them from their text);
 * arrays and composites are pushed element by element.  The only parse
 * left is of json text: json columns and superuser-owned casts to json.
 *
 * Fallback: json text that jsonb cannot hold (a \u0000, a \u
 * escape the server encoding cannot represent, a number beyond numeric's
 * range, a value past jsonb's size limits) must not stop the log.  Such a
 * column, and any array or composite column holding such json, is given as
 * a jsonb string holding the column's exact JSON text (what entry_json.c
 * writes), and its name is added to the change's fallback list.
 *
 * A superuser's cast to json that fails on a value (column.c,
 * CdcCastToJson) gives that value in the same fallback form: its JSON text
 * (the type's output text, as a JSON string), as a string.
 *
 * A row whose values jsonb cannot hold at all (one jsonb object holds at
 * most 256 MB of values) must not stop the log either.  Whether a value
 * fits is decided before it is converted, from a bound of its converted
 * size (value_size_bound: bytea's hex text is twice its stored size, an
 * array of small numbers many times); a value whose bound does not fit in
 * what is left of CDC_JSONB_ROW_MAX, counted in the order columns are
 * pushed, is converted alone and measured (large_value), and given as null
 * and named in the fallback list when it still does not fit (a fallback
 * column holding null: left out for its size; holding a string: its JSON
 * text).
 */
#include "cdc_plugin.h"

#include <math.h>

#include "access/detoast.h"
#include "access/htup_details.h"
#include "access/xact.h"
#include "utils/resowner.h"
#include "common/shortest_dec.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "cdc_json.h"

static void
set_string(JsonbValue *v, const char *s, size_t len)
{
	v->type = jbvString;
	v->val.string.val = (char *) s;
	v->val.string.len = (int) len;
}

/* A number's text as a jsonb number, or a string where CdcNumberAsString says. */
static void
set_number_text(JsonbValue *v, const char *s, bool numeric_as_string)
{
	size_t		len = strlen(s);

	if (CdcNumberAsString(s, len, numeric_as_string))
		set_string(v, s, len);
	else
	{
		v->type = jbvNumeric;
		v->val.numeric = DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(s),
															 ObjectIdGetDatum(InvalidOid),
															 Int32GetDatum(-1)));
	}
}

/* A jsonb datum as a value to push (a container or a raw scalar). */
static void
set_binary(JsonbValue *v, Jsonb *jb)
{
	v->type = jbvBinary;
	v->val.binary.data = &jb->root;
	v->val.binary.len = VARSIZE(jb) - VARHDRSZ;
}

/* Errors of jsonb_in that mean "jsonb cannot hold this json". */
static bool
is_unholdable_json_error(int sqlerrcode)
{
	return ERRCODE_TO_CATEGORY(sqlerrcode) == ERRCODE_DATA_EXCEPTION ||
		sqlerrcode == ERRCODE_PROGRAM_LIMIT_EXCEEDED;
}

/*
 * json text as jsonb, in *v.  Returns false, with nothing raised, when
 * jsonb cannot hold it.  jsonb_in parses a C string and touches no catalog,
 * buffer or lock, so its error can be caught without a subtransaction: the
 * memory context is restored and the error state flushed.  Any other error
 * (out of memory, a cancel) is raised again.
 */
static bool
json_text_to_jsonb(text *json, JsonbValue *v)
{
	MemoryContext cxt = CurrentMemoryContext;
	char	   *s;
	Jsonb	   *volatile jb = NULL;

	if (json == NULL)
		return false;			/* a cast that failed (CdcCastToJson) */
	s = text_to_cstring(json);

	PG_TRY();
	{
		jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(s)));
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		if (!is_unholdable_json_error(edata->sqlerrcode))
			PG_RE_THROW();
		FlushErrorState();
		FreeErrorData(edata);
	}
	PG_END_TRY();
	if (jb == NULL)
		return false;
	set_binary(v, jb);
	return true;
}

/*
 * A value of a category that is neither a container nor json: integers,
 * floats, numeric, bool, text, name, uuid, date/time, bytea, output text.
 */
static void
scalar_value(const CdcType *type, Datum d, bool numeric_as_string, JsonbValue *v)
{
	char		buf[CDC_DATETIME_BUFLEN + 40];

	switch (type->enc)
	{
		case CDC_ENC_INT2:
		case CDC_ENC_INT4:
		case CDC_ENC_INT8:
			{
				int64		i = type->enc == CDC_ENC_INT2 ? DatumGetInt16(d) :
				type->enc == CDC_ENC_INT4 ? DatumGetInt32(d) : DatumGetInt64(d);

				if (numeric_as_string && (i > CDC_JS_MAX_SAFE || i < -CDC_JS_MAX_SAFE))
				{
					size_t		n = cdc_json_format_int64(buf, i);

					set_string(v, pnstrdup(buf, n), n);
				}
				else
				{
					v->type = jbvNumeric;
					v->val.numeric = int64_to_numeric(i);
				}
				break;
			}
		case CDC_ENC_FLOAT4:
		case CDC_ENC_FLOAT8:
			{
				double		f = type->enc == CDC_ENC_FLOAT4 ? DatumGetFloat4(d) : DatumGetFloat8(d);

				if (isnan(f))
					set_string(v, "NaN", 3);
				else if (isinf(f))
					set_string(v, f > 0 ? "Infinity" : "-Infinity", f > 0 ? 8 : 9);
				else
				{
					int			n = type->enc == CDC_ENC_FLOAT4 ?
					float_to_shortest_decimal_buf(DatumGetFloat4(d), buf) :
					double_to_shortest_decimal_buf(f, buf);

					buf[n] = '\0';
					set_number_text(v, pstrdup(buf), false);
				}
				break;
			}
		case CDC_ENC_NUMERIC:
			{
				Numeric		num = DatumGetNumeric(d);

				if (numeric_is_nan(num) || numeric_is_inf(num) || numeric_as_string)
					set_number_text(v, DatumGetCString(DirectFunctionCall1(numeric_out, d)),
									numeric_as_string);
				else
				{
					v->type = jbvNumeric;
					v->val.numeric = num;
				}
				break;
			}
		case CDC_ENC_BOOL:
			v->type = jbvBool;
			v->val.boolean = DatumGetBool(d);
			break;
		case CDC_ENC_TEXT:
			{
				text	   *t = DatumGetTextPP(d);

				set_string(v, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
				break;
			}
		case CDC_ENC_NAME:
			{
				const char *n = NameStr(*DatumGetName(d));

				set_string(v, n, strlen(n));
				break;
			}
		case CDC_ENC_UUID:
			{
				char	   *u = palloc(36);

				CdcFormatUuid(u, d);
				set_string(v, u, 36);
				break;
			}
		case CDC_ENC_DATE:
		case CDC_ENC_TIME:
		case CDC_ENC_TIMETZ:
		case CDC_ENC_TIMESTAMP:
		case CDC_ENC_TIMESTAMPTZ:
			{
				int			n = CdcFormatDateTime(buf, d, type->enc);

				set_string(v, pnstrdup(buf, n), n);
				break;
			}
		case CDC_ENC_BYTEA:
			{
				bytea	   *b = DatumGetByteaPP(d);
				size_t		n = VARSIZE_ANY_EXHDR(b);
				char	   *s = palloc(n * 2 + 2);

				s[0] = '\\';
				s[1] = 'x';
				(void) CdcHexEncode(s + 2, (const unsigned char *) VARDATA_ANY(b), n);
				set_string(v, s, n * 2 + 2);
				break;
			}
		case CDC_ENC_STRING:
			{
				char	   *s = OutputFunctionCall((FmgrInfo *) &type->func, d);

				set_string(v, s, strlen(s));
				break;
			}
		default:
			elog(ERROR, "cdc_ext: category %d is not scalar", (int) type->enc);
	}
}

static bool push_value(JsonbParseState **ps, JsonbIteratorToken tok,
					   const CdcType *type, Datum d, bool numeric_as_string);

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

/* One dimension of an array as jsonb arrays, as entry_json.c writes it. */
static bool
push_array_dim(JsonbParseState **ps, const CdcType *elem, int dim, int ndims,
			   const int *dims, Datum *elems, bool *nulls, int *pos,
			   bool numeric_as_string)
{
	(void) pushJsonbValue(ps, WJB_BEGIN_ARRAY, NULL);
	for (int i = 0; i < dims[dim]; i++)
	{
		if (dim + 1 < ndims)
		{
			if (!push_array_dim(ps, elem, dim + 1, ndims, dims, elems, nulls, pos,
								numeric_as_string))
				return false;
		}
		else
		{
			if (nulls[*pos])
				push_null(ps, WJB_ELEM);
			else if (!push_value(ps, WJB_ELEM, elem, elems[*pos], numeric_as_string))
				return false;
			(*pos)++;
		}
	}
	(void) pushJsonbValue(ps, WJB_END_ARRAY, NULL);
	return true;
}

static bool
push_array(JsonbParseState **ps, const CdcType *type, Datum value,
		   bool numeric_as_string)
{
	ArrayType  *arr = DatumGetArrayTypeP(value);
	int			ndims = ARR_NDIM(arr);
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	int			pos = 0;

	if (ndims <= 0 || ArrayGetNItems(ndims, ARR_DIMS(arr)) == 0)
	{
		(void) pushJsonbValue(ps, WJB_BEGIN_ARRAY, NULL);
		(void) pushJsonbValue(ps, WJB_END_ARRAY, NULL);
		return true;
	}
	deconstruct_array(arr, type->elem_typid, type->elem_len, type->elem_byval,
					  type->elem_align, &elems, &nulls, &nelems);
	return push_array_dim(ps, type->elem, 0, ndims, ARR_DIMS(arr), elems, nulls,
						  &pos, numeric_as_string);
}

/* A composite value as a jsonb object of its attributes. */
static bool
push_composite(JsonbParseState **ps, const CdcType *type, Datum value,
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

	(void) pushJsonbValue(ps, WJB_BEGIN_OBJECT, NULL);
	for (int k = 0; k < type->ncols; k++)
	{
		const CdcColumn *col = &type->cols[type->jsonb_order[k]];
		int			a = col->attnum - 1;

		push_key(ps, col);
		if (nulls[a])
			push_null(ps, WJB_VALUE);
		else if (!push_value(ps, WJB_VALUE, col->type, values[a], numeric_as_string))
			return false;
	}
	(void) pushJsonbValue(ps, WJB_END_OBJECT, NULL);
	return true;
}

/* The json text of a json value or of a superuser's cast to json. */
static text *
json_text_of(const CdcType *type, Datum d)
{
	if (type->enc == CDC_ENC_CAST)
		return CdcCastToJson(type, d);	/* NULL when it failed */
	return DatumGetTextPP(d);
}

/*
 * Push one non-null value as tok (WJB_VALUE or WJB_ELEM).  Returns false
 * when it holds json that jsonb cannot hold; *ps is then half built and
 * must be dropped (only types with has_json can fail).
 */
static bool
push_value(JsonbParseState **ps, JsonbIteratorToken tok, const CdcType *type,
		   Datum d, bool numeric_as_string)
{
	JsonbValue	v;

	switch (type->enc)
	{
		case CDC_ENC_ARRAY:
			return push_array(ps, type, d, numeric_as_string);
		case CDC_ENC_COMPOSITE:
			return push_composite(ps, type, d, numeric_as_string);
		case CDC_ENC_JSON:
		case CDC_ENC_CAST:
			if (!json_text_to_jsonb(json_text_of(type, d), &v))
				return false;
			break;
		case CDC_ENC_JSONB:
			set_binary(&v, DatumGetJsonbP(d));
			break;
		default:
			scalar_value(type, d, numeric_as_string, &v);
			break;
	}
	(void) pushJsonbValue(ps, tok, &v);
	return true;
}

/*
 * One non-null value on its own, in *v: a scalar, or a jsonb container as
 * jbvBinary.  Returns false when it holds json that jsonb cannot hold.
 */
static bool
value_alone(const CdcType *type, Datum d, bool numeric_as_string, JsonbValue *v)
{
	switch (type->enc)
	{
		case CDC_ENC_JSON:
		case CDC_ENC_CAST:
			return json_text_to_jsonb(json_text_of(type, d), v);
		case CDC_ENC_JSONB:
			set_binary(v, DatumGetJsonbP(d));
			return true;
		case CDC_ENC_ARRAY:
		case CDC_ENC_COMPOSITE:
			{
				/* built as the one element of an array, then taken out */
				JsonbParseState *sub = NULL;
				JsonbValue *arr;
				Jsonb	   *jb;

				(void) pushJsonbValue(&sub, WJB_BEGIN_ARRAY, NULL);
				if (!push_value(&sub, WJB_ELEM, type, d, numeric_as_string))
					return false;
				arr = pushJsonbValue(&sub, WJB_END_ARRAY, NULL);
				jb = JsonbValueToJsonb(arr);
				*v = *getIthJsonbValueFromContainer(&jb->root, 0);
				return true;
			}
		default:
			scalar_value(type, d, numeric_as_string, v);
			return true;
	}
}

/* What one row's values may add up to in jsonb (its limit is 256 MB), with room to spare. */
#define CDC_JSONB_ROW_MAX CDC_JSONB_VALUE_MAX

/*
 * An upper bound of what a non-null value of a varlena column adds to a
 * jsonb object, decided from its stored size before any conversion (so
 * that a value past jsonb's limits is never converted, and the error it
 * would raise can never stop the log).  Text and jsonb are stored as they
 * are; bytea's hex text is twice as long; a number's text can be far longer
 * than its stored form only with numeric_as_string.  Containers and text
 * written by output functions have no tight bound from their stored size
 * (an array of nulls grows 32 times: a bit stored, a 4-byte entry in jsonb;
 * and its parse state holds a JsonbValue per element), hence the factor for
 * values up to CDC_MEASURE_ABOVE; larger ones, and any whose bound does not
 * fit, are converted alone and measured (large_value): an int[] of 17
 * million nulls (24 kB stored) needed a 1 GB parse state and stopped the
 * log.
 */
#define CDC_MEASURE_ABOVE ((Size) 1024 * 1024)
/* What one row's jsonb may read as text (the limit is 1 GB), with room to spare. */
#define CDC_TEXT_ROW_MAX ((Size) 900 * 1024 * 1024)

static Size
value_size_bound(const CdcType *type, Size raw, bool numeric_as_string)
{
	switch (type->enc)
	{
		case CDC_ENC_TEXT:
		case CDC_ENC_JSONB:
			return raw + 16;
		case CDC_ENC_BYTEA:
			return 2 * raw + 16;
		case CDC_ENC_NUMERIC:
			return numeric_as_string ? 160 * 1024 : raw + 16;
		default:
			/* a MB and more: converted alone and measured, always */
			if (raw > CDC_MEASURE_ABOVE)
				return CDC_JSONB_ROW_MAX + 1;
			return 40 * raw + 64;
	}
}

/* Name col in *fallback_columns (once, whichever of key and rows met it). */
static void
add_fallback(List **fallback_columns, const CdcColumn *col)
{
	if (fallback_columns != NULL && !list_member_ptr(*fallback_columns, col->name))
		*fallback_columns = lappend(*fallback_columns, col->name);
}

/*
 * One non-null column value, as tok.  A column that may hold json jsonb
 * cannot take is built on its own first, so that a failure leaves *ps
 * intact: it is then given in the fallback form (its JSON text as a
 * string) and named in *fallback_columns.
 */
static void
push_column(JsonbParseState **ps, JsonbIteratorToken tok, const CdcColumn *col,
			Datum d, bool numeric_as_string, List **fallback_columns)
{
	JsonbValue	v;

	if (!col->type->has_json)
	{
		(void) push_value(ps, tok, col->type, d, numeric_as_string);
		return;
	}
	if (!value_alone(col->type, d, numeric_as_string, &v))
	{
		StringInfoData s;

		initStringInfo(&s);
		CdcAppendValue(&s, col->type, d, numeric_as_string);
		set_string(&v, s.data, s.len);
		add_fallback(fallback_columns, col);
	}
	(void) pushJsonbValue(ps, tok, &v);
}

typedef struct AloneCall
{
	const CdcType *type;
	Datum		d;
	bool		numeric_as_string;
	JsonbValue *v;
	Size		room;
	Size		size;			/* out: what it adds, 0 when it does not fit */
} AloneCall;

/* large_value's conversion, run by CdcRunCaught. */
static void
alone_call(void *arg)
{
	AloneCall  *c = arg;

	c->size = 0;
	if (value_alone(c->type, c->d, c->numeric_as_string, c->v))
	{
		Jsonb	   *jb = JsonbValueToJsonb(c->v);

		c->size = VARSIZE(jb) + 16;
		if (c->size <= c->room)
			set_binary(c->v, jb);
		else
			c->size = 0;
	}
}

/*
 * A varlena value whose size bound does not fit in the room the row has
 * left, converted on its own and measured: returns what it adds to the
 * row (its value in *v), or 0 when it does not fit in room or jsonb cannot
 * hold it at all; the caller then gives null and names the column in the
 * fallback list.  Strings are sized before they are made (text as stored,
 * bytea's hex); anything else is built alone in a subtransaction, so that
 * jsonb's own limit errors (an array whose elements pass 256 MB) are
 * caught without leaving half-built state.  Rare: only values of many MB.
 */
static Size
large_value(const CdcColumn *col, Datum d, bool numeric_as_string, Size room,
			JsonbValue *v, List **fallback_columns)
{
	const CdcType *type = col->type;
	AloneCall	call = {type, d, numeric_as_string, v, room, 0};
	ErrorData  *edata;

	if (type->enc == CDC_ENC_TEXT || type->enc == CDC_ENC_BYTEA ||
		type->enc == CDC_ENC_JSONB)
	{
		Size		raw = toast_raw_datum_size(d);

		if (value_size_bound(type, raw, numeric_as_string) > room)
			return 0;
		if (!value_alone(type, d, numeric_as_string, v))
			return 0;
		return value_size_bound(type, raw, numeric_as_string);
	}

	edata = CdcRunCaught(alone_call, &call);
	if (edata != NULL)
	{
		FreeErrorData(edata);
		return 0;
	}
	return call.size;
}

/*
 * CdcAppendRow's row as a jsonb datum.  Columns given in the fallback form
 * are appended to *fallback_columns.
 */
Datum
CdcRowToJsonb(CdcRelEntry *re, const CdcRow *row, const CdcRow *fallback,
			  bool only_replident, bool numeric_as_string,
			  List **unchanged_toast, List **fallback_columns)
{
	JsonbParseState *ps = NULL;
	JsonbValue *res;
	Size		total = 0;
	Size		text_total = 0;

	/* unchanged TOAST columns, named in the order of the table */
	if (unchanged_toast != NULL)
		for (int i = 0; i < re->ncols; i++)
		{
			CdcColumn  *col = &re->cols[i];
			Datum		d;
			bool		isnull;

			if (!(only_replident && !col->is_replident) &&
				!CdcGetValue(re, col, row, fallback, &d, &isnull))
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
		if (!CdcGetValue(re, col, row, fallback, &d, &isnull))
			continue;
		push_key(&ps, col);
		if (isnull)
		{
			push_null(&ps, WJB_VALUE);
			continue;
		}
		if (TupleDescAttr(re->desc, col->attnum - 1)->attlen == -1)
		{
			/* a varlena's size as stored, without detoasting it */
			Size		raw = toast_raw_datum_size(d);
			Size		bound = value_size_bound(col->type, raw, numeric_as_string);

			/*
			 * What the row's jsonb reads as text: a string is stored as it
			 * is but read escaped (a control character is six bytes), and
			 * a row whose text passes 1 GB can be logged but never read (a
			 * consumer would stop at it for good).  Large strings are
			 * measured escaped, small ones bounded; other values count as
			 * their jsonb size.
			 */
			if (col->type->enc == CDC_ENC_TEXT)
			{
				Size		escaped = 6 * raw + 2;

				if (raw > CDC_MEASURE_ABOVE || text_total + escaped > CDC_TEXT_ROW_MAX)
				{
					text	   *t = DatumGetTextPP(d);

					escaped = cdc_json_escaped_len(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t),
												   GetDatabaseEncoding() == PG_UTF8) + 2;
				}
				text_total += escaped;
			}
			else
				text_total += bound;
			if (text_total > CDC_TEXT_ROW_MAX)
			{
				push_null(&ps, WJB_VALUE);
				add_fallback(fallback_columns, col);
				continue;
			}

			if (total + bound > CDC_JSONB_ROW_MAX)
			{
				/* too large to convert blindly: convert it alone, measured */
				JsonbValue	v;
				Size		sz = large_value(col, d, numeric_as_string,
											 CDC_JSONB_ROW_MAX - total, &v,
											 fallback_columns);

				if (sz == 0)
				{
					push_null(&ps, WJB_VALUE);
					add_fallback(fallback_columns, col);
				}
				else
				{
					(void) pushJsonbValue(&ps, WJB_VALUE, &v);
					total += sz;
				}
				continue;
			}
			total += bound;
		}
		else
			total += 64;
		push_column(&ps, WJB_VALUE, col, d, numeric_as_string, fallback_columns);
	}
	res = pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	return JsonbPGetDatum(JsonbValueToJsonb(res));
}

/*
 * CdcAppendKey's entity_id as a jsonb datum; *isnull when it is null.
 * Key columns given in the fallback form are appended to *fallback_columns.
 */
Datum
CdcKeyToJsonb(CdcRelEntry *re, const CdcRow *row, const CdcRow *fallback,
			  bool numeric_as_string, bool *isnull, List **fallback_columns)
{
	JsonbParseState *ps = NULL;
	JsonbValue *res;
	Datum		values[INDEX_MAX_KEYS];
	bool		nulls[INDEX_MAX_KEYS];

	*isnull = true;
	if (re->nkeys == 0 || row == NULL)
		return (Datum) 0;
	for (int i = 0; i < re->nkeys; i++)
		if (!CdcGetValue(re, &re->cols[re->keys[i]], row, fallback, &values[i], &nulls[i]))
			return (Datum) 0;	/* a key value the WAL does not carry */

	*isnull = false;
	if (re->nkeys == 1)
	{
		CdcColumn  *col = &re->cols[re->keys[0]];
		JsonbValue	v;

		if (nulls[0])
			v.type = jbvNull;
		else if (!value_alone(col->type, values[0], numeric_as_string, &v))
		{
			StringInfoData s;

			initStringInfo(&s);
			CdcAppendValue(&s, col->type, values[0], numeric_as_string);
			set_string(&v, s.data, s.len);
			add_fallback(fallback_columns, col);
		}
		/* a scalar becomes a raw-scalar jsonb, a container is copied */
		return JsonbPGetDatum(JsonbValueToJsonb(&v));
	}

	(void) pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	for (int i = 0; i < re->nkeys; i++)
	{
		CdcColumn  *col = &re->cols[re->keys[i]];

		push_key(&ps, col);
		if (nulls[i])
			push_null(&ps, WJB_VALUE);
		else
			push_column(&ps, WJB_VALUE, col, values[i], numeric_as_string,
						fallback_columns);
	}
	res = pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	return JsonbPGetDatum(JsonbValueToJsonb(res));
}
