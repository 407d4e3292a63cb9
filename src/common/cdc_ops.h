/*
 * cdc_ops.h
 *		The kinds of change cdc_ext reports, as one table of {label, bit}
 *		shared by the plugin (the "operations" option, each entry's
 *		"operation"), the log (cdc.operation's labels, in the enum's order:
 *		src/log/log.sql) and the API (operations arguments and columns).
 *		Pure C, unit-tested (test/unit/test_ops.c).
 */
#ifndef CDC_OPS_H
#define CDC_OPS_H

/* Operations, as bits of a filter mask. */
#define CDC_OP_INSERT	0x01
#define CDC_OP_UPDATE	0x02
#define CDC_OP_DELETE	0x04
#define CDC_OP_TRUNCATE 0x08
/* the row operations: what a filter passes when it names none */
#define CDC_OP_ALL		(CDC_OP_INSERT | CDC_OP_UPDATE | CDC_OP_DELETE | CDC_OP_TRUNCATE)
/*
 * A table's shape changed (DDL: src/log/schema.c, src/plugin/schema.c).
 * In a filter's mask only when named: a reader that applies entries as rows
 * (the exactly-once sink pattern) gets no shape unless it asks for them.
 */
#define CDC_OP_SCHEMA	0x20
#define CDC_OP_FILTERABLE (CDC_OP_ALL | CDC_OP_SCHEMA)
/* not part of a filter mask: logical messages are chosen by prefix */
#define CDC_OP_MESSAGE	0x10
/*
 * Not part of a filter mask either: a backfill's rows (src/log/backfill.c),
 * logged for the one consumer or group that asked, which receives them
 * whatever its operations filter says.
 */
#define CDC_OP_READ		0x40

typedef struct CdcOperation
{
	const char *label;			/* as in ChangeEntry.operation and cdc.operation */
	unsigned int bit;			/* CDC_OP_* */
} CdcOperation;

/* Every operation, in the order of cdc.operation's labels. */
#define CDC_N_OPERATIONS 7
extern const CdcOperation cdc_operations[CDC_N_OPERATIONS];

/* The bit of an operation's label (exact, lower case); 0 if it names none. */
extern unsigned int cdc_operation_bit(const char *label);

/* The position in cdc_operations of a single CDC_OP_* bit; -1 if none. */
extern int	cdc_operation_index(unsigned int bit);

/*
 * The CDC_OP_* bit of a filter operation (insert, update, delete,
 * truncate, schema: what a filter's mask holds), 0 for anything else, 'message'
 * and 'read' included (messages are chosen by prefix, reads by who asked).
 */
extern int	CdcParseOperation(const char *label);

#endif
