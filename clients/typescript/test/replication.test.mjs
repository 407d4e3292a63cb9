// Replication-protocol mode: the cdc_ext plugin streamed over a walsender
// connection, with the client's own feedback.  Works without the SQL API.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CdcClient, CdcError, lsnToBigInt } from '../dist/index.js';
import { conn, sql, uniq, dropSlot, take, sleep, restartServer, assertTypesRow } from './helpers.mjs';

const client = new CdcClient({ ...conn, max: 2 });
const slots = [];

function slotName(p) {
	const s = uniq(p);
	slots.push(s);
	return s;
}

async function createSlot(name) {
	await sql("SELECT pg_create_logical_replication_slot($1, 'cdc_ext')", [name]);
}

async function confirmedFlush(slot) {
	const r = await sql('SELECT confirmed_flush_lsn::text AS c FROM pg_replication_slots WHERE slot_name = $1', [slot]);
	return r.rows[0].c;
}

before(async () => {
	// slots left by an earlier run that was killed (a fresh cluster has none)
	await sql(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
		WHERE NOT active AND slot_name ~ '^r[a-z]+_[0-9]+_[a-z0-9]+$'`);
	await sql(`DROP TABLE IF EXISTS r_types, r_a, r_b, r_c, r_big;
		CREATE TABLE r_types (id bigint PRIMARY KEY, n numeric, ts timestamptz, b bytea, f float8, j jsonb, t text, arr int[], nn numeric);
		CREATE TABLE r_a (id int PRIMARY KEY, v text);
		CREATE TABLE r_b (id int PRIMARY KEY, v text);
		CREATE TABLE r_c (k1 int, k2 text, v text, PRIMARY KEY (k1, k2));
		ALTER TABLE r_a REPLICA IDENTITY FULL;
		CREATE TABLE r_big (id int PRIMARY KEY, v text)`);
});

after(async () => {
	await client.end();
	for (const s of slots)
		await dropSlot(s);
});

test('every ChangeEntry field and type, lossless', async () => {
	const slot = slotName('rtypes');
	await createSlot(slot);
	await sql(`INSERT INTO r_types VALUES (9007199254740993, 123456789012345678901234567890,
		'2026-01-02 03:04:05.123456+00', '\\x00ff10', 'NaN',
		'{"k": 12345678901234567890, "s": "x"}', E'quote " and \\u2028 and 😀', '{1,2}', 'NaN')`);
	const s = client.replicate({ slot });
	const [e] = await take(s[Symbol.asyncIterator](), 1);
	await s.close();
	assert.equal(typeof e.lsn, 'string');
	assertTypesRow(e, 'public.r_types');
	const d = e.newData;
	assert.deepEqual(d.j, { k: 12345678901234567890n, s: 'x' });
	assert.equal(d.t, 'quote " and \u2028 and 😀');
	assert.deepEqual(d.arr, [1, 2]);
});

test('largeNumbers: string, and the plugin option numeric_as_string', async () => {
	const slot = slotName('rstr');
	await createSlot(slot);
	await sql(`INSERT INTO r_types (id, n) VALUES (9007199254740995, 1234567890.123456789012345678901)`);
	let s = client.replicate({ slot, largeNumbers: 'string' });
	let [e] = await take(s[Symbol.asyncIterator](), 1);
	await s.close();
	assert.equal(e.entityId, '9007199254740995');
	assert.equal(e.newData.n, '1234567890.123456789012345678901');
	// the same again (nothing confirmed: the entry's transaction was not finished)
	s = client.replicate({ slot, numericAsString: true });
	[e] = await take(s[Symbol.asyncIterator](), 1);
	await s.close();
	assert.equal(e.newData.id, '9007199254740995');
	assert.equal(e.newData.n, '1234567890.123456789012345678901');
});

test('filters: entities, excludeEntities, operations; update/delete/truncate entries; composite keys', async () => {
	const slot = slotName('rfilt');
	await createSlot(slot);
	await sql(`INSERT INTO r_a VALUES (1, 'a'); INSERT INTO r_b VALUES (1, 'b');
		UPDATE r_a SET v = 'a2' WHERE id = 1; DELETE FROM r_a WHERE id = 1;
		INSERT INTO r_c VALUES (7, 'x', 'c'); TRUNCATE r_b; INSERT INTO r_b VALUES (2, 'end')`);
	const collect = async (opts, n) => {
		const s = client.replicate({ slot, ...opts });
		const got = await take(s[Symbol.asyncIterator](), n);
		await s.close();
		return got;
	};
	const a = await collect({ entities: ['r_a'] }, 3);
	assert.deepEqual(a.map((e) => e.operation), ['insert', 'update', 'delete']);
	assert.deepEqual(a[1].oldData, { id: 1, v: 'a' });
	assert.deepEqual(a[1].newData, { id: 1, v: 'a2' });
	assert.deepEqual(a[2].oldData, { id: 1, v: 'a2' });
	assert.equal(a[2].newData, null);
	const notA = await collect({ excludeEntities: ['public.r_a', 'r_c'] }, 3);
	assert.deepEqual(notA.map((e) => `${e.entity}:${e.operation}`), ['public.r_b:insert', 'public.r_b:truncate', 'public.r_b:insert']);
	assert.equal(notA[1].entityId, null);
	const ins = await collect({ operations: ['insert'], entities: ['r_*'] }, 4);
	assert.deepEqual(ins.map((e) => e.entity), ['public.r_a', 'public.r_b', 'public.r_c', 'public.r_b']);
	assert.deepEqual(ins[2].entityId, { k1: 7, k2: 'x' });
	const tr = await collect({ operations: 'truncate,delete' }, 2);
	assert.deepEqual(tr.map((e) => e.operation), ['delete', 'truncate']);
});

test('transactions: begin/commit entries; messages', async () => {
	const slot = slotName('rtxn');
	await createSlot(slot);
	await sql(`BEGIN; INSERT INTO r_big VALUES (1, 'x'); SELECT pg_logical_emit_message(true, 'app', 'hello'); INSERT INTO r_big VALUES (2, 'y'); COMMIT`);
	const s = client.replicate({ slot, transactions: true, messages: ['app'] });
	const got = await take(s[Symbol.asyncIterator](), 5);
	await s.close();
	assert.deepEqual(got.map((e) => e.operation), ['begin', 'insert', 'message', 'insert', 'commit']);
	assert.equal(got[0].seq, 0);
	assert.equal(got[4].changes, 3);
	assert.equal(got[4].seq, 4);
	assert.equal(got[2].prefix, 'app');
	assert.equal(got[2].content, 'hello');
	assert.equal(got[2].transactional, true);
	assert.ok(lsnToBigInt(got[4].lsn) > lsnToBigInt(got[4].commitLsn), 'commit entry lsn is the end of the commit record');
});

test('a bad plugin option is a clear error, raised before anything is consumed', async () => {
	const slot = slotName('rbad');
	await createSlot(slot);
	const before = await confirmedFlush(slot);
	for (const [opts, re] of [
		[{ operations: ['insert', 'upsert'] }, /operations/],
		[{ extra: { no_such_option: 'x' } }, /no_such_option/],
		[{ onlyLocal: 'maybe' }, /only_local/],
	]) {
		const s = client.replicate({ slot, reconnect: false, ...opts });
		await assert.rejects(take(s[Symbol.asyncIterator](), 1), (err) => {
			assert.ok(err instanceof CdcError, 'a CdcError');
			assert.match(err.message, re);
			assert.match(err.code, /^(22023|42601)$/);
			return true;
		});
		await s.close();
	}
	const s = client.replicate({ slot: 'no_such_slot_here', reconnect: false });
	await assert.rejects(take(s[Symbol.asyncIterator](), 1), /no_such_slot_here.*does not exist/);
	await s.close();
	assert.equal(await confirmedFlush(slot), before);
});

test('feedback confirms only processed transactions\' ends; a restart redelivers only unconfirmed ones', async () => {
	const slot = slotName('rpart');
	await createSlot(slot);
	await sql('DROP TABLE IF EXISTS r_part; CREATE TABLE r_part (id int PRIMARY KEY, v text)');
	// one sql() call per transaction (a multi-statement string is one transaction)
	await sql(`INSERT INTO r_part VALUES (10, 't1')`);
	await sql(`INSERT INTO r_part VALUES (20, 't2')`);
	await sql(`INSERT INTO r_part VALUES (30, 't3a'), (31, 't3b'), (32, 't3c')`);
	await sql(`INSERT INTO r_part VALUES (40, 't4')`);
	const start = await confirmedFlush(slot);
	let s = client.replicate({ slot, entities: ['r_part'], transactions: true, statusInterval: 200 });
	let it = s[Symbol.asyncIterator]();
	// t1 and t2 fully (begin, insert, commit), then two of t3's three changes
	const got = await take(it, 3 + 3 + 3);
	const ends = got.filter((e) => e.operation === 'commit').map((e) => e.lsn);
	assert.equal(got[got.length - 1].newData.id, 31);
	await sleep(600);	/* a status update goes out */
	assert.equal(await confirmedFlush(slot), ends[1], 'confirmed: the end of the last fully processed transaction');
	assert.notEqual(await confirmedFlush(slot), start);
	// a crash: the connection goes without a goodbye
	s.client?.connection?.stream?.destroy();
	await s.close();
	assert.equal(await confirmedFlush(slot), ends[1]);
	s = client.replicate({ slot, entities: ['r_part'] });
	it = s[Symbol.asyncIterator]();
	const again = await take(it, 4);
	assert.deepEqual(again.map((e) => e.newData.id), [30, 31, 32, 40], 'only t3 (whole) and t4 again');
	await take(it, 0);
	await s.close();
});

test('manual confirm: nothing is confirmed unless confirmed; keepalives are answered while the application is slow', async () => {
	const slot = slotName('rman');
	await createSlot(slot);
	await sql(`ALTER SYSTEM SET wal_sender_timeout = '1s'`);
	await sql('SELECT pg_reload_conf()');
	try {
		await sql(`INSERT INTO r_big VALUES (100, 'm1')`);
		await sql(`INSERT INTO r_big VALUES (101, 'm2')`);
		const start = await confirmedFlush(slot);
		const s = client.replicate({ slot, entities: ['r_big'], confirm: 'manual', statusInterval: 300 });
		const it = s[Symbol.asyncIterator]();
		const [a] = await take(it, 1);
		await sleep(3000);	/* "processing" for three wal_sender_timeouts */
		const [b] = await take(it, 1);
		assert.equal(s.stats.reconnects, 0, 'the walsender did not time us out');
		assert.equal(await confirmedFlush(slot), start, 'nothing confirmed without confirm()');
		s.confirm(a);
		await sleep(800);
		const c1 = await confirmedFlush(slot);
		assert.ok(lsnToBigInt(c1) > lsnToBigInt(a.commitLsn), 'the end of the first transaction');
		assert.ok(lsnToBigInt(c1) < lsnToBigInt(b.commitLsn));
		await s.close();
	} finally {
		await sql('ALTER SYSTEM RESET wal_sender_timeout');
		await sql('SELECT pg_reload_conf()');
	}
});

test('connection loss: a terminated walsender and a server restart; the stream continues without loss or repeat', async () => {
	const slot = slotName('rloss');
	await createSlot(slot);
	await sql('DROP TABLE IF EXISTS r_loss; CREATE TABLE r_loss (id int PRIMARY KEY)');
	const s = client.replicate({ slot, entities: ['r_loss'], reconnect: { initialDelay: 50, maxDelay: 500 } });
	const it = s[Symbol.asyncIterator]();
	await sql('INSERT INTO r_loss SELECT g FROM generate_series(1, 50) g');
	const first = await take(it, 10);
	if (process.env.DEBUG) console.error('first ok');
	await sql(`SELECT pg_terminate_backend(pid) FROM pg_stat_replication WHERE application_name = '' OR true`);
	await sql('INSERT INTO r_loss SELECT g FROM generate_series(51, 60) g');
	const second = await take(it, 50);
	if (process.env.DEBUG) console.error('second ok', s.stats);
	// the iterator waits for more while the server restarts (it answers the
	// shutdown's keepalive: nothing handed out is unprocessed)
	const thirdP = take(it, 10, 60000);
	await restartServer();
	await sql('INSERT INTO r_loss SELECT g FROM generate_series(61, 70) g');
	const third = await thirdP;
	await s.close();
	const ids = [...first, ...second, ...third].map((e) => e.newData.id);
	assert.deepEqual(ids, Array.from({ length: 70 }, (_, i) => i + 1));
	assert.ok(s.stats.reconnects >= 2, `reconnected (${s.stats.reconnects})`);
});

test('AbortSignal: iteration ends cleanly, what was processed is confirmed, nothing after it', async () => {
	const slot = slotName('rabort');
	await createSlot(slot);
	await sql('DROP TABLE IF EXISTS r_abort; CREATE TABLE r_abort (id int PRIMARY KEY)');
	await sql('INSERT INTO r_abort VALUES (1)');
	await sql('INSERT INTO r_abort VALUES (2)');
	const ac = new AbortController();
	const s = client.replicate({ slot, entities: ['r_abort'], transactions: true, signal: ac.signal });
	const it = s[Symbol.asyncIterator]();
	const got = await take(it, 4);	/* begin, insert 1, commit, begin of the second */
	assert.deepEqual(got.map((e) => e.operation), ['begin', 'insert', 'commit', 'begin']);
	const pending = it.next();	/* the first transaction's commit is now processed */
	ac.abort();
	const r = await pending;
	assert.ok(r.done || r.value.operation === 'insert');
	assert.equal((await it.next()).done, true);
	await sleep(200);
	assert.equal(await confirmedFlush(slot), got[2].lsn, 'the end of the first transaction, not of the second');
});
