/*
 * The ChangeEntry of docs/plugin.md with the product document's names, and the
 * options of the client's calls.
 */
import type { LargeNumbers } from './json.js';

/**
 * What an entry is.  'schema': a DDL (when asked for).  'read': a row a
 * backfill sent (start 'snapshot' or backfill()): the row as it is now,
 * newData the row, oldData null.
 */
export type Operation = 'insert' | 'update' | 'delete' | 'truncate' | 'message' | 'schema' | 'read';

/**
 * The operations a filter may name: not 'read' (a backfill's rows reach the
 * consumer or group that asked for them, whatever its operations filter).
 */
export type FilterOperation = Exclude<Operation, 'read'>;

/** A row image: column name -> value (JSON; numbers kept exact, see LargeNumbers). */
export type Row = Record<string, any>;

/** The row's key: one column's value, an object for a composite key, null without one. */
export type EntityId = string | number | bigint | boolean | Row | null;

/** One row change, in commit order; (commitLsn, seq) is its cursor position. */
export interface ChangeEntry {
	/** WAL position of the change's record ("0/16B3748"); not monotonic across transactions */
	lsn: string;
	/** commit record of its transaction; null only for a non-transactional message */
	commitLsn: string | null;
	/** 1-based position inside its transaction (the cursor is (commitLsn, seq)) */
	seq: number | null;
	/** transaction id */
	xid: bigint | null;
	/** commit time (millisecond precision: see timestampMicros) */
	timestamp: Date | null;
	/** commit time in microseconds since the Unix epoch, exact */
	timestampMicros: bigint | null;
	/** schema-qualified table, quoted where PostgreSQL would quote it */
	entity: string | null;
	entityId: EntityId;
	operation: Operation;
	oldData: Row | null;
	newData: Row | null;
	/** columns an update left alone whose (TOASTed) value is not in the WAL */
	unchangedToast?: string[];
	/** columns whose value jsonb cannot hold, given as their JSON text (SQL API) */
	fallback?: string[];
	/**
	 * The position (an LSN) of the `schema` entry whose table shape this
	 * change follows: a consumer that remembers the version it was built for
	 * detects a schema change with one comparison.  "0/0": the shape the table
	 * had when cdc_ext 1.2 was installed; null: logged before 1.2.  Present in
	 * SQL API entries always, in replication entries with schemaChanges.
	 * operation 'schema' entries carry the shape before (oldData) and after
	 * (newData): docs/schema-changes.md.
	 */
	schemaVersion?: string | null;
	/** logical messages: prefix, content, content_encoding ('text' | 'base64'), transactional */
	prefix?: string;
	content?: string;
	contentEncoding?: 'text' | 'base64';
	transactional?: boolean;
}

/** Replication mode with transactions: true also yields the transaction's begin and commit. */
export interface TransactionEntry {
	operation: 'begin' | 'commit';
	/** begin: first record of the transaction; commit: the END of its commit record */
	lsn: string;
	commitLsn: string;
	seq: number;
	xid: bigint | null;
	timestamp: Date | null;
	timestampMicros: bigint | null;
	/** commit only: how many entries the transaction emitted */
	changes?: number;
}

export interface NumberOptions {
	/**
	 * How integers beyond +-2^53 arrive: 'bigint' (default) or 'string'.
	 * Other numbers a double would round (a 30-digit numeric) always arrive
	 * as their exact decimal text.
	 */
	largeNumbers?: LargeNumbers;
}

export interface StreamOptions extends NumberOptions {
	/**
	 * The consumer to read.  Without one, the stream creates a temporary
	 * consumer (name "tmp-<random>") and drops it when the stream ends.
	 */
	consumer?: string;
	/** start at transactions committed at or after this position (ignores the consumer's checkpoint) */
	fromLsn?: string;
	/** start at transactions committed at or after this time */
	fromTimestamp?: Date | string;
	/** replay everything the log still retains */
	fromBeginning?: boolean;
	/** narrow the consumer's filters: glob patterns of entities */
	entities?: string[];
	excludeEntities?: string[];
	operations?: FilterOperation[];
	/**
	 * The temporary consumer's start (only without `consumer`): 'now'
	 * (default) or 'snapshot': first every current row of its tables
	 * (operation 'read'), then the changes.  A named consumer's start was set
	 * when it was created (createConsumer); backfill() sends the rows again.
	 */
	start?: 'now' | 'snapshot';
	/** rows per round trip (exact cap; default 1000) */
	batchSize?: number;
	/**
	 * Milliseconds the server waits for a first change before answering an
	 * empty batch (long poll; default 1000 for iteration, 0 for nextBatch()).
	 */
	batchTimeout?: number;
	/**
	 * 'auto' (default): when you ask for more, what you were given before is
	 * done, and the consumer's checkpoint is moved past it (at-least-once).
	 * 'manual': the checkpoint moves only when you call checkpoint().
	 */
	checkpoint?: 'auto' | 'manual';
	/** stop cleanly: iteration ends (no error), the connection is released */
	signal?: AbortSignal;
	/** reconnect after a lost connection (default true), with exponential backoff */
	reconnect?: boolean | BackoffOptions;
}

export interface BackoffOptions {
	/** first wait in ms (default 100) */
	initialDelay?: number;
	/** cap in ms (default 10000) */
	maxDelay?: number;
	/** give up after this many consecutive failures (default Infinity) */
	maxAttempts?: number;
}

export interface ConsumerOptions {
	entities?: string[];
	excludeEntities?: string[];
	operations?: FilterOperation[];
	/**
	 * 'now' (default), 'beginning', a Date, an LSN ("0/16B3748"), or
	 * 'snapshot': from now, and first every current row of the tables it
	 * receives (operation 'read', in order with the changes: a backfill).
	 */
	start?: 'now' | 'beginning' | 'snapshot' | Date | string;
}

export interface ConsumerInfo {
	name: string;
	owner: string;
	entities: string[] | null;
	excludeEntities: string[] | null;
	operations: FilterOperation[] | null;
	checkpointLsn: string;
	checkpointSeq: number;
	checkpointAt: Date;
	lagChanges: number | bigint | null;
	lagSeconds: number | null;
	lagBytes: number | bigint | null;
	activeReaders: number | null;
	gap: boolean;
	gapReason: string | null;
	withheld: string[] | null;
	createdAt: Date;
	[more: string]: unknown;
}

export interface ConsumeOptions extends NumberOptions {
	batchSize?: number;
	/** ms the server waits for a first change (default 1000) */
	batchTimeout?: number;
	signal?: AbortSignal;
	reconnect?: boolean | BackoffOptions;
	/** stop after this many non-empty batches (default: run until aborted) */
	maxBatches?: number;
	/** stop at the first empty batch (drain what is there, then return) */
	untilEmpty?: boolean;
}

/** A transaction's handle given to consume()'s callback: write your results through it. */
export interface CdcTx {
	query<R extends Row = Row>(text: string, values?: unknown[]): Promise<{ rows: R[]; rowCount: number | null }>;
}

/** Plugin options of the cdc_ext output plugin (snake_case on the wire). */
export interface PluginOptions {
	entities?: string[] | string;
	excludeEntities?: string[] | string;
	operations?: FilterOperation[] | string;
	/** message prefixes (glob patterns) to emit */
	messages?: string[] | string;
	/** also yield begin/commit entries (the client always asks the plugin for them) */
	transactions?: boolean;
	numericAsString?: boolean;
	onlyLocal?: boolean;
	/** 'schema' entries and schemaVersion on every change (needs CREATE EXTENSION cdc_ext) */
	schemaChanges?: boolean;
	/** any other option, passed through as is (name: value) */
	extra?: Record<string, string>;
}

export interface ReplicateOptions extends PluginOptions, NumberOptions {
	/** the logical replication slot (plugin cdc_ext) */
	slot: string;
	/** create the slot if it does not exist (default false); 'temporary' for a session slot */
	createSlot?: boolean | 'temporary';
	/** where to start (default: the slot's confirmed position) */
	startLsn?: string;
	/**
	 * 'auto' (default): a transaction counts as processed when you ask for the
	 * entry after its last one; its end is then confirmed to the server.
	 * 'manual': only what you pass to confirm() is confirmed.
	 */
	confirm?: 'auto' | 'manual';
	/** ms between standby status updates (default 10000; keep it under wal_sender_timeout) */
	statusInterval?: number;
	/** received entries buffered before reading from the server pauses (default 10000) */
	highWaterMark?: number;
	signal?: AbortSignal;
	reconnect?: boolean | BackoffOptions;
}

export interface Status {
	enabled: boolean;
	currentLsn: string;
	[field: string]: unknown;
}

export interface Lag {
	consumer: string;
	/** committed checkpoint */
	checkpointLsn: string;
	checkpointSeq: number;
	/** current WAL position */
	currentLsn: string;
	/** WAL bytes between the checkpoint and the current position */
	bytes: bigint;
	/** changes not yet checkpointed (when the server reports them) */
	changes: number | bigint | null;
	/** seconds behind (when the server reports them) */
	seconds: number | null;
}

export interface BackfillOptions {
	/** only these tables (glob patterns, as the consumer's entities filter), narrowing its filters */
	entities?: string[];
}

/** A backfill's state for one table (cdc.backfills.state). */
export type BackfillState = 'pending' | 'running' | 'done' | 'cancelled' | 'failed' | 'skipped';

/** One row of cdc.backfills: one table of a backfill, camelCase. */
export interface BackfillInfo {
	/** what backfill() returned (one id for all the tables of one call) */
	id: bigint;
	/** the consumer or consumer group it is for */
	consumer: string;
	kind: 'consumer' | 'group';
	/** the table, as entries name it ("public.products") */
	entity: string;
	state: BackfillState;
	/** rows sent so far */
	rowsDone: number;
	/** the table's row estimate when asked (pg_class.reltuples); null when unknown */
	rowsEstimated: number | null;
	/** rows read but not sent, because a change in the stream carries a newer state */
	rowsSuperseded: number;
	/** rows per second since it started; null before */
	rate: number | null;
	chunks: number;
	/** chunks read again (a change without its TOASTed value superseded a row) */
	retries: number;
	createdAt: Date;
	startedAt: Date | null;
	finishedAt: Date | null;
	/** why it failed or was skipped */
	error: string | null;
}
