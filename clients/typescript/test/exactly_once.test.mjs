// Exactly-once with consume(): the consumer process is SIGKILLed several
// times while a writer inserts; afterwards every committed source row is in
// the sink exactly once.  Also: a failing callback rolls its batch back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CdcClient } from '../dist/index.js';
import { conn, sql, uniq, sleep, ensureExtension, waitForLog, pool } from './helpers.mjs';

const worker = fileURLToPath(new URL('./fixtures/consumer.mjs', import.meta.url));
const client = new CdcClient({ ...conn, max: 3 });

before(async () => {
	await ensureExtension();
	await sql(`DROP TABLE IF EXISTS eo_src, eo_sink, eo_fail;
		CREATE TABLE eo_src (id int PRIMARY KEY, v text);
		CREATE TABLE eo_sink (src_id int, commit_lsn pg_lsn, seq int);
		CREATE TABLE eo_fail (id int)`);
});

after(async () => {
	await client.end();
});

function run(consumer, mode) {
	const child = spawn(process.execPath, [worker, consumer, mode ?? ''], { stdio: ['ignore', 'pipe', 'pipe'] });
	let out = '';
	child.stdout.on('data', (d) => { out += d; });
	child.stderr.on('data', (d) => { out += d; });
	const done = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, out })));
	return { child, done };
}

test('SIGKILL the consumer five times while a writer inserts: every row exactly once', async () => {
	const consumer = uniq('eo').replace(/_/g, '-');
	await client.createConsumer(consumer, { entities: ['eo_src'] });
	const p = pool();
	let next = 1;
	let writing = true;
	const writer = (async () => {
		while (writing) {
			const n = 1 + Math.floor(Math.random() * 5);	/* transactions of 1 to 5 rows */
			const ids = Array.from({ length: n }, () => next++);
			await p.query('INSERT INTO eo_src SELECT g, \'x\' FROM unnest($1::int[]) g', [ids]);
			await sleep(3);
		}
	})();
	const sunk = async () => (await sql('SELECT count(*)::int AS n FROM eo_sink')).rows[0].n;
	let kills = 0;
	for (let round = 0; round < 5; round++) {
		// killed mid-work: at a random moment once it has committed a batch
		// (node alone takes seconds to start on a loaded machine)
		const before = await sunk();
		const w = run(consumer);
		let exited = false;
		w.done.then(() => { exited = true; });
		for (const until = Date.now() + 60000; !exited && Date.now() < until && await sunk() <= before;)
			await sleep(50);
		await sleep(Math.random() * 600);
		w.child.kill('SIGKILL');
		const r = await w.done;
		assert.equal(r.signal, 'SIGKILL', `worker died before it was killed: ${r.out}`);
		kills++;
	}
	writing = false;
	await writer;
	await p.end();
	const during = (await sql('SELECT count(*)::int AS n FROM eo_sink')).rows[0].n;
	assert.ok(during > 0, 'the killed workers had committed batches');
	await waitForLog();
	const last = run(consumer, 'drain');
	const r = await last.done;
	assert.equal(r.code, 0, r.out);
	const total = next - 1;
	const res = await sql(`SELECT count(*)::int AS n, count(DISTINCT src_id)::int AS d,
		(SELECT count(*)::int FROM eo_src) AS src,
		(SELECT count(*)::int FROM eo_src s WHERE NOT EXISTS (SELECT 1 FROM eo_sink k WHERE k.src_id = s.id)) AS missing
		FROM eo_sink`);
	const { n, d, src, missing } = res.rows[0];
	assert.equal(kills, 5);
	assert.equal(src, total);
	assert.ok(total > 50, `the writer wrote ${total} rows`);
	assert.equal(missing, 0, 'no committed row missing');
	assert.equal(n, d, 'no row twice');
	assert.equal(n, total);
});

test('consume(): a failing callback rolls back its writes and the checkpoint; the batch comes again', async () => {
	const consumer = uniq('eofail').replace(/_/g, '-');
	await client.createConsumer(consumer, { entities: ['eo_fail'] });
	await sql('INSERT INTO eo_fail SELECT g FROM generate_series(1, 5) g');
	await waitForLog();
	await assert.rejects(client.consume(consumer, async (batch, tx) => {
		await tx.query('INSERT INTO eo_sink (src_id) VALUES (-1)');
		throw new Error('sink down');
	}, { batchTimeout: 0, untilEmpty: true }), /sink down/);
	assert.equal((await sql('SELECT count(*)::int AS n FROM eo_sink WHERE src_id = -1')).rows[0].n, 0);
	const seen = [];
	const r = await client.consume(consumer, async (batch, tx) => {
		seen.push(...batch.map((e) => e.newData.id));
		const x = await tx.query('SELECT 9007199254740993::int8 AS big');
		assert.equal(x.rows[0].big, 9007199254740993n, 'tx.query is lossless too');
	}, { batchSize: 2, batchTimeout: 0, untilEmpty: true });
	assert.deepEqual(seen, [1, 2, 3, 4, 5]);
	assert.deepEqual(r, { batches: 3, changes: 5 });
	await client.dropConsumer(consumer);
});

test('two consume() workers on one consumer never get the same change', async () => {
	const consumer = uniq('eotwo').replace(/_/g, '-');
	await client.createConsumer(consumer, { entities: ['eo_fail'] });
	await sql('DELETE FROM eo_sink');
	for (let i = 0; i < 20; i++)
		await sql('INSERT INTO eo_fail SELECT g FROM generate_series($1::int, $1::int + 4) g', [1000 + i * 5]);
	await waitForLog();
	const work = () => client.consume(consumer, async (batch, tx) => {
		for (const e of batch)
			await tx.query('INSERT INTO eo_sink (src_id) VALUES ($1)', [e.newData.id]);
		await sleep(5);
	}, { batchSize: 7, batchTimeout: 0, untilEmpty: true });
	const [a, b] = await Promise.all([work(), work()]);
	assert.equal(a.changes + b.changes, 100);
	const r = (await sql('SELECT count(*)::int AS n, count(DISTINCT src_id)::int AS d FROM eo_sink')).rows[0];
	assert.deepEqual(r, { n: 100, d: 100 });
	await client.dropConsumer(consumer);
});
