// Shared by the tests: connection settings from the environment (set by
// scripts/test.sh or by hand), a pool, and server control for the
// connection-loss tests.
import pg from 'pg';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

export const conn = {
	host: process.env.PGHOST ?? '127.0.0.1',
	port: Number(process.env.PGPORT ?? 5432),
	user: process.env.PGUSER ?? 'postgres',
	database: process.env.PGDATABASE ?? 'postgres',
};

export function pool() {
	const p = new pg.Pool({ ...conn, max: 4 });
	p.on('error', () => {});
	return p;
}

export async function sql(text, values) {
	const c = new pg.Client(conn);
	c.on('error', () => {});
	await c.connect();
	try {
		return await c.query(text, values);
	} finally {
		await c.end().catch(() => {});
	}
}

let extensionReady = null;
/** CREATE EXTENSION cdc_ext (the SQL API); throws (the test fails) where it cannot be made. */
export function ensureExtension() {
	extensionReady ??= (async () => {
		await sql('CREATE EXTENSION IF NOT EXISTS cdc_ext');
		// the log writer starts within seconds; wait for it to log what is there
		await sql("SELECT cdc.wait_for_log(timeout => '30 s')");
	})();
	return extensionReady;
}

/** Wait until the change log holds everything committed so far. */
export async function waitForLog() {
	await sql("SELECT cdc.wait_for_log(timeout => '30 s')");
}

/** Restart the server (fast shutdown) and wait until it accepts connections. */
export async function restartServer() {
	const data = process.env.CDC_TEST_PGDATA;
	if (!data)
		throw new Error('CDC_TEST_PGDATA is not set: cannot restart the server');
	// asynchronously: the clients under test must keep answering meanwhile
	await promisify(execFile)('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '60', 'restart', '-l', `${data}/server.log`]);
}

export function uniq(prefix) {
	return `${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
}

export async function dropSlot(name) {
	await sql('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active', [name]).catch(() => {});
}

/** Collect n entries from an async iterator, failing after ms. */
export async function take(it, n, ms = 20000) {
	const out = [];
	const deadline = Date.now() + ms;
	while (out.length < n) {
		const left = deadline - Date.now();
		if (left <= 0)
			throw new Error(`timed out after ${out.length} of ${n} entries`);
		let t;
		const r = await Promise.race([it.next(), new Promise((_, rej) => { t = setTimeout(() => rej(new Error(`timed out after ${out.length} of ${n} entries`)), left); })]);
		clearTimeout(t);
		if (r.done)
			break;
		out.push(r.value);
	}
	return out;
}

/**
 * The checks both modes make on the first row of their types table (id
 * 9007199254740993, a 30-digit numeric, a microsecond timestamp, bytea,
 * NaN as float8 and numeric), inserted in table entity: every ChangeEntry
 * field and its type, lossless.
 */
export function assertTypesRow(e, entity) {
	assert.equal(e.operation, 'insert');
	assert.equal(e.entity, entity);
	assert.equal(e.entityId, 9007199254740993n);
	assert.match(e.lsn, /^[0-9A-F]+\/[0-9A-F]+$/);
	assert.match(e.commitLsn, /^[0-9A-F]+\/[0-9A-F]+$/);
	assert.equal(e.seq, 1);
	assert.equal(typeof e.xid, 'bigint');
	assert.equal(typeof e.timestampMicros, 'bigint');
	assert.ok(e.timestamp instanceof Date);
	assert.equal(e.timestamp.getTime(), Number(e.timestampMicros / 1000n));
	assert.ok(Math.abs(e.timestamp.getTime() - Date.now()) < 60000, 'commit time is now');
	assert.equal(e.oldData, null);
	const d = e.newData;
	assert.equal(d.id, 9007199254740993n);
	assert.equal(d.n, 123456789012345678901234567890n);
	assert.equal(d.ts, '2026-01-02T03:04:05.123456+00:00');
	assert.equal(d.b, '\\x00ff10');
	assert.equal(d.f, 'NaN');
	assert.equal(d.nn, 'NaN');
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
