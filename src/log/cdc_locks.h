/*
 * cdc_locks.h
 *		Every heavyweight lock cdc_ext takes on its own tags, what each
 *		protects, and the order locks are taken in.  The log (src/log/) and
 *		the API (src/api/) build their tags only with the macros below.
 *
 * Tags.  cdc_ext's own locks are advisory-type lock tags (LOCKTAG_ADVISORY:
 * database, field2, field3, field4), held for the transaction (released at
 * commit or abort, or with the backend).  PostgreSQL's SQL advisory lock
 * functions build the same kind of tag with field4 = 1
 * (pg_advisory_lock(bigint): the key's high and low halves in field2 and
 * field3) or field4 = 2 (pg_advisory_lock(int, int): the two keys).  Every
 * tag here has another field4, so that no role, whatever keys it passes to
 * those functions, can take, hold or wait for a lock of cdc_ext's (the chunk
 * lock was once taken through pg_try_advisory_xact_lock(6513763, 1): any
 * role with CONNECT could hold it and stop chunk maintenance; the
 * isolation test specs/user_locks.spec holds every such key and checks that
 * nothing of cdc_ext waits).  The static assertions below keep it so.
 *
 *   tag (field2, field3, field4)         mode       protects
 *   ---------------------------------------------------------------------
 *   chunks   ("cdc", 1, 4)               Exclusive  chunk management: creating,
 *                                                   switching and dropping
 *                                                   partitions of cdc.log
 *                                                   (src/log/retention.c);
 *                                                   maintenance only tries it
 *   reader   (0x63646300, consumer, 3)   Share      nothing is excluded: it marks
 *                                                   a backend reading a consumer,
 *                                                   counted from pg_locks for
 *                                                   cdc.consumers.active_readers
 *                                                   (src/api/consumer.c, status.c)
 *   frontier (group, 0, 0xCDC0)          Exclusive  a group's frontier: creating
 *                                                   its entries and moving it
 *                                                   (src/api/groups.c, phase 2;
 *                                                   cdc.reset_group)
 *   key      (group, key hash, 0xCDC1)   Exclusive  leasing the changes of one
 *                                                   row key of a group (phase 1);
 *                                                   only ever tried, never waited
 *                                                   for
 *
 * Besides these, cdc_ext takes PostgreSQL's own locks: a share lock on the
 * extension object (CdcLogPresent), row locks (FOR UPDATE) on the horizon's
 * row and on consumer and group rows, and, in DROP DATABASE ... WITH
 * (FORCE), the database's lock as dropdb does (src/log/dropdb.c).
 *
 * Order.  Where one transaction holds several, they are taken in this
 * order, and never the other way round:
 *   1. the extension object (share), before any of its tables: the order
 *      DROP EXTENSION takes them in (ingest.c, retention.c, slot.c);
 *   2. log side: the chunk lock, then the horizon's row (maintenance: both
 *      without waiting, else the pass is postponed); cdc.trim() takes the
 *      horizon's row alone; under the horizon's row the horizon hooks lock
 *      consumer rows (in checkpoint order), then group rows (in name order);
 *   3. API side: a consumer's row (FOR UPDATE), then its reader lock.  A
 *      group: key locks (tried: nobody waits for them, so they make no
 *      cycle), then the frontier lock, then the group's row (phase 2 saves
 *      the group's positions).  One exception, found while writing this:
 *      cdc.reset_group() takes the group's row (FOR UPDATE) before the
 *      frontier lock, the reverse, so a reset and a read_group of the same
 *      group in phase 2 can deadlock (PostgreSQL's detector then fails
 *      one); src/api/groups.c is where that is to be turned round.
 */
#ifndef CDC_LOCKS_H
#define CDC_LOCKS_H

#include "postgres.h"

#include "miscadmin.h"
#include "storage/lock.h"

/* field4 values of SQL's advisory locks (PostgreSQL's adt/lockfuncs.c) */
#define CDC_SQL_ADVISORY_FIELD4_INT8	1
#define CDC_SQL_ADVISORY_FIELD4_INT4	2

/* field4 of cdc_ext's tags */
#define CDC_LOCK_READER			3
#define CDC_LOCK_CHUNKS			4
#define CDC_LOCK_GROUP_FRONTIER	0xCDC0
#define CDC_LOCK_GROUP_KEY		0xCDC1

/* field2 of the log's and the readers' tags ("cdc", and "cdc\0") */
#define CDC_LOCK_CLASS			0x636463
#define CDC_READER_LOCK_CLASSID	0x63646300
/* pg_locks.objsubid of a reader lock (status.c counts them) */
#define CDC_READER_LOCK_SUBID	CDC_LOCK_READER

#define CDC_LOCK_NOT_SQL(field4) \
	((field4) != CDC_SQL_ADVISORY_FIELD4_INT8 && (field4) != CDC_SQL_ADVISORY_FIELD4_INT4)
StaticAssertDecl(CDC_LOCK_NOT_SQL(CDC_LOCK_READER), "reader lock reachable from SQL");
StaticAssertDecl(CDC_LOCK_NOT_SQL(CDC_LOCK_CHUNKS), "chunk lock reachable from SQL");
StaticAssertDecl(CDC_LOCK_NOT_SQL(CDC_LOCK_GROUP_FRONTIER), "frontier lock reachable from SQL");
StaticAssertDecl(CDC_LOCK_NOT_SQL(CDC_LOCK_GROUP_KEY), "key lock reachable from SQL");

/* The chunk lock of this database. */
#define SET_CDC_LOCKTAG_CHUNKS(tag) \
	SET_LOCKTAG_ADVISORY((tag), MyDatabaseId, CDC_LOCK_CLASS, 1, CDC_LOCK_CHUNKS)

/* The reader lock of consumer consumer_id (cdc.consumer_state.id). */
#define SET_CDC_LOCKTAG_READER(tag, consumer_id) \
	SET_LOCKTAG_ADVISORY((tag), MyDatabaseId, CDC_READER_LOCK_CLASSID, \
						 (uint32) (consumer_id), CDC_LOCK_READER)

/* Group group_id's frontier lock (kind CDC_LOCK_GROUP_FRONTIER, key 0) or a key's. */
#define SET_CDC_LOCKTAG_GROUP(tag, group_id, key, kind) \
	SET_LOCKTAG_ADVISORY((tag), MyDatabaseId, (uint32) (group_id), (key), (kind))

#endif
