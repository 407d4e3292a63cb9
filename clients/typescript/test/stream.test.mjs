// SQL-API mode: streamChanges / nextBatch / checkpoints / consumers over the
// change log (cdc.stream, cdc.checkpoint, cdc.consumers, cdc.status).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CdcClient, CdcError, lsnToBigInt } from '../dist/index.js';
import { conn, sql, uniq, take, sleep, ensureExtension, waitForLog, restartServer, assertTypesRow } from './helpers.mjs';

const client = new CdcClient({ ...conn, max: 4 });
const consumers = [];

async function consumer(prefix, opts = {}) {
	const name = uniq(prefix).replace(/_/g, '-');
	await client.createConsumer(name, opts);
	consumers.push(name);
	return name;
}

before(async () => {
	await ensureExtension();
	await sql(`DROP TABLE IF EXISTS s_types, s_a, s_b, s_big, s_loss;
		CREATE TABLE s_types (id bigint PRIMARY KEY, n numeric, ts timestamptz, b bytea, f float8, j jsonb, t text, nn numeric);
		CREATE TABLE s_a (id int PRIMARY KEY, v text);
		CREATE TABLE s_b (id int PRIMARY KEY, v text);
		CREATE TABLE s_big (id int PRIMARY KEY);
		CREATE TABLE s_loss (id int PRIMARY KEY);
		ALTER TABLE s_a REPLICA IDENTITY FULL`);
});

after(async () => {
	for (const c of consumers)
		await client.dropConsumer(c).catch(() => {});
	await client.end();
});

test('every ChangeEntry field and type through cdc.stream, lossless', async () => {
	const c = await consumer('types');
	await sql(`INSERT INTO s_types VALUES (9007199254740993, 123456789012345678901234567890,
		'2026-01-02 03:04:05.123456+00', '\\x00ff10', 'NaN', '{"k": 12345678901234567890}', E'q " \\u2028 😀', 'NaN')`);
	await waitForLog();
	const s = client.streamChanges({ consumer: c });
	const [e] = await take(s[Symbol.asyncIterator](), 1);
	await s.close();
	assertTypesRow(e, 'public.s_types');
	assert.equal(e.unchangedToast, undefined);
	const d = e.newData;
	assert.deepEqual(d.j, { k: 12345678901234567890n });
	assert.equal(d.t, 'q " \u2028 😀');
	// the same row with largeNumbers 'string' (numeric_as_string on the server)
	const s2 = client.streamChanges({ consumer: c, largeNumbers: 'string' });
	const [e2] = await take(s2[Symbol.asyncIterator](), 1);
	await s2.close();
	assert.equal(e2.entityId, '9007199254740993');
	assert.equal(e2.newData.n, '123456789012345678901234567890');
	// exact microseconds: the same commit time as the server has
	const r = await sql(`SELECT (extract(epoch FROM "timestamp") * 1000000)::int8::text AS us FROM cdc.stream($1) LIMIT 1`, [c]);
	assert.equal(e.timestampMicros, BigInt(r.rows[0].us));
});

test('filters: entities, excludeEntities, operations (call filters narrow the consumer\'s)', async () => {
	const c = await consumer('filt');
	await sql(`INSERT INTO s_a VALUES (1, 'a')`);
	await sql(`INSERT INTO s_b VALUES (1, 'b')`);
	await sql(`UPDATE s_a SET v = 'a2' WHERE id = 1`);
	await sql(`DELETE FROM s_a WHERE id = 1`);
	await sql(`TRUNCATE s_b`);
	await waitForLog();
	const all = async (opts) => {
		const s = client.streamChanges({ consumer: c, checkpoint: 'manual', batchTimeout: 0, ...opts });
		const out = [];
		for (;;) {
			const b = await s.nextBatch();
			if (!b || b.length === 0)
				break;
			out.push(...b);
		}
		await s.close();
		return out.map((e) => `${e.entity}:${e.operation}`);
	};
	assert.deepEqual(await all({ entities: ['s_a'] }), ['public.s_a:insert', 'public.s_a:update', 'public.s_a:delete']);
	assert.deepEqual(await all({ excludeEntities: ['public.s_a'], entities: ['s_*'] }), ['public.s_b:insert', 'public.s_b:truncate']);
	assert.deepEqual(await all({ operations: ['update', 'truncate'], entities: ['s_a', 's_b'] }), ['public.s_a:update', 'public.s_b:truncate']);
	const c2 = await consumer('filt2', { entities: ['s_a'], operations: ['delete'] });
	await sql(`INSERT INTO s_a VALUES (2, 'x')`);
	await sql(`DELETE FROM s_a WHERE id = 2`);
	await waitForLog();
	const s = client.streamChanges({ consumer: c2 });
	const [d] = await take(s[Symbol.asyncIterator](), 1);
	await s.close();
	assert.equal(d.operation, 'delete');
	assert.deepEqual(d.oldData, { id: 2, v: 'x' });
});

test('batches: exact sizes, a transaction larger than the batch, auto and manual checkpoints', async () => {
	const c = await consumer('batch');
	for (let i = 1; i <= 10; i++)
		await sql('INSERT INTO s_big VALUES ($1)', [i]);
	await sql('INSERT INTO s_big SELECT g FROM generate_series(11, 35) g');	/* one transaction of 25 */
	await waitForLog();
	// manual: reading moves nothing
	let s = client.streamChanges({ consumer: c, batchSize: 3, checkpoint: 'manual' });
	const sizes = [];
	const ids = [];
	for (;;) {
		const b = await s.nextBatch();
		if (b.length === 0)
			break;
		sizes.push(b.length);
		ids.push(...b.map((e) => e.newData.id));
	}
	assert.deepEqual(sizes, [...Array(11).fill(3), 2]);
	assert.equal(sizes.reduce((a, b) => a + b), 35);
	assert.deepEqual(ids, Array.from({ length: 35 }, (_, i) => i + 1));
	let info = (await client.listConsumers()).find((x) => x.name === c);
	const start = info.checkpointLsn;
	await s.close();
	info = (await client.listConsumers()).find((x) => x.name === c);
	assert.equal(info.checkpointLsn, start, 'manual mode moved nothing');
	// auto: asking for the next batch checkpoints the previous one
	s = client.streamChanges({ consumer: c, batchSize: 4 });
	const b1 = await s.nextBatch();
	const b2 = await s.nextBatch();
	assert.deepEqual(b2.map((e) => e.newData.id), [5, 6, 7, 8]);
	info = (await client.listConsumers()).find((x) => x.name === c);
	assert.equal(info.checkpointLsn, b1[3].commitLsn);
	assert.equal(info.checkpointSeq, b1[3].seq);
	await s.close();
	// an explicit checkpoint inside the big transaction, then a new stream resumes right after it
	s = client.streamChanges({ consumer: c, batchSize: 4, checkpoint: 'manual' });
	let got = [];
	while (got.length < 20)
		got.push(...await s.nextBatch());
	const mid = got.find((e) => e.newData.id === 20);
	await s.checkpoint(mid);
	await s.close();
	s = client.streamChanges({ consumer: c, batchSize: 100 });
	const rest = await s.nextBatch();
	await s.close();
	assert.deepEqual(rest.map((e) => e.newData.id), Array.from({ length: 15 }, (_, i) => i + 21));
	const lag = await client.lag(c);
	assert.equal(lag.checkpointLsn, mid.commitLsn);
	assert.equal(typeof lag.bytes, 'bigint');
	assert.match(lag.currentLsn, /\//);
});

test('fromLsn, fromTimestamp, fromBeginning replay whatever the checkpoint', async () => {
	const c = await consumer('replay');
	const t0 = new Date(Date.now() - 1);
	await sql('INSERT INTO s_a VALUES (100, \'r1\')');
	const mid = await client.currentLsn();
	await sleep(20);
	const t1 = new Date();
	await sql('INSERT INTO s_a SELECT g, \'r2\' FROM generate_series(101, 110) g');
	await waitForLog();
	const ids = async (opts) => {
		const s = client.streamChanges({ consumer: c, entities: ['s_a'], operations: ['insert'], batchSize: 3, batchTimeout: 0, ...opts });
		const out = [];
		for (;;) {
			const b = await s.nextBatch();
			if (b.length === 0)
				break;
			out.push(...b.map((e) => e.newData.id));
		}
		await s.close();
		return out;
	};
	assert.deepEqual(await ids({ fromLsn: mid }), Array.from({ length: 10 }, (_, i) => 101 + i));
	assert.deepEqual(await ids({ fromTimestamp: t1 }), Array.from({ length: 10 }, (_, i) => 101 + i));
	assert.deepEqual((await ids({ fromTimestamp: t0 })).slice(0, 2), [100, 101]);
	const everything = await ids({ fromBeginning: true });
	assert.ok(everything.includes(1) || everything.includes(2), 'changes committed before the consumer existed');
	assert.deepEqual(everything.slice(-11), [100, ...Array.from({ length: 10 }, (_, i) => 101 + i)]);
});

test('without a consumer: a temporary one from now, dropped at the end; status, currentLsn', async () => {
	const ac = new AbortController();
	const s = client.streamChanges({ entities: ['s_b'], signal: ac.signal, batchTimeout: 500 });
	const it = s[Symbol.asyncIterator]();
	const first = it.next();
	await sleep(300);
	await sql(`INSERT INTO s_b VALUES (50, 'tmp')`);
	const r = await first;
	assert.equal(r.value.newData.id, 50);
	assert.ok((await client.listConsumers()).some((x) => x.name === s.consumer));
	const t = Date.now();
	const pending = it.next();
	await sleep(100);
	ac.abort();
	assert.equal((await pending).done, true);
	assert.ok(Date.now() - t < 1500, 'abort ends a long poll promptly');
	await sleep(200);
	assert.ok(!(await client.listConsumers()).some((x) => x.name === s.consumer), 'temporary consumer dropped');
	const st = await client.status();
	assert.equal(st.enabled, true);
	assert.match(st.currentLsn, /\//);
	assert.ok(lsnToBigInt(await client.currentLsn()) >= lsnToBigInt(st.currentLsn));
});

test('consumer management and errors', async () => {
	const name = uniq('mgmt').replace(/_/g, '-');
	const lsn = await client.createConsumer(name, { entities: ['s_*'], start: 'beginning' });
	assert.match(lsn, /\//);
	await assert.rejects(client.createConsumer(name), (e) => e instanceof CdcError && e.code === '42710');
	const info = (await client.listConsumers()).find((x) => x.name === name);
	assert.deepEqual(info.entities, ['s_*']);
	assert.equal(await client.dropConsumer(name), true);
	await assert.rejects(async () => {
		const s = client.streamChanges({ consumer: name });
		await s.nextBatch();
	}, (e) => e instanceof CdcError && /does not exist|not found/.test(e.message));
});

test('connection loss: a terminated backend and a server restart; the iterator continues without loss or repeat', async () => {
	const c = await consumer('loss');
	const s = client.streamChanges({ consumer: c, entities: ['s_loss'], batchSize: 7, batchTimeout: 300, reconnect: { initialDelay: 50, maxDelay: 500 } });
	const it = s[Symbol.asyncIterator]();
	await sql('INSERT INTO s_loss SELECT g FROM generate_series(1, 30) g');
	await waitForLog();
	const first = await take(it, 10);
	await sql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%cdc.stream(%' AND pid <> pg_backend_pid()`);
	await sql('INSERT INTO s_loss SELECT g FROM generate_series(31, 40) g');
	await waitForLog();
	const second = await take(it, 25);
	const thirdP = take(it, 15, 90000);
	await restartServer();
	await sql('INSERT INTO s_loss SELECT g FROM generate_series(41, 50) g');
	const third = await thirdP;
	await s.close();
	assert.deepEqual([...first, ...second, ...third].map((e) => e.newData.id), Array.from({ length: 50 }, (_, i) => i + 1));
});
