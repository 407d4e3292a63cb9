/*
 * dropdb.c
 *		DROP DATABASE ... WITH (FORCE) of a database whose log writer runs.
 *
 * PostgreSQL's dropdb refuses a database "used by an active logical
 * replication slot" before it terminates the database's sessions: the
 * writer holds its slot for as long as it runs, so FORCE alone always
 * failed (55006).  Under shared_preload_libraries a utility hook runs
 * first, for a DROP DATABASE with FORCE that dropdb would otherwise accept
 * (top level, not the current database, the caller owns it): it takes the
 * database's lock as dropdb does (no new connection, so no new writer, gets
 * in from then on), terminates the process holding the writer's slot
 * (cdc_ext_log_<database oid>) with the rights that FORCE needs to
 * terminate it, and waits up to 5 seconds for the slot to be released.
 * dropdb then drops the slot with the database.  Without FORCE nothing
 * changes: the writer is a session in the database, and DROP DATABASE says
 * so (55006).
 */
#include "postgres.h"

#include <signal.h>

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "miscadmin.h"
#include "replication/slot.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "tcop/utility.h"
#include "utils/acl.h"

#include "compat.h"
#include "log_internal.h"

/* how long DROP DATABASE ... WITH (FORCE) waits for the writer to let go */
#define DROPDB_WAIT_MS 5000

static ProcessUtility_hook_type prev_utility_hook = NULL;

/* Does this DROP DATABASE ask for FORCE? */
static bool
dropdb_forced(DropdbStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->options)
	{
		DefElem    *opt = lfirst(lc);

		if (strcmp(opt->defname, "force") == 0)
			return true;
	}
	return false;
}

/* PID of the backend holding replication slot name, or 0. */
static int
slot_holder(const char *name)
{
	ReplicationSlot *slot;
	int			pid = 0;

	LWLockAcquire(ReplicationSlotControlLock, LW_SHARED);
	slot = SearchNamedReplicationSlot(name, false);
	if (slot != NULL)
	{
		SpinLockAcquire(&slot->mutex);
		pid = slot->active_pid;
		SpinLockRelease(&slot->mutex);
	}
	LWLockRelease(ReplicationSlotControlLock);
	return pid;
}

/*
 * May the current user terminate pid, as dropdb's FORCE would?  The same
 * rule as TerminateOtherDBBackends: superuser-owned processes only by a
 * superuser, others by members of their role or of pg_signal_backend.
 */
static bool
may_terminate(int pid, Oid dboid)
{
	PGPROC	   *proc = BackendPidGetProc(pid);

	if (proc == NULL || proc->databaseId != dboid)
		return false;
	if (superuser_arg(proc->roleId) && !superuser())
		return false;
	return has_privs_of_role(GetUserId(), proc->roleId) ||
		has_privs_of_role(GetUserId(), ROLE_PG_SIGNAL_BACKEND);
}

/* Stop the writer of the database stmt drops, and wait for its slot. */
static void
stop_writer_for_dropdb(DropdbStmt *stmt, bool top_level)
{
	Oid			dboid;
	char		slot[NAMEDATALEN];
	int			waited = 0;
	int			signalled = 0;

	if (!dropdb_forced(stmt) || !top_level || IsTransactionBlock())
		return;					/* dropdb says what is wrong */
	dboid = get_database_oid(stmt->dbname, true);
	if (!OidIsValid(dboid) || dboid == MyDatabaseId ||
		!CdcDatabaseOwnercheck(dboid, GetUserId()))
		return;

	/* as dropdb will: from now on nobody connects to it, a new writer neither */
	LockSharedObject(DatabaseRelationId, dboid, 0, AccessExclusiveLock);
	strlcpy(slot, CdcLogSlotName(dboid), sizeof(slot));
	for (;;)
	{
		int			pid = slot_holder(slot);

		if (pid == 0 || waited >= DROPDB_WAIT_MS)
			break;
		if (pid != signalled)
		{
			if (!may_terminate(pid, dboid))
				break;
			if (kill(pid, SIGTERM) != 0)
				break;
			signalled = pid;
		}
		CHECK_FOR_INTERRUPTS();
		pg_usleep(10 * 1000L);
		waited += 10;
	}
}

static void
cdc_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
			ProcessUtilityContext context, ParamListInfo params,
			QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	if (IsA(pstmt->utilityStmt, DropdbStmt))
		stop_writer_for_dropdb((DropdbStmt *) pstmt->utilityStmt,
							   context == PROCESS_UTILITY_TOPLEVEL);
	if (prev_utility_hook)
		prev_utility_hook(pstmt, queryString, readOnlyTree, context, params,
						  queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);
}

/* From _PG_init under shared_preload_libraries (only then do writers run). */
void
CdcLogInstallDropdbHook(void)
{
	prev_utility_hook = ProcessUtility_hook;
	ProcessUtility_hook = cdc_utility;
}
