/*
 * read_filter.h
 *		Inside the read filter (CdcReadFilter, cdc_api.h), shared by the
 *		files that make it up: privileges.c (the decision per relation and
 *		CdcReadFilterApply), reshape.c (a row image narrowed to the columns
 *		a role may see, numbers as strings) and withheld.c (the tables a
 *		consumer's filters ask for that its owner would not receive).
 */
#ifndef CDC_READ_FILTER_H
#define CDC_READ_FILTER_H

#include "cdc_api.h"

#include "utils/hsearch.h"

typedef enum RelAccess
{
	REL_FULL,					/* every column */
	REL_COLUMNS,				/* some columns only */
	REL_NONE,					/* no SELECT at all */
	REL_SCHEMA,					/* no USAGE on the table's schema */
	REL_RLS,					/* row-level security applies: withheld */
	REL_DROPPED					/* table gone, role may not see it */
} RelAccess;

/*
 * The columns of a table as a change carried them: names (the keys of its
 * row images) with what the role may see of each, and whether it may see
 * the entity_id.  One per shape recorded in cdc.log_shape (by attnum: a
 * column's identity), plus one from the current catalog for changes logged
 * before any shape of the table was recorded (by name).
 */
typedef struct RelShape
{
	XLogRecPtr	commit_lsn;		/* in force from (commit_lsn, seq) */
	int32		seq;
	int			ncols;
	char	  **names;
	bool	   *allowed;
	bool	   *numeric;		/* int8/numeric (or arrays of them); unknown: true */
	bool		key_visible;
	int			key_col;		/* the one key column (index into names), or -1 */
} RelShape;

typedef struct RelRule
{
	Oid			relid;			/* hash key */
	/* the filter decision, for the entity name it was made for */
	char	   *entity;
	int			entity_len;
	uint8		ops;			/* CDC_OP_* passing every layer */
	/* privileges, computed on the first row that passes the filters */
	bool		checked;
	RelAccess	access;
	bool		catalog_known;	/* the shapes below are known */
	RelShape	current;		/* from the current catalog, by name */
	/* by attnum - 1, as the catalog is now: live and SELECT-able, numeric */
	int			natts;
	bool	   *att_allowed;
	bool	   *att_numeric;
	bool		shapes_loaded;
	int			nshapes;		/* recorded shapes, in cursor order */
	RelShape   *shapes;
} RelRule;

struct CdcReadFilter
{
	Oid			role;
	List	   *filters;		/* of CdcFilter * */
	bool		messages;
	bool		numeric_as_string;
	bool		role_sees_messages;
	bool		role_sees_dropped;
	Oid			op_oids[CDC_N_OPERATIONS];	/* cdc.operation, as cdc_operations */
	int32		audience;		/* whose backfill rows it receives (0: none) */
	MemoryContext cxt;
	HTAB	   *rels;
	RelRule    *last;
};

/* privileges.c: the filter layers' operations for an entity, and a rule's access */
extern uint8 CdcReadFilterOps(CdcReadFilter *rf, const char *entity);
extern void CdcReadFilterAccess(CdcReadFilter *rf, RelRule *rule);

/* reshape.c: row images and keys as the role may see them */
extern Datum CdcReshapeObject(const RelShape *shape, Datum d, bool narrow, bool numbers);
extern Datum CdcReshapeKey(const RelShape *shape, Datum d);
extern Datum CdcNarrowNames(const RelShape *shape, Datum d, bool *isnull);
extern Datum CdcNarrowShape(const RelRule *rule, Datum d);

#endif
