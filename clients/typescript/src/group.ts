/*
 * GroupMember: one member of a consumer group (cdc.read_group / ack / nack /
 * pending / claim).  Changes are leased to one member at a time and
 * delivered again when a lease expires, so delivery is at-least-once;
 * acknowledging inside the transaction of your own writes (ack(..., tx) in
 * consume()) makes it exactly-once.  Changes to the same row reach one
 * member at a time, in cursor order.
 */
import pg from 'pg';
import { abortPromise, guardClient, wrap } from './errors.js';
import { ENTRY_COLUMNS, entryFromRow, typeParsers } from './entry.js';
import type { CdcTx, ChangeEntry, NumberOptions } from './types.js';

/** A change as a group delivers it: how many times it has been leased so far. */
export type GroupEntry = ChangeEntry & { deliveryCount: number };

export interface GroupReadOptions extends NumberOptions {
	/** at most this many changes per lease (default 100) */
	batchSize?: number;
	/** ms a lease lasts before the change goes to another member (default 30000) */
	visibilityTimeout?: number;
	/** ms the server waits for a first change (default 1000 for stream(), 0 for read()) */
	batchTimeout?: number;
	signal?: AbortSignal;
}

export interface GroupStreamOptions extends GroupReadOptions {
	/**
	 * 'auto' (default): a batch is acknowledged when the loop asks for the
	 * next one (the body has processed it); 'manual': call ack() yourself.
	 */
	ack?: 'auto' | 'manual';
}

export interface PendingEntry {
	commitLsn: string;
	seq: number;
	member: string;
	deliveryCount: number;
	/** ms since it was delivered */
	idleMs: number;
}

type Cursor = Pick<ChangeEntry, 'commitLsn' | 'seq'>;

function ms(n: number | undefined, dflt: number): string {
	return `${Math.max(0, Math.floor(n ?? dflt))} milliseconds`;
}

export class GroupMember {
	constructor(private readonly pool: pg.Pool, private readonly numberOpts: NumberOptions,
				readonly group: string, readonly member: string) {}

	/** Lease the next batch (at most batchSize changes; empty when there is none). */
	async read(options: GroupReadOptions = {}): Promise<GroupEntry[]> {
		const large = options.largeNumbers ?? this.numberOpts.largeNumbers ?? 'bigint';
		const conn = await this.pool.connect();
		guardClient(conn as any);
		const abort = abortPromise(options.signal);
		try {
			const q = conn.query({
				text: `SELECT ${ENTRY_COLUMNS} FROM cdc.read_group($1::text, $2::text, batch_size => $3::integer,
					visibility_timeout => $4::interval, batch_timeout => $5::interval,
					numeric_as_string => $6::boolean) e`,
				values: [this.group, this.member, options.batchSize ?? 100, ms(options.visibilityTimeout, 30000),
					ms(options.batchTimeout, 0), large === 'string'],
				types: typeParsers(large),
			} as any) as unknown as Promise<pg.QueryResult>;
			const r = await Promise.race([q, abort.promise]);
			if (r === 'aborted') {
				q.catch(() => {});
				conn.release(true);		/* leases it took expire: nothing is lost */
				return [];
			}
			conn.release();
			return r.rows.map((row: any) => entryFromRow(row) as GroupEntry);
		} catch (err) {
			conn.release(true);
			throw wrap(err, `cdc.read_group('${this.group}', '${this.member}')`);
		} finally {
			abort.dispose();
		}
	}

	/**
	 * Acknowledge changes (all or nothing).  With tx (consume()'s handle or
	 * any transaction of yours), the ack commits with your writes.
	 */
	async ack(changes: Cursor | Cursor[], tx?: CdcTx): Promise<number> {
		return this.settle('ack', changes, tx);
	}

	/** Give changes back for delivery now (to any member). */
	async nack(changes: Cursor | Cursor[], tx?: CdcTx): Promise<number> {
		return this.settle('nack', changes, tx);
	}

	private async settle(fn: 'ack' | 'nack', changes: Cursor | Cursor[], tx?: CdcTx): Promise<number> {
		const list = Array.isArray(changes) ? changes : [changes];
		if (list.length === 0)
			return 0;
		const text = `SELECT cdc.${fn}($1::text, $2::pg_lsn[], $3::integer[]) AS n`;
		const values = [this.group, list.map((c) => c.commitLsn), list.map((c) => c.seq)];
		try {
			const r = tx ? await tx.query(text, values) : await this.pool.query(text, values);
			return Number(r.rows[0].n);
		} catch (err) {
			throw wrap(err, `cdc.${fn}('${this.group}')`);
		}
	}

	/**
	 * Leased changes as an async iterable.  With ack 'auto', each batch is
	 * acknowledged when the loop asks for the change after its last one; a
	 * member that dies before that leaves its lease to expire (delivered
	 * again: at-least-once).  Stops when signal aborts.
	 */
	async *stream(options: GroupStreamOptions = {}): AsyncGenerator<GroupEntry> {
		const auto = (options.ack ?? 'auto') === 'auto';
		while (!options.signal?.aborted) {
			const batch = await this.read({ batchTimeout: 1000, ...options });
			for (const e of batch)
				yield e;
			if (auto && batch.length > 0 && !options.signal?.aborted)
				await this.ack(batch);
		}
	}

	/** This group's leased, unacknowledged changes (of this member when mine). */
	async pending(mine = false): Promise<PendingEntry[]> {
		try {
			const r = await this.pool.query(
				`SELECT commit_lsn::text, seq, member, delivery_count,
						(EXTRACT(epoch FROM idle) * 1000)::float8 AS idle_ms
				 FROM cdc.pending($1::text, $2::text) ORDER BY commit_lsn, seq`,
				[this.group, mine ? this.member : null]);
			return r.rows.map((x: any) => ({ commitLsn: x.commit_lsn, seq: x.seq, member: x.member,
				deliveryCount: x.delivery_count, idleMs: x.idle_ms }));
		} catch (err) {
			throw wrap(err, `cdc.pending('${this.group}')`);
		}
	}

	/** Take over other members' leases idle for at least minIdleMs; returns the changes claimed. */
	async claim(minIdleMs: number, options: NumberOptions = {}): Promise<GroupEntry[]> {
		const large = options.largeNumbers ?? this.numberOpts.largeNumbers ?? 'bigint';
		try {
			const r = await this.pool.query({
				text: `SELECT ${ENTRY_COLUMNS} FROM cdc.claim($1::text, $2::text, $3::interval) e`,
				values: [this.group, this.member, ms(minIdleMs, 0)],
				types: typeParsers(large),
			} as any);
			return r.rows.map((row: any) => entryFromRow(row) as GroupEntry);
		} catch (err) {
			throw wrap(err, `cdc.claim('${this.group}', '${this.member}')`);
		}
	}
}
