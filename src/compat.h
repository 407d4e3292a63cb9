/*
 * compat.h
 *		The one place where PostgreSQL major versions would differ for cdc_ext.
 *
 * Built and tested on PostgreSQL 15 only (15.20, Debian 12), so
 * that is all this header admits.  Other majors fail at compile time rather
 * than build into something nobody ran:
 * - 14 and older lack APIs cdc_ext uses: InitMaterializedSRF,
 *   GetFlushRecPtr(NULL), access/xlogrecovery.h, and keep the commit time
 *   outside ReorderBufferTXN.xact_time.
 * - 16 changed progress reporting of output plugins (OutputPluginUpdateProgress
 *   lost its skipped_xact argument), and 17 removed ReorderBufferTupleBuf
 *   (decode.c reads change->data.tp.newtuple->tuple).  cdc_ext has not been
 *   ported to them; a #warning would pass -Werror-free builds silently, so
 *   this is an #error too.  Porting starts here, with a test run on that
 *   major.
 */
#ifndef CDC_COMPAT_H
#define CDC_COMPAT_H

#if PG_VERSION_NUM < 150000
#error "cdc_ext requires PostgreSQL 15: older majors lack APIs it uses"
#endif
#if PG_VERSION_NUM >= 160000
#error "cdc_ext is built and tested on PostgreSQL 15 only: not ported to 16 and later"
#endif

/* The commit time of a decoded transaction (a union with the prepare time). */
#define CdcTxnCommitTime(txn) ((txn)->xact_time.commit_time)

/* Progress while changes are skipped: keeps walsender keepalives flowing. */
#define CdcUpdateProgress(ctx) OutputPluginUpdateProgress((ctx), false)

#endif
