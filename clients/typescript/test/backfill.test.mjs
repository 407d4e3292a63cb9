// Backfill through the client: start 'snapshot' (createConsumer, createGroup,
// a temporary stream), backfill() on an existing consumer, cancelBackfill(),
// backfills().  The property that matters: the stream applied in cursor order
// to an empty Map yields the table, whatever commits meanwhile; and a
// backfill's rows reach only who asked.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { CdcClient, CdcError } from '../dist/index.js';
import { conn, sql, uniq, take, sleep, ensureExtension, waitForLog } from './helpers.mjs';

const client = new CdcClient({ ...conn, max: 4 });
const consumers = [];
const groups = [];

function name(prefix) {
	return uniq(prefix).replace(/_/g, '-');
}

async function consumer(prefix, opts = {}) {
	const n = name(prefix);
	await client.createConsumer(n, opts);
	consumers.push(n);
	return n;
}

/** Poll backfills() until every table of backfill id has ended; its rows. */
async function finished(id, ms = 90000) {
	const deadline = Date.now() + ms;
	for (;;) {
		const rows = (await client.backfills()).filter((b) => b.id === id);
		if (rows.length > 0 && rows.every((b) => ['done', 'skipped', 'failed', 'cancelled'].includes(b.state)))
			return rows;
		if (Date.now() > deadline)
			assert.fail(`backfill ${id} still running after ${ms} ms: ${JSON.stringify(rows, (_k, v) => typeof v === 'bigint' ? String(v) : v)}`);
		await sleep(200);
	}
}

/** The backfill id of consumer (the newest). */
async function idOf(consumerName) {
	const rows = (await client.backfills()).filter((b) => b.consumer === consumerName);
	assert.ok(rows.length > 0, `no backfill for ${consumerName}`);
	return rows.map((b) => b.id).reduce((a, b) => (b > a ? b : a));
}

/** Everything a consumer has now (the log caught up first), through streamChanges. */
async function drain(consumerName) {
	await waitForLog();
	const s = client.streamChanges({ consumer: consumerName, batchSize: 5000 });
	const out = [];
	for (;;) {
		const b = await s.nextBatch();
		if (b === null || b.length === 0)
			break;
		out.push(...b);
	}
	await s.close();
	return out;
}

/** Apply entries of a one-column-key table to a Map (key -> row), in order. */
function apply(map, entries) {
	for (const e of entries) {
		switch (e.operation) {
			case 'read':
			case 'insert':
				map.set(e.entityId, e.newData);
				break;
			case 'update':
				if (e.oldData && e.oldData.id !== e.newData.id)
					map.delete(e.oldData.id);		/* the key changed */
				map.set(e.entityId, e.newData);
				break;
			case 'delete':
				map.delete(e.entityId);
				break;
			case 'truncate':
				map.clear();
				break;
		}
	}
	return map;
}

async function tableMap(table) {
	const r = await sql(`SELECT to_jsonb(t) AS row FROM ${table} t`);
	return new Map(r.rows.map((x) => [x.row.id, x.row]));
}

function assertSameTable(map, table) {
	const keys = [...table.keys()].sort((a, b) => a - b);
	assert.deepEqual([...map.keys()].sort((a, b) => a - b), keys, 'the same keys as the table');
	for (const k of keys)
		assert.deepEqual(map.get(k), table.get(k), `row ${k}`);
}

before(async () => {
	await ensureExtension();
	await sql(`DROP TABLE IF EXISTS bf_items, bf_small, bf_other, bf_locked, bf_nokey;
		CREATE TABLE bf_items (id int PRIMARY KEY, v text, n int);
		CREATE TABLE bf_small (id int PRIMARY KEY, v text);
		CREATE TABLE bf_other (id int PRIMARY KEY, v text);
		CREATE TABLE bf_locked (id int PRIMARY KEY);
		CREATE TABLE bf_nokey (a int);
		INSERT INTO bf_items SELECT g, repeat('x', g % 50), g FROM generate_series(1, 30000) g;
		INSERT INTO bf_small SELECT g, 's' || g FROM generate_series(1, 40) g;
		INSERT INTO bf_other SELECT g, 'o' || g FROM generate_series(1, 7) g;
		INSERT INTO bf_locked SELECT generate_series(1, 10);
		INSERT INTO bf_nokey VALUES (1), (2)`);
	await waitForLog();
});

after(async () => {
	for (const c of consumers)
		await client.dropConsumer(c).catch(() => {});
	for (const g of groups)
		await client.dropGroup(g).catch(() => {});
	await client.end();
	// the files share the server: the tens of thousands of changes made here
	// would otherwise be replayed by the next file's consumers that start
	// 'beginning' (the audit example has seconds to reach its own); this
	// file's consumers are gone, so no one is left with a gap
	await sql('SELECT * FROM cdc.trim(cdc.wait_for_log())');
});

test("start 'snapshot': every existing row as 'read', then the live changes; the stream applied to a Map is the table, whatever committed meanwhile", async () => {
	const bystander = await consumer('bystander', { entities: ['bf_items'] });
	const c = await consumer('snap', { entities: ['bf_items'], start: 'snapshot' });
	const id = await idOf(c);
	assert.equal(typeof id, 'bigint');

	// writes while the writer reads the table a chunk at a time: updates,
	// deletes, inserts, key changes, several per transaction
	const w = new pg.Client(conn);
	await w.connect();
	let stop = false, txns = 0;
	const writer = (async () => {
		let next = 100000;
		while (!stop) {
			const k = 1 + Math.floor(Math.random() * 30000);
			await w.query('BEGIN');
			await w.query('UPDATE bf_items SET n = n + 1, v = $2 WHERE id = $1', [k, `u${txns}`]);
			await w.query('DELETE FROM bf_items WHERE id = $1', [(k * 7) % 30000 + 1]);
			await w.query('INSERT INTO bf_items VALUES ($1, $2, 0)', [next++, `i${txns}`]);
			if (txns % 5 === 0)
				await w.query('UPDATE bf_items SET id = id + 1000000 WHERE id = $1', [(k * 13) % 30000 + 1]);
			await w.query('COMMIT');
			txns++;
		}
	})();
	const rows = await finished(id);
	stop = true;
	await writer;
	await w.end();
	assert.deepEqual(rows.map((b) => [b.entity, b.state, b.kind, b.consumer]), [['public.bf_items', 'done', 'consumer', c]]);
	assert.ok(txns > 0, 'changes committed during the backfill');

	// a live insert after the backfill: it comes after every read
	await sql(`INSERT INTO bf_items VALUES (999999, 'live', 1)`);
	const entries = await drain(c);
	const reads = entries.filter((e) => e.operation === 'read');
	const lastRead = entries.lastIndexOf(reads[reads.length - 1]);
	assert.equal(entries[entries.length - 1].operation, 'insert');
	assert.equal(entries[entries.length - 1].entityId, 999999);
	assert.ok(entries.length - 1 > lastRead, 'the live insert follows the reads');
	for (const e of reads) {
		assert.equal(e.entity, 'public.bf_items');
		assert.equal(e.oldData, null);
		assert.equal(e.entityId, e.newData.id);
	}
	assert.equal(rows[0].rowsDone, reads.length, 'rowsDone counts the reads sent');
	assert.ok(reads.length + rows[0].rowsSuperseded >= 30000 - txns, 'every row present was read, sent or superseded');
	assert.ok(rows[0].chunks >= 1 && rows[0].startedAt instanceof Date && rows[0].finishedAt instanceof Date);
	assertSameTable(apply(new Map(), entries), await tableMap('bf_items'));

	// the consumer that did not ask: the same changes, no read
	const other = await drain(bystander);
	assert.equal(other.filter((e) => e.operation === 'read').length, 0, 'no read for a consumer that did not ask');
	assert.ok(other.length >= txns * 3, 'it has the live changes');
});

test('backfill() of an existing consumer: the rows of its tables (entities narrow them), its id in backfills()', async () => {
	const c = await consumer('later', { entities: ['bf_small', 'bf_other'] });
	assert.deepEqual(await drain(c), [], 'nothing before the backfill: it started now');
	const id = await client.backfill(c, { entities: ['bf_small'] });
	assert.equal(typeof id, 'bigint');
	const rows = await finished(id);
	assert.deepEqual(rows.map((b) => [b.entity, b.state, b.rowsDone]), [['public.bf_small', 'done', 40]]);
	let entries = await drain(c);
	assert.deepEqual(entries.map((e) => [e.operation, e.entity]), Array(40).fill(['read', 'public.bf_small']));
	assertSameTable(apply(new Map(), entries), await tableMap('bf_small'));

	// all its tables, a second time (after a gap, say): read again
	const id2 = await client.backfill(c);
	assert.ok(id2 > id);
	const rows2 = await finished(id2);
	assert.deepEqual(rows2.map((b) => [b.entity, b.state, b.rowsDone]).sort(),
		[['public.bf_other', 'done', 7], ['public.bf_small', 'done', 40]]);
	entries = await drain(c);
	assert.equal(entries.length, 47);
	assertSameTable(apply(new Map(), entries.filter((e) => e.entity === 'public.bf_other')), await tableMap('bf_other'));

	// errors are the server's, as CdcError with its SQLSTATE
	await assert.rejects(client.backfill('no-such-consumer'), (err) => err instanceof CdcError && err.code === '42704');
	await assert.rejects(client.backfill(c, { entities: ['bf_items'] }), (err) => err instanceof CdcError && err.code === '22023');
});

test('cancelBackfill(): a backfill waiting for its table stops, and sends nothing after', async () => {
	const c = await consumer('cancel', { entities: ['bf_locked'] });
	// the table is locked: a backfill never waits for a lock, it stays pending
	const locker = new pg.Client(conn);
	await locker.connect();
	await locker.query('BEGIN; LOCK TABLE bf_locked IN ACCESS EXCLUSIVE MODE');
	const id = await client.backfill(c);
	await sleep(2500);
	let rows = (await client.backfills()).filter((b) => b.id === id);
	assert.deepEqual(rows.map((b) => b.state), ['pending']);
	// meanwhile the log keeps up with the other tables' changes
	await sql(`INSERT INTO bf_other VALUES (100, 'meanwhile')`);
	await waitForLog();
	assert.equal(await client.cancelBackfill(id), 1, 'one table had not finished');
	assert.equal(await client.cancelBackfill(id), 0, 'a second cancel stops nothing');
	await locker.query('COMMIT');
	await locker.end();
	await sleep(2500);
	rows = await finished(id);
	assert.deepEqual(rows.map((b) => [b.state, b.rowsDone]), [['cancelled', 0]]);
	assert.deepEqual(await drain(c), [], 'no read after the cancel');
	await assert.rejects(client.cancelBackfill(123456789n), (err) => err instanceof CdcError && err.code === '42704');
});

test("start 'snapshot' for a group and a temporary stream; reads whatever the operations filter; tables without a key are skipped", async () => {
	const g = name('grp');
	await client.createGroup(g, { entities: ['bf_small'], operations: ['delete'], start: 'snapshot' });
	groups.push(g);
	const id = await idOf(g);
	const [row] = await finished(id);
	assert.deepEqual([row.kind, row.state, row.rowsDone], ['group', 'done', 40]);
	await waitForLog();
	const batch = await client.group(g, 'm').read({ batchSize: 100 });
	assert.equal(batch.length, 40);
	assert.ok(batch.every((e) => e.operation === 'read' && e.deliveryCount === 1));

	// the temporary consumer of streamChanges
	const s = client.streamChanges({ entities: ['bf_other'], start: 'snapshot', batchTimeout: 500 });
	const got = await take(s[Symbol.asyncIterator](), 8, 60000);
	await s.close();
	assert.deepEqual(got.map((e) => e.operation), Array(8).fill('read'));
	assert.deepEqual(got.map((e) => e.entityId).sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 100]);
	assert.throws(() => client.streamChanges({ consumer: g, start: 'snapshot' }), CdcError);

	// no key: skipped, said in backfills()
	const k = await consumer('nokey', { entities: ['bf_nokey'], start: 'snapshot' });
	const [nk] = await finished(await idOf(k));
	assert.equal(nk.state, 'skipped');
	assert.match(nk.error, /no primary key/);
	assert.deepEqual(await drain(k), []);

	// 'read' is not a filter's operation
	await assert.rejects(client.createConsumer(name('bad'), { operations: ['read'] }), (err) => err instanceof CdcError && err.code === '22023');
});

test("README's grants are enough to backfill: a role with exactly them, through the client", async () => {
	const role = `bf_app_${process.pid}`;
	await sql(`DROP ROLE IF EXISTS ${role}; CREATE ROLE ${role} LOGIN;
		GRANT USAGE ON SCHEMA cdc TO ${role};
		GRANT EXECUTE ON FUNCTION
			cdc.create_consumer(text, text[], text[], cdc.operation[], text),
			cdc.drop_consumer(text),
			cdc.stream(text, pg_lsn, timestamptz, boolean, text[], text[], cdc.operation[], integer, interval, boolean),
			cdc.consume(text, integer, interval, boolean),
			cdc.checkpoint(text, pg_lsn, integer),
			cdc.consumer_info(), cdc.status(), cdc.writer_info(), cdc.current_lsn(),
			cdc.wait_for_log(pg_lsn, interval),
			cdc.backfill(text, text[]), cdc.cancel_backfill(bigint), cdc.backfill_info()
		TO ${role};
		GRANT SELECT ON cdc.consumers, cdc.backfills TO ${role};
		GRANT SELECT ON bf_small TO ${role}`);
	const app = new CdcClient({ ...conn, user: role, max: 2 });
	try {
		const c = name('app');
		await app.createConsumer(c, { entities: ['bf_small', 'bf_other'], start: 'snapshot' });
		// only the table its role may read
		const mine = (await app.backfills()).filter((b) => b.consumer === c);
		assert.deepEqual(mine.map((b) => b.entity), ['public.bf_small']);
		const [row] = await finished(mine[0].id);
		assert.equal(row.state, 'done');
		const id = await app.backfill(c);
		assert.ok(await app.cancelBackfill(id) >= 0);
		// another role's backfills are not its own
		assert.ok((await app.backfills()).every((b) => b.consumer === c));
		await waitForLog();
		const s = app.streamChanges({ consumer: c, batchSize: 1000 });
		const b = await s.nextBatch();
		await s.close();
		assert.ok(b.length >= 40 && b.slice(0, 40).every((e) => e.operation === 'read' && e.entity === 'public.bf_small'));
		await app.dropConsumer(c);
	} finally {
		await app.end();
		await sql(`DROP OWNED BY ${role}; DROP ROLE ${role}`);
	}
});
