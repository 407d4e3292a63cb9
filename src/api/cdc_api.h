/*
 * cdc_api.h
 *		The SQL API (src/api/): consumers, stream/consume, checkpoint, trim,
 *		status, privileges, over the change log.
 */
#ifndef CDC_API_H
#define CDC_API_H

#include "cdc_plugin.h"

/*
 * consumer.c: consumers, stored in cdc.consumer_state.  The SQL API's C
 * functions run as their caller and check ownership themselves; reads and
 * writes of the state table and slot operations run as the extension's
 * owner with search_path pinned (CdcPrivBegin/End bracket an SPI session).
 */
typedef struct CdcConsumer
{
	char	   *name;
	Oid			owner;
	char		slot_name[NAMEDATALEN];
	List	   *entities;		/* of char * */
	List	   *exclude_entities;	/* of char * */
	uint8		operations;		/* CDC_OP_* mask */
	bool		messages;		/* 'message' among the operations */
	XLogRecPtr	checkpoint_lsn;
	int32		checkpoint_seq;
	XLogRecPtr	gap_from;		/* recorded by cdc.trim, or Invalid */
	XLogRecPtr	gap_to;
	char	   *gap_reason;
} CdcConsumer;

typedef struct CdcSlotInfo
{
	bool		exists;
	bool		lost;			/* invalidated: its WAL was removed */
	XLogRecPtr	restart_lsn;
	XLogRecPtr	confirmed_flush;
	int			active_pid;
	char		plugin[NAMEDATALEN];
	Oid			database;
} CdcSlotInfo;

typedef struct CdcPriv
{
	Oid			saved_user;
	int			saved_sec;
	int			guc_level;
	Oid			invoker;
} CdcPriv;

extern void CdcPrivBegin(CdcPriv *priv);
extern void CdcPrivEnd(CdcPriv *priv);
extern bool CdcConsumerLoad(const char *name, bool for_update, CdcConsumer *c,
							MemoryContext cxt);
extern void CdcConsumerRequire(const char *name, bool for_update, CdcConsumer *c,
							   Oid invoker, MemoryContext cxt);
extern void CdcSlotInfoGet(const char *slot_name, CdcSlotInfo *info);
extern XLogRecPtr CdcSlotAdvance(const char *slot_name, XLogRecPtr to);
extern void CdcConsumerSetCheckpoint(const char *name, XLogRecPtr lsn, int32 seq);
extern bool CdcConsumerHasChangesBefore(const CdcConsumer *c, XLogRecPtr upto);
extern List *CdcTextArrayToList(ArrayType *arr, const char *argname);
extern uint8 CdcOperationArrayToMask(ArrayType *arr, const char *argname,
									 bool *messages);

#endif
