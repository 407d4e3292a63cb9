// Client benchmark (run by hand: bash bench/client/run.sh).  The same
// changes are read three ways and timed end to end:
//   pg_recvlogical  (plugin cdc_ext over the replication protocol, to /dev/null)
//   replicate()     (the client, same plugin, same protocol)
//   streamChanges() (the client over the SQL API: cdc.stream from the change log)
// and the client's own cost per change is measured apart from the server:
// parse + ChangeEntry mapping of the plugin's JSON texts, against JSON.parse.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createRequire } from 'node:module';
import { CdcClient, parseJson, entryFromPluginJson } from '../../clients/typescript/dist/index.js';

// pg as the client package has it
const pg = createRequire(new URL('../../clients/typescript/package.json', import.meta.url))('pg');

const N = Number(process.env.BENCH_CHANGES ?? 200000);
const TXN = Number(process.env.BENCH_TXN_ROWS ?? 100);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const conn = { host: process.env.PGHOST ?? '127.0.0.1', port: Number(process.env.PGPORT ?? 5432), user: process.env.PGUSER ?? 'postgres', database: process.env.PGDATABASE ?? 'postgres' };
const run = promisify(execFile);
const db = new pg.Client(conn);
await db.connect();
const q = (t, v) => db.query(t, v);

const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

await q('CREATE EXTENSION IF NOT EXISTS cdc_ext');
await q(`DROP TABLE IF EXISTS bench_client; CREATE TABLE bench_client (id bigint PRIMARY KEY, name text, price numeric, qty int, at timestamptz, tags text[])`);
// pg_recvlogical confirms what it wrote when it stops: one slot per run
const recvSlots = Array.from({ length: RUNS }, (_, i) => `bench_recv_${i}`);
for (const s of [...recvSlots, 'bench_repl'])
	await q('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1', [s]);
await q("SELECT cdc.drop_consumer('bench-client') FROM cdc.consumers WHERE name = 'bench-client'");
for (const s of recvSlots)
	await q("SELECT pg_create_logical_replication_slot($1, 'cdc_ext')", [s]);
await q("SELECT pg_create_logical_replication_slot('bench_repl', 'cdc_ext')");
await q("SELECT cdc.create_consumer('bench-client', entities => '{bench_client}')");
const start = (await q('SELECT pg_current_wal_lsn()::text AS l')).rows[0].l;

// the workload: N inserts in transactions of TXN rows
for (let i = 0; i < N; i += TXN)
	await q(`INSERT INTO bench_client SELECT g, 'product ' || g, g * 1.25, g % 100, '2026-01-01'::timestamptz + g * interval '1 second', ARRAY['a', 'b']
		FROM generate_series($1::bigint, $2::bigint) g`, [i + 1, Math.min(N, i + TXN)]);
const end = (await q('SELECT pg_current_wal_lsn()::text AS l')).rows[0].l;
await q("SELECT cdc.wait_for_log(timeout => '300 s')");
console.log(`workload: ${N} inserts in transactions of ${TXN}, WAL ${start} .. ${end}`);

const client = new CdcClient({ ...conn, max: 2 });
const results = { recvlogical: [], replicate: [], stream: [], raw: [] };
const cpu = { replicate: [], stream: [] };

for (let r = 0; r < RUNS; r++) {
	// every reader starts at the same position: pg_recvlogical on a fresh slot
	// per run, the client on one slot it never confirms (confirm 'manual'),
	// streamChanges with a consumer it never checkpoints (checkpoint 'manual')
	let t = process.hrtime.bigint();
	await run('pg_recvlogical', ['-h', conn.host, '-p', String(conn.port), '-U', conn.user, '-d', conn.database,
		'--slot', recvSlots[r], '--start', '-o', 'transactions=true', '-o', 'entities=bench_client', '--endpos', end, '--no-loop', '-f', '/dev/null', '-s', '3600', '-F', '0']);
	results.recvlogical.push(Number(process.hrtime.bigint() - t) / 1e9);

	t = process.hrtime.bigint();
	let c0 = process.cpuUsage();
	const rs = client.replicate({ slot: 'bench_repl', entities: ['bench_client'], confirm: 'manual', statusInterval: 5000 });
	let n = 0;
	for await (const e of rs) {
		if (++n === N)
			break;
	}
	results.replicate.push(Number(process.hrtime.bigint() - t) / 1e9);
	let c1 = process.cpuUsage(c0);
	cpu.replicate.push((c1.user + c1.system) / N);
	await rs.close();

	t = process.hrtime.bigint();
	c0 = process.cpuUsage();
	const st = client.streamChanges({ consumer: 'bench-client', batchSize: 1000, batchTimeout: 0, checkpoint: 'manual' });
	n = 0;
	for (;;) {
		const b = await st.nextBatch();
		if (b.length === 0)
			break;
		n += b.length;
	}
	await st.close();
	results.stream.push(Number(process.hrtime.bigint() - t) / 1e9);
	c1 = process.cpuUsage(c0);
	cpu.stream.push((c1.user + c1.system) / N);
	if (n !== N)
		throw new Error(`streamChanges read ${n} of ${N}`);

	// the same round trips as streamChanges, rows left as text (no parsing,
	// no ChangeEntry): what the server and the protocol cost on their own
	const raw = new pg.Client(conn);
	await raw.connect();
	const text = { getTypeParser: () => (v) => v };
	t = process.hrtime.bigint();
	let cur = null;
	n = 0;
	for (;;) {
		await raw.query('BEGIN');
		if (cur)
			await raw.query('SELECT cdc.checkpoint($1, $2::pg_lsn, $3::int)', ['bench-client', cur[0], cur[1]]);
		const res = await raw.query({ text: `SELECT e.*, (EXTRACT(epoch FROM e."timestamp") * 1000000)::int8::text AS timestamp_micros
			FROM cdc.stream('bench-client', batch_size => 1000) e`, types: text });
		await raw.query('ROLLBACK');
		if (res.rows.length === 0)
			break;
		n += res.rows.length;
		const last = res.rows[res.rows.length - 1];
		cur = [last.commit_lsn, last.seq];
	}
	results.raw.push(Number(process.hrtime.bigint() - t) / 1e9);
	await raw.end();
	if (n !== N)
		throw new Error(`raw read ${n} of ${N}`);
}

// the client's own cost per change, without the server: the plugin's JSON for these rows
const texts = (await q(`SELECT data FROM pg_logical_slot_peek_changes('bench_repl', $1::pg_lsn, NULL, 'entities', 'bench_client')`, [end])).rows.map((r) => r.data);
let t = process.hrtime.bigint();
for (const s of texts)
	JSON.parse(s);
const plain = Number(process.hrtime.bigint() - t) / texts.length / 1000;
t = process.hrtime.bigint();
for (const s of texts)
	entryFromPluginJson(parseJson(s));
const mine = Number(process.hrtime.bigint() - t) / texts.length / 1000;

const rate = (s) => Math.round(N / s);
const rr = median(results.recvlogical), rp = median(results.replicate), rsm = median(results.stream), rw = median(results.raw);
console.log(`\nmedian of ${RUNS} runs, ${N} changes`);
console.log(`| reader | seconds | changes/s | vs pg_recvlogical | client CPU per change |`);
console.log(`|---|---|---|---|---|`);
console.log(`| pg_recvlogical (cdc_ext, to /dev/null) | ${rr.toFixed(3)} | ${rate(rr)} | 1.00 | - |`);
console.log(`| client replicate() | ${rp.toFixed(3)} | ${rate(rp)} | ${(rate(rp) / rate(rr)).toFixed(2)} | ${median(cpu.replicate).toFixed(2)} µs |`);
console.log(`| client streamChanges() (batch 1000) | ${rsm.toFixed(3)} | ${rate(rsm)} | ${(rate(rsm) / rate(rr)).toFixed(2)} | ${median(cpu.stream).toFixed(2)} µs |`);
console.log(`| same SQL round trips, rows as text (no client parsing) | ${rw.toFixed(3)} | ${rate(rw)} | ${(rate(rw) / rate(rr)).toFixed(2)} | - |`);
console.log(`\nparse + mapping per change (no server): ${mine.toFixed(2)} µs; JSON.parse alone ${plain.toFixed(2)} µs; overhead ${(mine - plain).toFixed(2)} µs (${texts.length} entries of ${Math.round(texts.reduce((a, s) => a + s.length, 0) / texts.length)} bytes)`);
console.log(`all runs: recvlogical ${results.recvlogical.map((x) => x.toFixed(3))}, replicate ${results.replicate.map((x) => x.toFixed(3))}, stream ${results.stream.map((x) => x.toFixed(3))}, raw ${results.raw.map((x) => x.toFixed(3))}`);

await client.end();
for (const s of [...recvSlots, 'bench_repl'])
	await q('SELECT pg_drop_replication_slot($1)', [s]);
await q("SELECT cdc.drop_consumer('bench-client')");
await q('DROP TABLE bench_client');
await db.end();
