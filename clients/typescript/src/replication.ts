/*
 * replicate(): the cdc_ext output plugin over the streaming replication
 * protocol (a walsender connection, START_REPLICATION ... LOGICAL), with the
 * standby status updates done by hand.  The stream: the connection, the
 * queue of received entries, handing them out, reconnecting.  What the
 * messages look like is src/walproto.ts; what position may be confirmed,
 * and when, is src/feedback.ts (the feedback rule and its invariant).
 *
 * The plugin is always asked for begin/commit entries (transactions =
 * true), as the commit entry's "lsn" is the end to confirm; they reach the
 * application only if it asked for them.
 *
 * After a lost connection the stream reconnects (backoff) and starts again
 * at the confirmed position; entries handed out already (a partly
 * processed transaction) are not handed out twice.
 */
import pg from 'pg';
import { CdcError, Backoff, isRetryable, abortPromise, wrap, SLOT_IN_USE } from './errors.js';
import { parseJson, type LargeNumbers } from './json.js';
import { entryFromPluginJson } from './entry.js';
import { compareCursor, formatLsn, lsnToBigInt } from './lsn.js';
import { FeedbackRule, type ReplicationEntry } from './feedback.js';
import { decodeServerMessage, encodeStandbyStatus } from './walproto.js';
import type { ReplicateOptions } from './types.js';

export type { ReplicationEntry };

function quoteIdent(s: string): string {
	return '"' + s.replace(/"/g, '""') + '"';
}

function quoteLiteral(s: string): string {
	return "'" + s.replace(/'/g, "''") + "'";
}

function list(v: string[] | string | undefined): string | undefined {
	if (v === undefined)
		return undefined;
	return Array.isArray(v) ? v.join(',') : v;
}

/** The plugin options as START_REPLICATION's ("name" 'value', ...) list. */
export function pluginOptionList(o: ReplicateOptions): string {
	const opts: [string, string | undefined][] = [
		['entities', list(o.entities)],
		['exclude_entities', list(o.excludeEntities)],
		['operations', list(o.operations)],
		['messages', list(o.messages)],
		['transactions', 'true'],
		['numeric_as_string', o.numericAsString === undefined ? undefined : String(o.numericAsString)],
		['only_local', o.onlyLocal === undefined ? undefined : String(o.onlyLocal)],
		['schema_changes', o.schemaChanges === undefined ? undefined : String(o.schemaChanges)],
	];
	for (const [k, v] of Object.entries(o.extra ?? {}))
		opts.push([k, v]);
	return opts.filter(([, v]) => v !== undefined)
		.map(([k, v]) => `${quoteIdent(k)} ${quoteLiteral(v!)}`).join(', ');
}

interface Waiter {
	resolve: () => void;
}

/**
 * A pg Submittable for START_REPLICATION: pg hands it the CopyData messages
 * of the CopyBoth stream, the error, and the final ReadyForQuery.
 */
class StartReplication {
	readonly text: string;
	constructor(text: string, private readonly sink: ReplicationStream, private readonly gen: number) {
		this.text = text;
	}
	submit(connection: any): void {
		connection.query(this.text);
	}
	handleCopyData(msg: { chunk: Buffer }): void {
		this.sink.onCopyData(msg.chunk, this.gen);
	}
	handleError(err: any): void {
		this.sink.onError(err, this.gen);
	}
	handleReadyForQuery(): void {
		this.sink.onEnd(this.gen);
	}
	handleCommandComplete(): void {}
	handleRowDescription(): void {}
	handleDataRow(): void {}
	handleEmptyQuery(): void {}
	handlePortalSuspended(): void {}
	handleCopyInResponse(connection: any): void {
		connection.sendCopyFail('unexpected COPY IN');
	}
}

export class ReplicationStream implements AsyncIterable<ReplicationEntry> {
	private client: pg.Client | null = null;
	private gen = 0;
	/** received, not yet handed out: queue[qhead..] (a head index: shift() is O(n) on long arrays) */
	private queue: ReplicationEntry[] = [];
	private qhead = 0;
	private waiter: Waiter | null = null;
	private failure: any = null;
	private started = false;
	private closed = false;
	private paused = false;
	/** what may be confirmed to the server: the position processed */
	private readonly feedback: FeedbackRule;
	private sentFeedback = -1n;
	/** last cursor position handed out: after a reconnect, nothing at or before it is handed out again */
	private lastCursor: { lsn: string; seq: number } | null = null;
	private statusTimer: NodeJS.Timeout | null = null;
	private feedbackTimer: NodeJS.Timeout | null = null;
	private readonly backoff: Backoff;
	private readonly large: LargeNumbers;
	private readonly hwm: number;
	/** counters for diagnostics and tests */
	readonly stats = { messages: 0, keepalives: 0, feedbackSent: 0, reconnects: 0 };

	constructor(private readonly connConfig: pg.ClientConfig, private readonly opts: ReplicateOptions) {
		if (!opts.slot)
			throw new CdcError('replicate: a slot name is required');
		this.backoff = new Backoff(opts.reconnect ?? true);
		this.large = opts.largeNumbers ?? 'bigint';
		this.feedback = new FeedbackRule(opts.confirm, !!opts.transactions, () => this.scheduleFeedback());
		this.hwm = opts.highWaterMark ?? 10000;
		if (opts.startLsn)
			lsnToBigInt(opts.startLsn);	/* validate early */
		if (opts.signal?.aborted)
			this.closed = true;
		opts.signal?.addEventListener('abort', () => { this.close().catch(() => {}); }, { once: true });
	}

	/** The position confirmed to the server so far ("X/Y"): the end of the last processed transaction. */
	get confirmedLsn(): string {
		return formatLsn(this.feedback.confirmed);
	}

	[Symbol.asyncIterator](): AsyncIterator<ReplicationEntry> {
		return {
			next: () => this.next(),
			return: async () => {
				await this.close();
				return { done: true, value: undefined };
			},
		};
	}

	/**
	 * Confirm (manual mode): the transaction of this entry is processed up to
	 * it.  A commit entry, or a transaction's last change once its commit
	 * has arrived, confirms that transaction's end; any other change
	 * confirms the end of the transactions before its own.
	 */
	confirm(entry: ReplicationEntry): void {
		this.feedback.confirm(entry);
	}

	/** Stop: confirm what is processed, end the replication stream, close the connection. */
	async close(): Promise<void> {
		if (this.closed)
			return;
		this.closed = true;
		this.stopTimers();
		this.wake();
		const c = this.client;
		this.client = null;
		if (!c)
			return;
		try {
			this.sendFeedback(c, true);
			const ended = new Promise<void>((resolve) => {
				const t = setTimeout(resolve, 5000);
				c.once('end', () => { clearTimeout(t); resolve(); });
				this.onEndHook = () => { clearTimeout(t); resolve(); };
			});
			(c as any).connection.endCopyFrom();	/* CopyDone: the server ends the stream */
			await ended;
		} catch {
			/* the connection may already be gone */
		}
		await c.end().catch(() => {});
	}

	private onEndHook: (() => void) | null = null;

	private async next(): Promise<IteratorResult<ReplicationEntry>> {
		// asking for more: the entry handed out before is processed
		this.feedback.nextRequested();
		for (;;) {
			const e = await this.take();
			if (e === null)
				return { done: true, value: undefined };
			if (e.commitLsn !== null && e.seq !== null) {
				if (this.lastCursor && compareCursor(e.commitLsn, e.seq, this.lastCursor.lsn, this.lastCursor.seq) <= 0)
					continue;	/* handed out before a reconnect */
				this.lastCursor = { lsn: e.commitLsn, seq: e.seq };
			}
			if (!this.feedback.handOut(e))
				continue;	/* a begin or commit the application did not ask for */
			return { done: false, value: e };
		}
	}

	/** The next received entry; null when closed. Throws the stream's failure. */
	private async take(): Promise<ReplicationEntry | null> {
		for (;;) {
			if (this.closed)
				return null;
			if (this.qhead < this.queue.length) {
				const e = this.queue[this.qhead++];
				if (this.qhead === this.queue.length) {
					this.queue = [];
					this.qhead = 0;
				} else if (this.qhead >= 1024 && this.qhead * 2 >= this.queue.length) {
					this.queue = this.queue.slice(this.qhead);
					this.qhead = 0;
				}
				if (this.paused && this.queue.length - this.qhead < this.hwm / 2)
					this.resume();
				return e;
			}
			if (this.failure) {
				const f = this.failure;
				this.failure = null;
				await this.close();	/* the stream is over: later calls end the iteration */
				throw f;
			}
			if (!this.started) {
				this.started = true;
				this.connectLoop();
			}
			await new Promise<void>((resolve) => { this.waiter = { resolve }; });
		}
	}

	private wake(): void {
		const w = this.waiter;
		this.waiter = null;
		w?.resolve();
	}

	/** Connect and start streaming; on a lost connection, again (backoff) from the confirmed position. */
	private async connectLoop(): Promise<void> {
		if (this.connecting)
			return;	/* one connection attempt at a time */
		this.connecting = true;
		try {
			await this.connectAttempts();
		} finally {
			this.connecting = false;
		}
	}

	private connecting = false;

	private async connectAttempts(): Promise<void> {
		for (;;) {
			if (this.closed)
				return;
			try {
				await this.connectOnce();
				return;
			} catch (err: any) {
				if (this.closed)
					return;
				if (!isRetryable(err) && err?.code !== SLOT_IN_USE) {
					this.fail(wrapStart(err, this.opts.slot));
					return;
				}
				this.stats.reconnects++;
				if (!(await this.backoff.wait(this.opts.signal))) {
					if (!this.closed)
						this.fail(wrapStart(err, this.opts.slot));
					return;
				}
			}
		}
	}

	private fail(err: any): void {
		this.failure = err;
		this.wake();
	}

	private async connectOnce(): Promise<void> {
		const gen = ++this.gen;
		const c = new pg.Client({ ...this.connConfig, replication: 'database' } as any);
		c.on('error', (err) => this.onError(err, gen));
		c.on('end', () => this.onError(Object.assign(new Error('Connection terminated unexpectedly'), { code: 'ECONNRESET' }), gen));
		try {
			await c.connect();
		} catch (err) {
			this.gen++;	/* this failed connection's later events are not a lost stream */
			c.end().catch(() => {});
			throw err;
		}
		if (this.closed) {
			await c.end().catch(() => {});
			return;
		}
		try {
			if (this.opts.createSlot)
				await this.createSlot(c);
			// where to start: what is confirmed, else the caller's start, else the slot's own position
			const start = this.feedback.confirmed > 0n ? this.confirmedLsn : (this.opts.startLsn ?? '0/0');
			// reset before starting: data can arrive in the same read as the CopyBoth response
			this.feedback.restart();
			this.queue = [];
			this.qhead = 0;
			this.sentFeedback = -1n;
			const sql = `START_REPLICATION SLOT ${quoteIdent(this.opts.slot)} LOGICAL ${start} (${pluginOptionList(this.opts)})`;
			const started = new Promise<void>((resolve, reject) => {
				const conn = (c as any).connection;
				const onStart = () => { cleanup(); resolve(); };
				const onErr = (err: any) => { cleanup(); reject(err); };
				const cleanup = () => { conn.removeListener('replicationStart', onStart); this.startReject = null; };
				conn.once('replicationStart', onStart);
				this.startReject = onErr;
			});
			this.client = c;
			c.query(new StartReplication(sql, this, gen) as any);
			await started;
		} catch (err) {
			this.client = null;
			this.gen++;	/* the end of this connection is not a lost stream */
			await c.end().catch(() => {});
			throw err;
		}
		this.client = c;
		this.backoff.reset();
		this.stopTimers();
		this.statusTimer = setInterval(() => this.sendFeedback(this.client, true), this.opts.statusInterval ?? 10000);
		this.statusTimer.unref?.();
	}

	private startReject: ((err: any) => void) | null = null;

	private async createSlot(c: pg.Client): Promise<void> {
		const temp = this.opts.createSlot === 'temporary' ? ' TEMPORARY' : '';
		try {
			await c.query(`CREATE_REPLICATION_SLOT ${quoteIdent(this.opts.slot)}${temp} LOGICAL cdc_ext (SNAPSHOT 'nothing')`);
		} catch (err: any) {
			if (err?.code !== '42710')	/* duplicate_object: it is there already */
				throw err;
		}
	}

	/** CopyData from the server: XLogData ('w') or a primary keepalive ('k'). */
	onCopyData(chunk: Buffer, gen: number): void {
		if (gen !== this.gen || this.closed)
			return;
		const msg = decodeServerMessage(chunk);
		if (msg.kind === 'xlogdata') {
			this.stats.messages++;
			let e: ReplicationEntry;
			try {
				e = entryFromPluginJson(parseJson(msg.data.toString('utf8'), this.large));
			} catch (err: any) {
				this.fail(new CdcError(`replicate: cannot parse an entry of slot "${this.opts.slot}": ${err.message}`, err));
				return;
			}
			this.feedback.received(e);
			this.queue.push(e);
			if (!this.paused && this.queue.length - this.qhead >= this.hwm)
				this.pause();
			this.wake();
		} else if (msg.kind === 'keepalive') {
			this.stats.keepalives++;
			// drained: nothing received waits, and the application waits for an entry
			this.feedback.keepalive(msg.walEnd, this.qhead === this.queue.length && this.waiter !== null);
			if (msg.replyRequested)
				this.sendFeedback(this.client, true);
		}
	}

	onError(err: any, gen: number): void {
		if (this.startReject && gen === this.gen) {
			const r = this.startReject;
			this.startReject = null;
			r(err);
			return;
		}
		if (gen !== this.gen || this.closed)
			return;
		this.gen++;	/* ignore anything more from that connection */
		const c = this.client;
		this.client = null;
		this.stopTimers();
		this.paused = false;
		c?.end().catch(() => {});
		if (this.connecting)
			return;	/* the attempt in progress carries on */
		if (isRetryable(err) || err?.code === SLOT_IN_USE) {
			this.stats.reconnects++;
			this.queue = [];	/* unprocessed: the server sends them again */
			this.qhead = 0;
			this.feedback.restart();
			this.backoff.wait(this.opts.signal).then((go) => {
				if (this.closed)
					return;
				if (!go)
					this.fail(wrapStart(err, this.opts.slot));
				else
					this.connectLoop();
			});
		} else
			this.fail(wrapStart(err, this.opts.slot));
	}

	onEnd(gen: number): void {
		if (this.onEndHook) {
			this.onEndHook();
			this.onEndHook = null;
		}
		if (gen === this.gen && !this.closed)
			this.onError(new CdcError('replication stream ended by the server'), gen);
	}

	/** The confirmed position moved: send it soon. */
	private scheduleFeedback(): void {
		if (!this.feedbackTimer && this.client) {
			// coalesce: one status update for a burst of small transactions
			this.feedbackTimer = setTimeout(() => {
				this.feedbackTimer = null;
				this.sendFeedback(this.client, false);
			}, 100);
			this.feedbackTimer.unref?.();
		}
	}

	/** Standby status update ('r'): write = flush = apply = the confirmed position. */
	private sendFeedback(c: pg.Client | null, force: boolean): void {
		if (!c)
			return;
		const confirmed = this.feedback.confirmed;
		if (!force && this.sentFeedback === confirmed)
			return;
		try {
			(c as any).connection.sendCopyFromChunk(encodeStandbyStatus(confirmed));
			this.sentFeedback = confirmed;
			this.stats.feedbackSent++;
		} catch {
			/* connection gone: the error path reconnects */
		}
	}

	private pause(): void {
		const s = (this.client as any)?.connection?.stream;
		if (s?.pause) {
			s.pause();
			this.paused = true;
		}
	}

	private resume(): void {
		const s = (this.client as any)?.connection?.stream;
		this.paused = false;
		s?.resume?.();
	}

	private stopTimers(): void {
		if (this.statusTimer)
			clearInterval(this.statusTimer);
		if (this.feedbackTimer)
			clearTimeout(this.feedbackTimer);
		this.statusTimer = this.feedbackTimer = null;
	}
}

/** A failure of the stream as the application sees it: the slot named, the server's detail kept. */
function wrapStart(err: any, slot: string): CdcError {
	return wrap(err, `replication from slot "${slot}" failed`, { detail: true });
}

export { abortPromise };
