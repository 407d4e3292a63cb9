// Consumer groups through the client: two members share a stream without
// receiving the same change, nack and expired leases deliver again with a
// higher delivery count, claim takes a dead member's leases, an ack inside
// the sink's transaction commits with it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CdcClient } from '../dist/index.js';
import { conn, sql, uniq, sleep, ensureExtension, waitForLog } from './helpers.mjs';

const client = new CdcClient({ ...conn, max: 6 });
const groups = [];

async function group(prefix, opts = {}) {
	const name = uniq(prefix).replace(/_/g, '-');
	await client.createGroup(name, opts);
	groups.push(name);
	return name;
}

before(async () => {
	await ensureExtension();
	await sql(`DROP TABLE IF EXISTS g_t, g_sink; CREATE TABLE g_t (id int PRIMARY KEY, v text);
		CREATE TABLE g_sink (id int PRIMARY KEY)`);
});

after(async () => {
	for (const g of groups)
		await client.dropGroup(g).catch(() => {});
	await client.end();
});

test('two members share the stream: every change once, none to both, lossless ids', async () => {
	const g = await group('share', { entities: ['g_t'] });
	await sql(`INSERT INTO g_t SELECT g, 'v' FROM generate_series(1, 300) g`);
	await waitForLog();
	const a = client.group(g, 'a'), b = client.group(g, 'b');
	const seen = { a: [], b: [] };
	for (let round = 0; round < 20; round++) {
		const [ba, bb] = await Promise.all([a.read({ batchSize: 40 }), b.read({ batchSize: 40 })]);
		for (const e of ba) seen.a.push(e.entityId);
		for (const e of bb) seen.b.push(e.entityId);
		assert.ok(ba.every((e) => e.deliveryCount === 1 && e.operation === 'insert' && e.entity === 'public.g_t'));
		await Promise.all([a.ack(ba), b.ack(bb)]);
		if (ba.length === 0 && bb.length === 0)
			break;
	}
	const all = [...seen.a, ...seen.b].map(Number).sort((x, y) => x - y);
	assert.deepEqual(all, Array.from({ length: 300 }, (_, i) => i + 1), 'every change exactly once over both members');
	assert.ok(seen.a.length > 0 && seen.b.length > 0, 'both members got work');
	assert.equal((await a.pending()).length, 0, 'nothing left pending');
});

test('nack delivers again at once with a higher delivery count; claim takes a dead member\'s leases', async () => {
	const g = await group('redeliver', { entities: ['g_t'] });
	await sql(`UPDATE g_t SET v = 'w' WHERE id <= 3`);
	await waitForLog();
	const a = client.group(g, 'a'), b = client.group(g, 'b');
	const first = await a.read({ batchSize: 10 });
	assert.equal(first.length, 3);
	assert.equal(await a.nack(first[0]), 1);
	const again = await b.read({ batchSize: 10 });
	assert.deepEqual(again.map((e) => [e.seq, e.deliveryCount]), [[first[0].seq, 2]], 'the nacked change, delivered a second time');
	// a dies holding two leases; b claims them once they are idle
	await sleep(300);
	const pending = await b.pending();
	assert.deepEqual(pending.map((p) => p.member).sort(), ['a', 'a', 'b']);
	const claimed = await b.claim(200);
	assert.deepEqual(claimed.map((e) => e.seq).sort(), [first[1].seq, first[2].seq].sort());
	assert.ok(claimed.every((e) => e.deliveryCount === 2));
	assert.equal(await b.ack([...again, ...claimed]), 3);
	assert.equal((await b.pending()).length, 0);
});

test('exactly-once: the ack commits with the sink write in consume()\'s transaction; a failing callback acks nothing', async () => {
	const g = await group('exact', { entities: ['g_t'] });
	await sql(`INSERT INTO g_t SELECT g, 'x' FROM generate_series(1001, 1020) g`);
	await waitForLog();
	const m = client.group(g, 'm');
	const batch = await m.read({ batchSize: 100 });
	assert.equal(batch.length, 20);
	// a transaction that fails: neither the sink rows nor the acks stay
	const c1 = await client.pool.connect();
	try {
		await c1.query('BEGIN');
		await c1.query('INSERT INTO g_sink SELECT unnest($1::int[])', [batch.map((e) => Number(e.entityId))]);
		await m.ack(batch, { query: (t, v) => c1.query(t, v) });
		await c1.query('ROLLBACK');
	} finally { c1.release(); }
	assert.equal((await m.pending(true)).length, 20, 'the rolled-back ack left them leased');
	const c2 = await client.pool.connect();
	try {
		await c2.query('BEGIN');
		await c2.query('INSERT INTO g_sink SELECT unnest($1::int[])', [batch.map((e) => Number(e.entityId))]);
		await m.ack(batch, { query: (t, v) => c2.query(t, v) });
		await c2.query('COMMIT');
	} finally { c2.release(); }
	assert.equal((await m.pending(true)).length, 0);
	assert.equal((await sql('SELECT count(*)::int AS n FROM g_sink WHERE id BETWEEN 1001 AND 1020')).rows[0].n, 20);
	await assert.rejects(m.ack(batch[0]), (err) => err.code === '55000', 'a second ack of the same change is refused');
});

test('stream() with auto ack drains the group, AbortSignal stops it', async () => {
	const g = await group('stream', { entities: ['g_t'], start: 'beginning' });
	await waitForLog();
	// (the group does not ask for schema entries: the CREATE TABLE's is not one of its changes)
	const expected = (await sql(`SELECT count(*)::int AS n FROM cdc.log WHERE entity = 'public.g_t' AND operation <> 'schema'`)).rows[0].n;
	assert.ok(expected >= 323);
	const ctl = new AbortController();
	const ids = new Set();
	let n = 0;
	for await (const e of client.group(g, 's').stream({ batchSize: 50, batchTimeout: 200, signal: ctl.signal })) {
		n++;
		ids.add(`${e.commitLsn}/${e.seq}`);
		if (n >= expected)
			ctl.abort();
	}
	assert.equal(n, expected, 'every change of the group arrived');
	assert.equal(ids.size, n, 'none twice: auto ack acknowledged each batch before the next lease');
});
