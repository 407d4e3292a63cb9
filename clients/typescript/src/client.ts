/*
 * CdcClient: the entry point.  SQL-API calls go through a pg.Pool (yours or
 * one made from your config); replicate() opens its own walsender
 * connection with the same settings.  Type parsing is per query (lossless
 * jsonb and int8), never pg's global parsers, so other code sharing the pool
 * is unaffected.
 */
import pg from 'pg';
import { ChangeStream } from './stream.js';
import { ReplicationStream } from './replication.js';
import { Backoff, CdcError, isConnectionError, isRetryable, abortPromise, guardClient, wrap } from './errors.js';
import { ENTRY_COLUMNS, entryFromRow, typeParsers } from './entry.js';
import { lsnToBigInt } from './lsn.js';
import { GroupMember } from './group.js';
import type {
	BackfillInfo, BackfillOptions, CdcTx, ChangeEntry, ConsumeOptions, ConsumerInfo, ConsumerOptions, Lag,
	ReplicateOptions, Status, StreamOptions, NumberOptions,
} from './types.js';

export type CdcClientConfig = pg.PoolConfig & NumberOptions;

function camelRow(row: Record<string, any>): any {
	const out: any = {};
	for (const k of Object.keys(row))
		out[k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())] = row[k];
	return out;
}

export class CdcClient {
	readonly pool: pg.Pool;
	private readonly ownsPool: boolean;
	private readonly connConfig: pg.ClientConfig;
	private readonly numberOpts: NumberOptions;

	/**
	 * @param config a pg.Pool, a connection string, or pool settings
	 *   (host, port, user, database, password, ssl, max, ... plus largeNumbers)
	 */
	constructor(config: CdcClientConfig | pg.Pool | string = {}) {
		if (config instanceof pg.Pool || (typeof config === 'object' && typeof (config as any).connect === 'function' && typeof (config as any).query === 'function')) {
			this.pool = config as pg.Pool;
			this.ownsPool = false;
			this.connConfig = { ...((config as any).options ?? {}) };
			this.numberOpts = {};
		} else {
			const c: CdcClientConfig = typeof config === 'string' ? { connectionString: config } : config;
			const { largeNumbers, ...poolConfig } = c;
			this.pool = new pg.Pool(poolConfig);
			// an idle connection that dies (server restart) must not crash the process
			this.pool.on('error', () => {});
			this.ownsPool = true;
			this.connConfig = { ...poolConfig };
			this.numberOpts = { largeNumbers };
		}
		for (const k of ['max', 'min', 'idleTimeoutMillis', 'allowExitOnIdle', 'maxUses', 'log', 'Promise', 'Client', 'maxLifetimeSeconds'])
			delete (this.connConfig as any)[k];
	}

	/**
	 * Changes as an async iterable (for await ... of), or batch by batch
	 * with nextBatch().  See StreamOptions for the builder's options.
	 */
	streamChanges(options: StreamOptions = {}): ChangeStream {
		return new ChangeStream({ pool: this.pool }, { ...this.numberOpts, ...options });
	}

	/** Commit a consumer's checkpoint at this change (every change up to it is done). */
	async checkpoint(consumer: string, change: Pick<ChangeEntry, 'commitLsn' | 'seq'>): Promise<void> {
		if (!change.commitLsn || change.seq === null)
			throw new CdcError('checkpoint: the change has no cursor position (a non-transactional message)');
		await this.run(`cdc.checkpoint('${consumer}')`, 'SELECT cdc.checkpoint($1, $2::pg_lsn, $3)', [consumer, change.commitLsn, change.seq]);
	}

	/**
	 * Exactly-once processing: each batch of cdc.consume() and your writes
	 * through `tx` commit in one transaction, with the consumer's checkpoint
	 * moved past the batch.  If the callback throws, the transaction rolls
	 * back (the batch comes again) and the error is rethrown.  Runs until
	 * options.signal aborts (or maxBatches / untilEmpty); a lost connection,
	 * a serialization failure or a deadlock is retried with backoff.
	 */
	async consume(consumer: string, handler: (batch: ChangeEntry[], tx: CdcTx) => Promise<void> | void,
				  options: ConsumeOptions = {}): Promise<{ batches: number; changes: number }> {
		const o = { ...this.numberOpts, ...options };
		const large = o.largeNumbers ?? 'bigint';
		const types = typeParsers(large);
		const backoff = new Backoff(o.reconnect ?? true);
		const signal = o.signal;
		let batches = 0, changes = 0;
		while (!signal?.aborted && (o.maxBatches === undefined || batches < o.maxBatches)) {
			let conn: pg.PoolClient | null = null;
			let inHandler = false;
			const abort = abortPromise(signal);
			try {
				conn = await this.pool.connect();
				guardClient(conn as any);
				const c = conn;
				await c.query('BEGIN');
				const q = c.query({
					text: `SELECT ${ENTRY_COLUMNS} FROM cdc.consume($1::text, batch_size => $2::integer,
						batch_timeout => $3::interval, numeric_as_string => $4::boolean) e`,
					values: [consumer, o.batchSize ?? 1000, `${Math.max(0, Math.floor(o.batchTimeout ?? 1000))} milliseconds`, large === 'string'],
					types,
				} as any) as unknown as Promise<pg.QueryResult>;
				const r = await Promise.race([q, abort.promise]);
				if (r === 'aborted') {
					q.catch(() => {});
					conn.release(true);	/* the open transaction dies with the connection: nothing consumed */
					conn = null;
					break;
				}
				const batch = r.rows.map(entryFromRow);
				if (batch.length === 0) {
					await c.query('COMMIT');
					conn.release();
					conn = null;
					backoff.reset();
					if (o.untilEmpty)
						break;
					continue;
				}
				const tx: CdcTx = {
					query: (text: string, values?: unknown[]) => c.query({ text, values, types } as any) as any,
				};
				inHandler = true;
				await handler(batch, tx);
				inHandler = false;
				await c.query('COMMIT');
				conn.release();
				conn = null;
				batches++;
				changes += batch.length;
				backoff.reset();
			} catch (err: any) {
				if (conn) {
					const dead = isConnectionError(err);
					if (!dead)
						await conn.query('ROLLBACK').catch(() => {});
					conn.release(dead ? true : undefined);
					conn = null;
				}
				if (inHandler && !isConnectionError(err))
					throw err;
				if (!isRetryable(err))
					throw wrap(err, `cdc.consume('${consumer}')`);
				if (!(await backoff.wait(signal))) {
					if (signal?.aborted)
						break;
					throw wrap(err, `cdc.consume('${consumer}'): giving up after repeated failures`);
				}
			} finally {
				abort.dispose();
			}
		}
		return { batches, changes };
	}

	/** Stream the cdc_ext output plugin over the replication protocol (see ReplicateOptions). */
	replicate(options: ReplicateOptions): ReplicationStream {
		return new ReplicationStream(this.connConfig, { ...this.numberOpts, ...options });
	}

	/** cdc.current_lsn(): the current WAL write position ("X/Y"). */
	async currentLsn(): Promise<string> {
		const r = await this.run('cdc.current_lsn()', 'SELECT cdc.current_lsn()::text AS lsn');
		return r.rows[0].lsn;
	}

	/** cdc.status(), with camelCase field names. */
	async status(): Promise<Status> {
		const r = await this.run('cdc.status()', 'SELECT * FROM cdc.status()');
		const s = camelRow(r.rows[0]);
		for (const k of Object.keys(s))
			if (/Lsn$/.test(k) && s[k] !== null)
				s[k] = String(s[k]);
		return s;
	}

	/** How far a consumer is behind (its checkpoint against the current WAL position). */
	async lag(consumer: string): Promise<Lag> {
		const r = await this.run('cdc.consumers',
			`SELECT c.*, cdc.current_lsn()::text AS current_lsn_text, c.checkpoint_lsn::text AS checkpoint_lsn_text
			 FROM cdc.consumers c WHERE c.name = $1`, [consumer]);
		if (r.rows.length === 0)
			throw new CdcError(`consumer "${consumer}" does not exist (or is not yours)`);
		const row = r.rows[0];
		const cur = row.current_lsn_text as string, cp = row.checkpoint_lsn_text as string;
		const bytes = lsnToBigInt(cur) - lsnToBigInt(cp);
		return {
			consumer,
			checkpointLsn: cp,
			checkpointSeq: row.checkpoint_seq,
			currentLsn: cur,
			bytes: bytes < 0n ? 0n : bytes,
			changes: row.lag_changes ?? null,
			seconds: row.lag_seconds === null || row.lag_seconds === undefined ? null : Number(row.lag_seconds),
		};
	}

	/**
	 * cdc.create_consumer: transactional; returns the position it starts
	 * after.  start 'snapshot': from now, and a backfill of every table it
	 * receives is queued (see backfill()).
	 */
	async createConsumer(name: string, options: ConsumerOptions = {}): Promise<string> {
		const start = options.start instanceof Date ? options.start.toISOString() : (options.start ?? 'now');
		const r = await this.run(`cdc.create_consumer('${name}')`,
			'SELECT cdc.create_consumer($1, $2::text[], $3::text[], $4::cdc.operation[], $5)::text AS lsn',
			[name, options.entities ?? null, options.excludeEntities ?? null, options.operations ?? null, start]);
		return r.rows[0].lsn;
	}

	/** cdc.drop_consumer: true when it existed. */
	async dropConsumer(name: string): Promise<boolean> {
		const r = await this.run(`cdc.drop_consumer('${name}')`, 'SELECT cdc.drop_consumer($1) AS dropped', [name]);
		return r.rows[0].dropped === true;
	}

	/** The consumers visible to this role (cdc.consumers), camelCase. */
	async listConsumers(): Promise<ConsumerInfo[]> {
		const r = await this.run('cdc.consumers', 'SELECT * FROM cdc.consumers ORDER BY name');
		return r.rows.map((row) => {
			const c = camelRow(row);
			if (c.checkpointLsn !== null)
				c.checkpointLsn = String(c.checkpointLsn);
			if (typeof c.lagSeconds === 'string')
				c.lagSeconds = Number(c.lagSeconds);
			return c;
		});
	}

	/**
	 * A member of consumer group `name`: read (lease) / ack / nack / stream,
	 * pending, claim.  See GroupMember.
	 */
	group(name: string, member: string): GroupMember {
		return new GroupMember(this.pool, this.numberOpts, name, member);
	}

	/** Create a consumer group (filters and start as for createConsumer; maxDeliveries before dead-lettering). */
	async createGroup(name: string, options: ConsumerOptions & { maxDeliveries?: number } = {}): Promise<string> {
		const r = await this.run(`cdc.create_group('${name}')`,
			`SELECT cdc.create_group($1::text, entities => $2::text[], exclude_entities => $3::text[],
				operations => $4::cdc.operation[], start => $5::text, max_deliveries => $6::integer)::text AS lsn`,
			[name, options.entities ?? null, options.excludeEntities ?? null, options.operations ?? null,
				options.start === undefined ? 'now' : String(options.start instanceof Date ? options.start.toISOString() : options.start),
				options.maxDeliveries ?? 10]);
		return r.rows[0].lsn;
	}

	/** Drop a consumer group with its leases and dead letters; false if there was none. */
	async dropGroup(name: string): Promise<boolean> {
		const r = await this.run(`cdc.drop_group('${name}')`, 'SELECT cdc.drop_group($1) AS dropped', [name]);
		return r.rows[0].dropped;
	}

	/**
	 * cdc.backfill: send the current rows of the tables a consumer or
	 * consumer group receives (narrowed by entities) to it alone, as entries
	 * with operation 'read', in cursor order with the changes: applying its
	 * stream to a copy yields the tables.  The log writer does the work;
	 * follow it with backfills().  Returns the backfill's id.
	 */
	async backfill(consumer: string, options: BackfillOptions = {}): Promise<bigint> {
		const r = await this.run(`cdc.backfill('${consumer}')`,
			'SELECT cdc.backfill($1::text, $2::text[])::text AS id', [consumer, options.entities ?? null]);
		return BigInt(r.rows[0].id);
	}

	/** cdc.cancel_backfill: stop a backfill; returns how many of its tables had not finished. */
	async cancelBackfill(id: bigint | number | string): Promise<number> {
		const r = await this.run(`cdc.cancel_backfill(${id})`, 'SELECT cdc.cancel_backfill($1::int8) AS n', [String(id)]);
		return Number(r.rows[0].n);
	}

	/** The backfills visible to this role (cdc.backfills), one entry per table, oldest first. */
	async backfills(): Promise<BackfillInfo[]> {
		const r = await this.run('cdc.backfills',
			`SELECT id::text, consumer, kind, entity, state, rows_done::text, rows_estimated::text,
				rows_superseded::text, rate::float8, chunks, retries, created_at, started_at, finished_at, error
			 FROM cdc.backfills ORDER BY id, entity`);
		const count = (v: string | null) => (v === null ? null : Number(v));
		return r.rows.map((row) => ({
			id: BigInt(row.id),
			consumer: row.consumer,
			kind: row.kind,
			entity: row.entity,
			state: row.state,
			rowsDone: Number(row.rows_done),
			rowsEstimated: count(row.rows_estimated),
			rowsSuperseded: Number(row.rows_superseded),
			rate: row.rate,
			chunks: row.chunks,
			retries: row.retries,
			createdAt: row.created_at,
			startedAt: row.started_at,
			finishedAt: row.finished_at,
			error: row.error,
		}));
	}

	/** Close the pool if the client made it. */
	async end(): Promise<void> {
		if (this.ownsPool)
			await this.pool.end();
	}

	/** One statement, lossless types, retried once after a lost connection. */
	private async run(what: string, text: string, values: unknown[] = []): Promise<pg.QueryResult> {
		const types = typeParsers(this.numberOpts.largeNumbers ?? 'bigint');
		for (let attempt = 0; ; attempt++) {
			try {
				return await this.pool.query({ text, values, types } as any);
			} catch (err: any) {
				if (attempt < 2 && isConnectionError(err))
					continue;
				throw wrap(err, what);
			}
		}
	}
}
