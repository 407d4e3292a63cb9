/*
 * streamChanges(): an async iterable (and nextBatch()) over a consumer of
 * the SQL API, with a client-side cursor.
 *
 * Cursor: the position (commitLsn, seq) of the last entry handed out.  Every
 * round trip reads after it:
 *  - normally through the consumer: BEGIN; cdc.checkpoint(cursor);
 *    cdc.stream(consumer); then COMMIT when the checkpoint may be kept
 *    (checkpoint 'auto': asking for more means what came before is done)
 *    or ROLLBACK ('manual': reading never consumes, the checkpoint in a
 *    rolled-back transaction included, docs/log.md);
 *  - when started with fromLsn/fromTimestamp/fromBeginning (a replay that
 *    ignores the checkpoint): cdc.stream(from_lsn => cursor's commitLsn).
 * Either way rows at or before the cursor are dropped on arrival, and a
 * round trip that brought only such rows (one transaction larger than the
 * batch, re-read from its start) is repeated with a larger batch, so the
 * stream always progresses.
 *
 * A lost connection (server restart, terminated backend) is retried on a
 * new one with backoff, from the cursor: nothing is lost or repeated.
 */
import type pg from 'pg';
import { CdcError, Backoff, isRetryable, isConnectionError, abortPromise, guardClient, wrap } from './errors.js';
import { ENTRY_COLUMNS, entryFromRow, typeParsers } from './entry.js';
import { compareCursor } from './lsn.js';
import type { ChangeEntry, StreamOptions } from './types.js';
import type { LargeNumbers } from './json.js';

export interface StreamHost {
	pool: pg.Pool;
}

interface Cursor {
	lsn: string;
	seq: number;
}

export class ChangeStream implements AsyncIterable<ChangeEntry> {
	readonly consumer: string;
	private readonly temporary: boolean;
	private readonly opts: StreamOptions;
	private readonly large: LargeNumbers;
	private readonly types: ReturnType<typeof typeParsers>;
	private conn: pg.PoolClient | null = null;
	private cursor: Cursor | null = null;
	/** the checkpoint this stream last committed (or the user did through it) */
	private committed: Cursor | null = null;
	private replay: boolean;
	private firstCall = true;
	private created = false;
	private closed = false;
	private busy = false;
	/** the current batch, handed out from bhead on */
	private buffer: ChangeEntry[] = [];
	private bhead = 0;
	private readonly backoff: Backoff;

	constructor(private readonly host: StreamHost, opts: StreamOptions = {}) {
		this.opts = opts;
		this.large = opts.largeNumbers ?? 'bigint';
		this.types = typeParsers(this.large);
		this.temporary = !opts.consumer;
		if (!this.temporary && opts.start !== undefined)
			throw new CdcError(`streamChanges: start applies to the temporary consumer only; consumer "${opts.consumer}" started when it was created (client.backfill() sends the tables' current rows to it)`);
		this.consumer = opts.consumer ?? `tmp-${process.pid}-${Math.random().toString(16).slice(2, 10)}`;
		this.replay = !!(opts.fromLsn || opts.fromTimestamp || opts.fromBeginning);
		this.backoff = new Backoff(opts.reconnect ?? true);
	}

	/** The position of the last entry handed out (null before the first). */
	get position(): { commitLsn: string; seq: number } | null {
		return this.cursor && { commitLsn: this.cursor.lsn, seq: this.cursor.seq };
	}

	[Symbol.asyncIterator](): AsyncIterator<ChangeEntry> {
		return {
			next: async (): Promise<IteratorResult<ChangeEntry>> => {
				while (this.bhead >= this.buffer.length) {
					if (this.closed || this.opts.signal?.aborted) {
						await this.close();
						return { done: true, value: undefined };
					}
					const batch = await this.fetch(this.opts.batchTimeout ?? 1000);
					if (batch === null) {
						await this.close();
						return { done: true, value: undefined };
					}
					this.buffer = batch;
					this.bhead = 0;
				}
				const e = this.buffer[this.bhead++];
				this.advance(e);
				return { done: false, value: e };
			},
			return: async (): Promise<IteratorResult<ChangeEntry>> => {
				await this.close();
				return { done: true, value: undefined };
			},
		};
	}

	/**
	 * The next batch (up to batchSize entries; empty when nothing came within
	 * batchTimeout); null once the stream is closed or aborted.  In 'auto'
	 * checkpoint mode, asking for a batch checkpoints the previous one.
	 */
	async nextBatch(): Promise<ChangeEntry[] | null> {
		if (this.bhead < this.buffer.length) {
			const b = this.buffer.slice(this.bhead);
			this.buffer = [];
			this.bhead = 0;
			for (const e of b)
				this.advance(e);
			return b;
		}
		if (this.closed || this.opts.signal?.aborted)
			return null;
		const batch = await this.fetch(this.opts.batchTimeout ?? 0);
		if (batch === null)
			return null;
		for (const e of batch)
			this.advance(e);
		return batch;
	}

	/**
	 * Commit the consumer's checkpoint at this change: every change up to it
	 * is done (docs/log.md).  Transactional on its own connection.
	 */
	async checkpoint(change: Pick<ChangeEntry, 'commitLsn' | 'seq'>): Promise<void> {
		if (!change.commitLsn || change.seq === null)
			throw new CdcError('checkpoint: the change has no cursor position (a non-transactional message)');
		await this.host.pool.query('SELECT cdc.checkpoint($1, $2::pg_lsn, $3)', [this.consumer, change.commitLsn, change.seq]);
		this.committed = { lsn: change.commitLsn, seq: change.seq };
	}

	/** Stop: release the connection; drop the temporary consumer. */
	async close(): Promise<void> {
		if (this.closed && !this.conn && !this.created)
			return;
		this.closed = true;
		if (this.conn && !this.busy) {
			this.conn.release();
			this.conn = null;
		}
		if (this.temporary && this.created) {
			this.created = false;
			try {
				await this.host.pool.query('SELECT cdc.drop_consumer($1)', [this.consumer]);
			} catch {
				/* best effort: a temporary consumer left behind is visible in cdc.consumers */
			}
		}
	}

	private advance(e: ChangeEntry): void {
		if (e.commitLsn !== null && e.seq !== null)
			this.cursor = { lsn: e.commitLsn, seq: e.seq };
	}

	private after(e: ChangeEntry): boolean {
		if (!this.cursor || e.commitLsn === null || e.seq === null)
			return true;
		return compareCursor(e.commitLsn, e.seq, this.cursor.lsn, this.cursor.seq) > 0;
	}

	private async connection(): Promise<pg.PoolClient> {
		if (!this.conn) {
			this.conn = await this.host.pool.connect();
			guardClient(this.conn as any);
		}
		return this.conn;
	}

	private dropConnection(destroy: boolean): void {
		if (this.conn) {
			this.conn.release(destroy ? true : undefined);
			this.conn = null;
		}
	}

	/** One round trip (repeated after lost connections); null when aborted or closed. */
	private async fetch(timeoutMs: number): Promise<ChangeEntry[] | null> {
		const signal = this.opts.signal;
		let size = this.opts.batchSize ?? 1000;
		let timeout = timeoutMs;
		for (;;) {
			if (this.closed || signal?.aborted)
				return null;
			const abort = abortPromise(signal);
			let attempt: Promise<ChangeEntry[] | 'again'>;
			try {
				this.busy = true;
				attempt = this.roundTrip(size, timeout);
				const r = await Promise.race([attempt, abort.promise]);
				if (r === 'aborted') {
					// leave the in-flight query behind on a connection nobody reuses
					attempt.catch(() => {});
					this.busy = false;
					this.dropConnection(true);
					return null;
				}
				this.busy = false;
				this.backoff.reset();
				if (r === 'again') {	/* one transaction larger than the batch: read more of it */
					size *= 2;
					timeout = 0;
					continue;
				}
				return r;
			} catch (err: any) {
				this.busy = false;
				if (!isRetryable(err))
					throw wrap(err, `cdc.stream('${this.consumer}')`);
				this.dropConnection(isConnectionError(err));
				if (!(await this.backoff.wait(signal))) {
					if (signal?.aborted)
						return null;
					throw wrap(err, `cdc.stream('${this.consumer}'): giving up after repeated failures`);
				}
			} finally {
				abort.dispose();
			}
		}
	}

	private async roundTrip(size: number, timeoutMs: number): Promise<ChangeEntry[] | 'again'> {
		const c = await this.connection();
		if (this.temporary && !this.created) {
			await c.query('SELECT cdc.create_consumer($1, $2::text[], $3::text[], $4::cdc.operation[], $5)',
				[this.consumer, this.opts.entities ?? null, this.opts.excludeEntities ?? null,
				 this.opts.operations ?? null, this.opts.start ?? 'now']);
			this.created = true;
		}
		const o = this.opts;
		let fromLsn: string | null = null, fromTs: string | null = null, fromBeginning = false;
		if (this.replay) {
			if (this.cursor)
				fromLsn = this.cursor.lsn;
			else {
				fromLsn = o.fromLsn ?? null;
				fromTs = o.fromTimestamp instanceof Date ? o.fromTimestamp.toISOString() : (o.fromTimestamp ?? null);
				fromBeginning = !!o.fromBeginning;
			}
		}
		const moveCheckpoint = this.cursor !== null &&
			(this.committed === null || compareCursor(this.cursor.lsn, this.cursor.seq, this.committed.lsn, this.committed.seq) > 0);
		const keep = moveCheckpoint && (o.checkpoint ?? 'auto') === 'auto';
		await c.query('BEGIN');
		let rows: any[];
		try {
			if (moveCheckpoint)
				await c.query('SELECT cdc.checkpoint($1, $2::pg_lsn, $3)', [this.consumer, this.cursor!.lsn, this.cursor!.seq]);
			const r = await c.query({
				text: `SELECT ${ENTRY_COLUMNS} FROM cdc.stream($1::text, from_lsn => $2::pg_lsn,
					from_timestamp => $3::timestamptz, from_beginning => $4::boolean,
					entities => $5::text[], exclude_entities => $6::text[],
					operations => $7::cdc.operation[], batch_size => $8::integer,
					batch_timeout => $9::interval, numeric_as_string => $10::boolean) e`,
				values: [this.consumer, fromLsn, fromTs, fromBeginning,
					this.temporary ? null : (o.entities ?? null),
					this.temporary ? null : (o.excludeEntities ?? null),
					this.temporary ? null : (o.operations ?? null),
					size, `${Math.max(0, Math.floor(timeoutMs))} milliseconds`, this.large === 'string'],
				types: this.types,
			} as any);
			rows = r.rows;
			await c.query(keep ? 'COMMIT' : 'ROLLBACK');
		} catch (err) {
			await c.query('ROLLBACK').catch(() => {});
			throw err;
		}
		if (keep)
			this.committed = this.cursor;
		this.firstCall = false;
		const out: ChangeEntry[] = [];
		for (const row of rows) {
			const e = entryFromRow(row);
			if (this.after(e))
				out.push(e);
		}
		if (out.length === 0 && rows.length > 0 && rows.length >= size)
			return 'again';
		return out;
	}
}
