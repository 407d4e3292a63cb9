/*
 * reshape.c
 *		A row image (jsonb object keyed by column name) or entity_id as a
 *		role may receive it: narrowed to the columns it may see, and with
 *		inexact numbers (int8, numeric) as strings for numeric_as_string.
 *		No catalog access: what may be seen comes in a RelShape
 *		(privileges.c).
 */
#include "read_filter.h"

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "cdc_json.h"

/* Index of the column named key[0..len) in shape, or -1. */
static int
find_column(const RelShape *shape, const char *key, int len)
{
	for (int c = 0; c < shape->ncols; c++)
		if (strncmp(shape->names[c], key, len) == 0 && shape->names[c][len] == '\0')
			return c;
	return -1;
}

/* Is v a number a double would round? */
static bool
number_is_inexact(const JsonbValue *v)
{
	char	   *s;
	bool		exact;

	if (v->type != jbvNumeric)
		return false;
	s = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	exact = cdc_json_number_is_exact_double(s, strlen(s));
	pfree(s);
	return !exact;
}

/* Does v (a number, or an array of numbers and arrays) hold an inexact number? */
static bool
value_needs_strings(JsonbValue *v)
{
	JsonbIterator *it;
	JsonbValue	e;
	JsonbIteratorToken tok;

	if (v->type == jbvNumeric)
		return number_is_inexact(v);
	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		return false;
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
		if (tok == WJB_ELEM && value_needs_strings(&e))
			return true;
	return false;
}

static void
number_to_string(JsonbValue *v)
{
	char	   *s = DatumGetCString(DirectFunctionCall1(numeric_out,
													  NumericGetDatum(v->val.numeric)));

	v->type = jbvString;
	v->val.string.val = s;
	v->val.string.len = strlen(s);
}

/* Push v (tok WJB_VALUE or WJB_ELEM), its inexact numbers as strings. */
static void
push_converted(JsonbParseState **ps, JsonbIteratorToken tok, JsonbValue *v)
{
	if (v->type == jbvNumeric)
	{
		if (number_is_inexact(v))
			number_to_string(v);
		pushJsonbValue(ps, tok, v);
	}
	else if (v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data))
	{
		JsonbIterator *it = JsonbIteratorInit(v->val.binary.data);
		JsonbValue	e;
		JsonbIteratorToken t;

		while ((t = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
		{
			if (t == WJB_ELEM)
				push_converted(ps, WJB_ELEM, &e);
			else
				pushJsonbValue(ps, t, NULL);
		}
	}
	else
		pushJsonbValue(ps, tok, v);
}

/*
 * Reshape a row image (a jsonb object keyed by column name): drop the
 * columns the role may not see (narrow), turn inexact numbers of numeric
 * columns into strings (numbers).  Returns the original datum when nothing
 * changes, so that the common case costs one walk over the keys at most.
 * Columns the catalog does not know (renamed or dropped since the change)
 * are dropped when narrowing and treated as numeric otherwise.
 */
Datum
CdcReshapeObject(const RelShape *shape, Datum d, bool narrow, bool numbers)
{
	Jsonb	   *jb = DatumGetJsonbP(d);
	JsonbIterator *it;
	JsonbValue	k,
				v;
	JsonbIteratorToken tok;
	bool		change = false;
	JsonbParseState *ps = NULL;
	JsonbValue *res = NULL;

	if (!JB_ROOT_IS_OBJECT(jb))
		return d;
	/* first pass: anything to change? */
	it = JsonbIteratorInit(&jb->root);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE && !change)
	{
		int			c;

		if (tok != WJB_KEY)
			continue;
		tok = JsonbIteratorNext(&it, &v, true);
		c = shape ? find_column(shape, k.val.string.val, k.val.string.len) : -1;
		if (narrow && (c < 0 || !shape->allowed[c]))
			change = true;
		else if (numbers && (c < 0 || shape->numeric[c]) && value_needs_strings(&v))
			change = true;
	}
	if (!change)
		return d;

	it = JsonbIteratorInit(&jb->root);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		int			c;

		if (tok != WJB_KEY)
		{
			res = pushJsonbValue(&ps, tok, NULL);
			continue;
		}
		tok = JsonbIteratorNext(&it, &v, true);
		c = shape ? find_column(shape, k.val.string.val, k.val.string.len) : -1;
		if (narrow && (c < 0 || !shape->allowed[c]))
			continue;
		pushJsonbValue(&ps, WJB_KEY, &k);
		if (numbers && (c < 0 || shape->numeric[c]))
			push_converted(&ps, WJB_VALUE, &v);
		else
			pushJsonbValue(&ps, WJB_VALUE, &v);
	}
	return JsonbPGetDatum(JsonbValueToJsonb(res));
}

/* entity_id: one key column's value, or an object of them. */
Datum
CdcReshapeKey(const RelShape *shape, Datum d)
{
	Jsonb	   *jb = DatumGetJsonbP(d);
	JsonbValue	v;

	if (JB_ROOT_IS_OBJECT(jb))
		return CdcReshapeObject(shape, d, false, true);
	if (!JB_ROOT_IS_SCALAR(jb) || !JsonbExtractScalar(&jb->root, &v))
		return d;
	if (shape && shape->key_col >= 0 && !shape->numeric[shape->key_col])
		return d;
	if (!number_is_inexact(&v))
		return d;
	number_to_string(&v);
	return JsonbPGetDatum(JsonbValueToJsonb(&v));
}

/* Every inexact number of a jsonb value as a string (no catalog knowledge). */
Datum
CdcJsonbNumbersAsStrings(Datum jsonb, bool *changed)
{
	Datum		r;

	r = CdcReshapeKey(NULL, jsonb);
	*changed = r != jsonb;
	return r;
}

/* text[] of column names, without those the role may not see (NULL if none left). */
Datum
CdcNarrowNames(const RelShape *shape, Datum d, bool *isnull)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			kept = 0;

	deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		text	   *t;
		int			c;

		if (nulls[i])
			continue;
		t = DatumGetTextPP(elems[i]);
		c = find_column(shape, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
		if (c >= 0 && shape->allowed[c])
			elems[kept++] = elems[i];
	}
	if (kept == 0)
	{
		*isnull = true;
		return (Datum) 0;
	}
	return PointerGetDatum(construct_array(elems, kept, TEXTOID, -1, false, TYPALIGN_INT));
}

/* May the role see column attnum of rule's table today? */
static bool
attnum_allowed(const RelRule *rule, const JsonbValue *v)
{
	int32		a;

	if (v == NULL || v->type != jbvNumeric)
		return false;
	a = DatumGetInt32(DirectFunctionCall1(numeric_int4, NumericGetDatum(v->val.numeric)));
	return a >= 1 && a <= rule->natts && rule->att_allowed[a - 1];
}

/*
 * A schema entry's shape (src/log/schema.c: {"columns": [{"attnum", "name",
 * ...}], "key": [names], ...}) as a role with column privileges only may
 * receive it: the columns it may SELECT today, identified by attnum (a
 * column dropped since is seen by nobody), and the key names among them.
 * Everything else of the object is kept.
 */
Datum
CdcNarrowShape(const RelRule *rule, Datum d)
{
	Jsonb	   *jb = DatumGetJsonbP(d);
	JsonbValue *cols;
	JsonbParseState *ps = NULL;
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	k,
				v;

	if (!JB_ROOT_IS_OBJECT(jb))
		return d;
	cols = getKeyJsonValueFromContainer(&jb->root, "columns", 7, NULL);
	(void) pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	it = JsonbIteratorInit(&jb->root);
	tok = JsonbIteratorNext(&it, &k, true);
	while ((tok = JsonbIteratorNext(&it, &k, true)) == WJB_KEY)
	{
		bool		is_cols = k.val.string.len == 7 && memcmp(k.val.string.val, "columns", 7) == 0;
		bool		is_key = k.val.string.len == 3 && memcmp(k.val.string.val, "key", 3) == 0;

		tok = JsonbIteratorNext(&it, &v, true);
		(void) pushJsonbValue(&ps, WJB_KEY, &k);
		if ((is_cols || is_key) && v.type == jbvBinary)
		{
			JsonbIterator *ai = JsonbIteratorInit(v.val.binary.data);
			JsonbValue	e;

			(void) pushJsonbValue(&ps, WJB_BEGIN_ARRAY, NULL);
			while ((tok = JsonbIteratorNext(&ai, &e, true)) != WJB_DONE)
			{
				if (tok != WJB_ELEM)
					continue;
				if (is_cols && e.type == jbvBinary)
				{
					if (attnum_allowed(rule, getKeyJsonValueFromContainer(e.val.binary.data, "attnum", 6, NULL)))
						(void) pushJsonbValue(&ps, WJB_ELEM, &e);
				}
				else if (is_key && e.type == jbvString)
				{
					/* a key name is kept when a visible column has it */
					bool		keep = false;

					if (cols != NULL && cols->type == jbvBinary)
					{
						JsonbIterator *ci = JsonbIteratorInit(cols->val.binary.data);
						JsonbValue	c;

						while ((tok = JsonbIteratorNext(&ci, &c, true)) != WJB_DONE && !keep)
						{
							JsonbValue *name;

							if (tok != WJB_ELEM || c.type != jbvBinary)
								continue;
							name = getKeyJsonValueFromContainer(c.val.binary.data, "name", 4, NULL);
							keep = name != NULL && name->type == jbvString &&
								name->val.string.len == e.val.string.len &&
								memcmp(name->val.string.val, e.val.string.val, e.val.string.len) == 0 &&
								attnum_allowed(rule, getKeyJsonValueFromContainer(c.val.binary.data, "attnum", 6, NULL));
						}
					}
					if (keep)
						(void) pushJsonbValue(&ps, WJB_ELEM, &e);
				}
			}
			(void) pushJsonbValue(&ps, WJB_END_ARRAY, NULL);
		}
		else
			(void) pushJsonbValue(&ps, WJB_VALUE, &v);
	}
	return JsonbPGetDatum(JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_OBJECT, NULL)));
}
