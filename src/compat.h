/*
 * compat.h
 *		The one place where PostgreSQL major versions differ for cdc_ext.
 *
 * Built and tested on PostgreSQL 15, 17 and 18 (the versions of Debian 12,
 * 13 and forky; scripts/matrix.sh runs the whole suite on each, and the
 * minor releases that ran are listed in README.md).  Other majors fail at
 * compile time rather than build into something nobody ran:
 * - 14 and older lack APIs cdc_ext uses: InitMaterializedSRF,
 *   GetFlushRecPtr(NULL), access/xlogrecovery.h, and keep the commit time
 *   outside ReorderBufferTXN.xact_time.
 * - 16 would compile with this header (its differences from 15 are the
 *   ones 17 shares), but no suite has run on it, so it is refused; 19 and
 *   later are not known yet.
 *
 * Each macro names what changed and in which major.  Code outside this
 * header calls the Cdc* names, never the version-specific signatures.
 */
#ifndef CDC_COMPAT_H
#define CDC_COMPAT_H

#if PG_VERSION_NUM < 150000
#error "cdc_ext requires PostgreSQL 15, 17 or 18: older majors lack APIs it uses"
#endif
#if PG_VERSION_NUM >= 160000 && PG_VERSION_NUM < 170000
#error "cdc_ext is built and tested on PostgreSQL 15, 17 and 18: 16 has not been tested"
#endif
#if PG_VERSION_NUM >= 190000
#error "cdc_ext is built and tested on PostgreSQL 15, 17 and 18: not ported to 19 and later"
#endif

/* The commit time of a decoded transaction (a union with the prepare time). */
#define CdcTxnCommitTime(txn) ((txn)->xact_time.commit_time)

/* Progress while changes are skipped: keeps walsender keepalives flowing. */
#define CdcUpdateProgress(ctx) OutputPluginUpdateProgress((ctx), false)

/*
 * A row image of a reorder buffer change (change->data.tp.newtuple or
 * oldtuple) as a HeapTuple: 17 hands a HeapTuple, earlier majors a
 * ReorderBufferTupleBuf that wraps one.
 */
#if PG_VERSION_NUM >= 170000
#define CdcChangeTuple(t) (t)
#else
#define CdcChangeTuple(t) (&(t)->tuple)
#endif

/*
 * Set up the session's replication origin.  16 added the PID of the
 * process the origin may be shared with (parallel apply); 0: not shared.
 */
#if PG_VERSION_NUM >= 160000
#define CdcReplOriginSessionSetup(origin) replorigin_session_setup((origin), 0)
#else
#define CdcReplOriginSessionSetup(origin) replorigin_session_setup(origin)
#endif

/*
 * DecodeDateTime: 16 added where a failed time zone lookup is described
 * (DateTimeErrorExtra); cdc_ext only asks whether the text is a valid
 * timestamp and does not report it.
 */
#if PG_VERSION_NUM >= 160000
#define CdcDecodeDateTime(field, ftype, nf, dtype, tm, fsec, tzp) \
	DecodeDateTime((field), (ftype), (nf), (dtype), (tm), (fsec), (tzp), \
				   &(DateTimeErrorExtra) {0})
#else
#define CdcDecodeDateTime(field, ftype, nf, dtype, tm, fsec, tzp) \
	DecodeDateTime((field), (ftype), (nf), (dtype), (tm), (fsec), (tzp))
#endif

/*
 * Index insertions after a multi-insert: 16 added onlySummarizing (true
 * only for HOT updates that touch summarizing indexes; never ours).
 */
#if PG_VERSION_NUM >= 160000
#define CdcExecInsertIndexTuples(rri, slot, estate, update, noDupErr, specConflict, arbiter) \
	ExecInsertIndexTuples((rri), (slot), (estate), (update), (noDupErr), \
						  (specConflict), (arbiter), false)
#else
#define CdcExecInsertIndexTuples(rri, slot, estate, update, noDupErr, specConflict, arbiter) \
	ExecInsertIndexTuples((rri), (slot), (estate), (update), (noDupErr), \
						  (specConflict), (arbiter))
#endif

/*
 * The primary key index of a relation.  18 also tracks deferrable primary
 * keys and asks whether they will do: no, as 15 and 17 never return one (a
 * deferrable key may hold duplicates within a transaction, so it does not
 * identify a row).
 */
#if PG_VERSION_NUM >= 180000
#define CdcRelationGetPrimaryKeyIndex(rel) RelationGetPrimaryKeyIndex((rel), false)
#else
#define CdcRelationGetPrimaryKeyIndex(rel) RelationGetPrimaryKeyIndex(rel)
#endif

/*
 * Acquire a replication slot.  18 moved the refusal of an invalidated slot
 * from CreateDecodingContext (15, 17) into the acquire, behind
 * error_if_invalid: true, or an invalidated slot would be decoded from (an
 * idle-timeout invalidation on 18 showed it: the writer went on decoding
 * from a slot whose catalog rows were no longer protected).  Same error on
 * every major: "can no longer get changes from replication slot".
 */
#if PG_VERSION_NUM >= 180000
#define CdcReplicationSlotAcquire(name, nowait) ReplicationSlotAcquire((name), (nowait), true)
#else
#define CdcReplicationSlotAcquire(name, nowait) ReplicationSlotAcquire((name), (nowait))
#endif

/*
 * Base64 of a byte string: 18 takes the bytes as uint8, earlier majors as
 * char.
 */
#if PG_VERSION_NUM >= 180000
#define CdcB64Encode(src, len, dst, dstlen) \
	pg_b64_encode((const uint8 *) (src), (len), (dst), (dstlen))
#else
#define CdcB64Encode(src, len, dst, dstlen) \
	pg_b64_encode((const char *) (src), (len), (dst), (dstlen))
#endif

/*
 * Is role the owner of database db?  16 made the per-catalog owner checks
 * one object_ownercheck.
 */
#if PG_VERSION_NUM >= 160000
#define CdcDatabaseOwnercheck(db, role) object_ownercheck(DatabaseRelationId, (db), (role))
#else
#define CdcDatabaseOwnercheck(db, role) pg_database_ownercheck((db), (role))
#endif

/* May role use schema nsp?  (16: object_aclcheck for every catalog) */
#if PG_VERSION_NUM >= 160000
#define CdcNamespaceAclcheck(nsp, role, mode) object_aclcheck(NamespaceRelationId, (nsp), (role), (mode))
#else
#define CdcNamespaceAclcheck(nsp, role, mode) pg_namespace_aclcheck((nsp), (role), (mode))
#endif

/*
 * A logical message from C: 17 added whether to flush it at once (the
 * capture setting's message is transactional: its commit flushes it).
 */
#if PG_VERSION_NUM >= 170000
#define CdcLogLogicalMessage(prefix, msg, size, transactional) \
	LogLogicalMessage((prefix), (msg), (size), (transactional), false)
#else
#define CdcLogLogicalMessage(prefix, msg, size, transactional) \
	LogLogicalMessage((prefix), (msg), (size), (transactional))
#endif

/*
 * An index scan: 18 added where to count its work (instrumentation; none).
 */
#if PG_VERSION_NUM >= 180000
#define CdcIndexBeginScan(heap, index, snapshot, nkeys) \
	index_beginscan((heap), (index), (snapshot), NULL, (nkeys), 0)
#else
#define CdcIndexBeginScan(heap, index, snapshot, nkeys) \
	index_beginscan((heap), (index), (snapshot), (nkeys), 0)
#endif

/*
 * Failover slots (17): a slot created with failover => true is synchronized
 * to standbys that set sync_replication_slots, and whoever moves it waits
 * until the physical standbys of synchronized_standby_slots have the WAL it
 * moves to (WaitForStandbyConfirmation).  Before 17 no slot follows a
 * failover.  CDC_CREATE_SLOT_SQL creates the log writer's slot ($1: its
 * name).
 */
#if PG_VERSION_NUM >= 170000
#define CDC_HAVE_FAILOVER_SLOTS 1
#define CDC_CREATE_SLOT_SQL \
	"SELECT lsn FROM pg_catalog.pg_create_logical_replication_slot($1, 'cdc_ext', " \
	"temporary => false, twophase => false, failover => true)"
#else
#define CDC_CREATE_SLOT_SQL \
	"SELECT lsn FROM pg_catalog.pg_create_logical_replication_slot($1, 'cdc_ext')"
#endif

#endif
