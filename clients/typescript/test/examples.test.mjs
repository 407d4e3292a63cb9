// The README's examples run against the server: batch processing (SQL API,
// nextBatch + checkpoints), replication (replication protocol into a
// replica table), audit log (consume(), exactly-once into a table), event
// publishing (temporary consumer, NOTIFY), search index sync (from a backfill), cache
// invalidation and notifications (streamChanges of a named consumer).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { conn, sql, sleep, ensureExtension, waitForLog } from './helpers.mjs';

const dir = fileURLToPath(new URL('../examples/', import.meta.url));
const env = { ...process.env, PGHOST: conn.host, PGPORT: String(conn.port), PGUSER: conn.user, PGDATABASE: conn.database };

function runExample(name, seconds) {
	const child = spawn(process.execPath, [`${dir}dist/${name}.js`], { env: { ...env, EXAMPLE_SECONDS: String(seconds) }, stdio: ['ignore', 'pipe', 'pipe'] });
	let out = '';
	child.stdout.on('data', (d) => { out += d; });
	child.stderr.on('data', (d) => { out += d; });
	return new Promise((resolve) => child.on('exit', (code) => resolve({ code, out })));
}

/* poll a boolean query until true (at most 60 s) */
async function until(query) {
	for (let i = 0; i < 600; i++) {
		const r = (await sql(query)).rows[0];
		if (Object.values(r)[0] === true)
			return;
		await sleep(100);
	}
	assert.fail(`still false after 60 s: ${query}`);
}

before(async () => {
	await ensureExtension();
	await sql('DROP TABLE IF EXISTS products, users, orders, audit_log, products_replica');
	await sql(readFileSync(`${dir}setup.sql`, 'utf8'));
	for (const c of ['batch', 'audit', 'search-sync', 'cache', 'notifications'])
		await sql('SELECT cdc.drop_consumer($1) FROM cdc.consumers WHERE name = $1', [c]);
	await sql("SELECT pg_drop_replication_slot('products_replica') FROM pg_replication_slots WHERE slot_name = 'products_replica'");
	// the audit example starts 'beginning' and has ten seconds: what the
	// files before this one logged (thousands of changes) is trimmed first
	await sql('SELECT * FROM cdc.trim(cdc.wait_for_log())');
});

test('batch processing and replication examples', async () => {
	const batch = runExample('batch-processing', 10);
	const repl = runExample('replication', 10);
	// write once the consumer and the slot exist (both start 'now'; node
	// alone took seconds to start on a loaded machine)
	await until(`SELECT (SELECT count(*) FROM cdc.consumers WHERE name = 'batch')
		+ (SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'products_replica' AND active) = 2`);
	await sql(`INSERT INTO products VALUES (9007199254740993, 'big', 123456789012345678901234567890.25, 'x'), (2, 'two', 2, 'y')`);
	await sql(`UPDATE products SET price = 3 WHERE id = 2`);
	await sql(`INSERT INTO products VALUES (3, 'three', 3, 'z')`);
	await sql(`DELETE FROM products WHERE id = 3`);
	await waitForLog();
	const [b, r] = await Promise.all([batch, repl]);
	assert.equal(b.code, 0, b.out);
	assert.match(b.out, /bulk indexed 2: 9007199254740993,2/);
	assert.match(b.out, /bulk indexed 1: 3|bulk indexed 3: 9007199254740993,2,3/);
	assert.equal(r.code, 0, r.out);
	const rows = (await sql('SELECT id::text, name, price::text FROM products_replica ORDER BY id')).rows;
	assert.deepEqual(rows, [{ id: '2', name: 'two', price: '3' }, { id: '9007199254740993', name: 'big', price: '123456789012345678901234567890.25' }]);
});

test('audit log (exactly-once consume) and event publishing examples', async () => {
	const listener = new pg.Client(conn);
	await listener.connect();
	const events = [];
	listener.on('notification', (n) => events.push(JSON.parse(n.payload)));
	await listener.query('LISTEN events');
	const consumers = (await sql('SELECT count(*)::int AS n FROM cdc.consumers')).rows[0].n;
	const pub = runExample('event-publishing', 10);
	const audit = runExample('audit-log', 10);
	// write once both consumers exist (the event publisher's is temporary and starts 'now')
	await until(`SELECT count(*) >= ${consumers} + 2 FROM cdc.consumers`);
	await sql(`INSERT INTO users VALUES (1, 'ada@example.com')`);
	await waitForLog();
	const [p, a] = await Promise.all([pub, audit]);
	await listener.end();
	assert.equal(p.code, 0, p.out);
	assert.ok(events.some((e) => e.type === 'public.users.insert' && e.data.new.email === 'ada@example.com'), JSON.stringify(events));
	assert.equal(a.code, 0, a.out);
	const n = (await sql(`SELECT count(*)::int AS n FROM audit_log WHERE entity = 'public.products'`)).rows[0].n;
	assert.ok(n >= 5, `audit rows for products: ${n}`);
	const big = (await sql(`SELECT new_values->>'id' AS id FROM audit_log WHERE entity_id = '9007199254740993'::jsonb AND operation = 'insert'`)).rows;
	assert.ok(big.length >= 1 && big.every((x) => x.id === '9007199254740993'), 'the bigint key is exact in jsonb');
});

test('search index sync, cache invalidation and notification examples', async () => {
	await sql('DELETE FROM products; DELETE FROM users; DELETE FROM orders');
	// a product already there: the search example starts with a backfill
	await sql(`INSERT INTO products VALUES (8, 'chair', 40, 'home')`);
	const search = runExample('search-index-sync', 10);
	const cache = runExample('cache-invalidation', 10);
	const notify = runExample('notifications', 10);
	// each example creates its consumer (start 'now') before it streams: write once all three exist
	for (let i = 0; i < 80; i++) {
		const n = (await sql(`SELECT count(*)::int AS n FROM cdc.consumers WHERE name IN ('search-sync', 'cache', 'notifications')`)).rows[0].n;
		if (n === 3)
			break;
		await sleep(100);
	}
	await sql(`INSERT INTO products VALUES (9007199254740995, 'lamp', 10.5, 'home'), (7, 'desk', 99, 'home')`);
	await sql(`UPDATE products SET price = 11 WHERE id = 9007199254740995`);
	await sql(`DELETE FROM products WHERE id = 7`);
	await sql(`INSERT INTO users VALUES (42, 'grace@example.com')`);
	await sql(`INSERT INTO orders VALUES (500, 42, 'new'), (501, 42, 'new')`);
	await sql(`UPDATE orders SET status = 'shipped' WHERE id = 500`);
	await sql(`UPDATE orders SET status = 'cancelled' WHERE id = 501`);
	await waitForLog();
	const [s, c, n] = await Promise.all([search, cache, notify]);
	assert.equal(s.code, 0, s.out);
	// the product that was there before is indexed too (a 'read' of the backfill)
	assert.match(s.out, /^indexed products\/8 \{"id":8,"name":"chair","price":40,"category":"home"\}$/m);
	// the update is indexed with its new price and the exact bigint id; the deleted row leaves the index
	assert.match(s.out, /indexed products\/9007199254740995 \{"id":"9007199254740995","name":"lamp","price":11,"category":"home"\}/);
	assert.match(s.out, /deleted products\/7/);
	assert.equal(c.code, 0, c.out);
	for (const k of ['public.products:"9007199254740995"', 'public.products:7', 'public.users:42'])
		assert.ok(c.out.includes(`invalidated ${k}`), `${k} in:\n${c.out}`);
	assert.ok(!/invalidated public\.orders/.test(c.out), 'orders are not the cache\'s');
	assert.equal(n.code, 0, n.out);
	// one notification: the order that shipped, none for the cancelled one or the inserts
	assert.deepEqual(n.out.match(/^notify .*$/gm), ['notify {"type":"order_shipped","orderId":500,"userId":42}']);
});
