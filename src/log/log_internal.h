/*
 * log_internal.h
 *		What the files of src/log/ share among themselves (cdc_log.h is what
 *		the rest of cdc_ext may use).
 */
#ifndef CDC_LOG_INTERNAL_H
#define CDC_LOG_INTERNAL_H

#include "postgres.h"

#include "replication/logical.h"
#include "utils/timestamp.h"

#include "cdc_log.h"

/*
 * Is this library's version of cdc_ext installed in this database?  (in a
 * transaction)  An older version's SQL objects (the package was upgraded,
 * ALTER EXTENSION not yet run) have other tables: the writer waits for the
 * update and keeps its slot, so that nothing committed meanwhile is lost.
 */
#define CDC_SQL_VERSION "1.2"
typedef enum CdcLogPresence
{
	CDC_LOG_ABSENT,				/* no extension: a slot of ours is stale */
	CDC_LOG_OLD_VERSION,		/* an older version, not yet updated */
	CDC_LOG_PRESENT
} CdcLogPresence;
extern CdcLogPresence CdcLogPresent(void);

/* CdcOwnerBegin/End, the owner switch: cdc_log.h (the API uses it too) */

/* The log_state row (the parts the log's code reads). */
typedef struct CdcLogStateRow
{
	char		slot_name[NAMEDATALEN];
	XLogRecPtr	logged_commit_lsn;
	int32		logged_seq;
	XLogRecPtr	confirmed_lsn;
	XLogRecPtr	oldest_lsn;
	int32		current_chunk;
	int32		confirm_rule;	/* 1: the slot never passes confirmed_lsn */
} CdcLogStateRow;
extern void CdcLogStateLoad(CdcLogStateRow *row);	/* inside SPI */

/* ingest.c */
typedef enum CdcIngestStep
{
	CDC_INGEST_IDLE,			/* nothing to log in what was decoded */
	CDC_INGEST_LOGGED,			/* logged rows; caught up with the WAL seen */
	CDC_INGEST_MORE,			/* stopped at a cycle limit: WAL is waiting */
	CDC_INGEST_RECONFIGURE,		/* (unused since capture changes apply in
								 * the stream: capture.c) */
	CDC_INGEST_GONE				/* the extension was dropped */
} CdcIngestStep;

typedef struct IngestSink IngestSink;
typedef struct CdcIngest
{
	MemoryContext cxt;			/* as long as the decoding context */
	LogicalDecodingContext *ctx;
	IngestSink *sink;
	XLogRecPtr	start_lsn;		/* where decoding started (slot's confirmed) */
	XLogRecPtr	processed;		/* WAL decoded, and what committed in it logged */
	XLogRecPtr	confirmable;	/* recorded as confirmed_lsn by the last cycle */
	Oid			extension;		/* the cdc_ext it logs for (gone if it changes) */
	bool		writer;
	bool		origin_set;
} CdcIngest;

extern bool CdcIngestPrepareSlot(bool own_transactions);
extern void CdcIngestDropSlot(void);
extern bool CdcIngestOpen(CdcIngest *ing, bool writer);
extern CdcIngestStep CdcIngestCycle(CdcIngest *ing);
extern void CdcIngestAfterCommit(CdcIngest *ing);
extern void CdcIngestClose(CdcIngest *ing);

/* capture.c */
extern void CdcRequireAdmin(const char *what);
extern void CdcRequireSettings(void);
extern bool CdcLogSettingsPresent(void);
extern const char *CdcLogHorizonTable(void);
extern bool CdcCaptureReadHistoric(MemoryContext cxt, List **entities,
								   List **exclude, List **messages);

/* retention.c */
extern void CdcLogMaintain(bool own_transaction, Oid extension);
extern Oid	CdcLogChunkRelid(int32 chunk, bool create);
extern int	CdcLogRunHorizonHooks(XLogRecPtr old_oldest, XLogRecPtr new_oldest,
								  const char *reason);

/* worker.c */
/* StartTransactionCommand for the log's processes: now() moves on */
extern void CdcStartTransaction(void);
extern void CdcLogSetProcessed(XLogRecPtr lsn, bool logged);

/* interval argument in microseconds; negative -> ERROR naming argname */
extern int64 CdcIntervalMicros(const Interval *iv, const char *argname);

#endif
