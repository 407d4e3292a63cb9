/*
 * compat.h
 *		The one place where PostgreSQL major versions differ for cdc_ext.
 *
 * Targets 15 (Debian 12); guarded for 14-17 where the APIs allow.
 */
#ifndef CDC_COMPAT_H
#define CDC_COMPAT_H

#if PG_VERSION_NUM < 140000
#error "cdc_ext requires PostgreSQL 14 or later"
#endif

/* The commit time moved into a union with the prepare time in 15. */
#if PG_VERSION_NUM >= 150000
#define CdcTxnCommitTime(txn) ((txn)->xact_time.commit_time)
#else
#define CdcTxnCommitTime(txn) ((txn)->commit_time)
#endif

/* Progress for skipped changes: 15 has the skipped_xact flag, 16 dropped it. */
#if PG_VERSION_NUM >= 150000 && PG_VERSION_NUM < 160000
#define CdcUpdateProgress(ctx) OutputPluginUpdateProgress((ctx), false)
#else
#define CdcUpdateProgress(ctx) ((void) 0)
#endif

#endif
