// Schema changes (docs/schema-changes.md): every change carries
// schemaVersion, so the product document's is_compatible_schema is one
// comparison; a consumer that asks for operation 'schema' also gets the
// shape before and after.  SQL API and replication mode.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { CdcClient } from '../dist/index.js';
import { conn, sql, uniq, ensureExtension, waitForLog } from './helpers.mjs';

const client = new CdcClient({ ...conn, max: 4 });
const consumers = [];

before(async () => {
	await ensureExtension();
	await sql('DROP TABLE IF EXISTS sch_orders');
});

after(async () => {
	for (const c of consumers)
		await client.dropConsumer(c).catch(() => {});
	await client.end();
	await sql('DROP TABLE IF EXISTS sch_orders').catch(() => {});
});

/** Everything the consumer has now, in cursor order. */
async function drain(consumer) {
	const s = client.streamChanges({ consumer, checkpoint: 'manual', batchTimeout: 0 });
	const out = [];
	for (;;) {
		const b = await s.nextBatch();
		if (!b || b.length === 0)
			break;
		out.push(...b);
	}
	await s.close();
	return out;
}

test('a consumer detects a schema change by schemaVersion (the README example)', async () => {
	const name = uniq('sch').replace(/_/g, '-');
	await client.createConsumer(name, { entities: ['sch_orders'],
		operations: ['insert', 'update', 'delete', 'truncate', 'schema'] });
	consumers.push(name);
	await sql('CREATE TABLE sch_orders (id int PRIMARY KEY, total numeric)');
	await sql('INSERT INTO sch_orders VALUES (1, 10)');
	await sql(`BEGIN; INSERT INTO sch_orders VALUES (2, 20);
		ALTER TABLE sch_orders ADD COLUMN currency text NOT NULL DEFAULT 'EUR';
		INSERT INTO sch_orders VALUES (3, 30, 'USD'); COMMIT`);
	await waitForLog();
	const got = await drain(name);
	assert.deepEqual(got.map((e) => `${e.operation}:${e.newData?.id ?? ''}`),
		['schema:', 'insert:1', 'insert:2', 'schema:', 'insert:3']);

	// the document's loop: is_compatible_schema(&change) is one comparison
	let known = null;
	const restarts = [];
	for (const change of got) {
		if (change.operation === 'schema')
			continue;
		if (known !== null && change.schemaVersion !== known)
			restarts.push(change.newData.id);	/* "Schema change detected, restarting consumer" */
		known = change.schemaVersion;
	}
	assert.deepEqual(restarts, [3]);

	// the schema entries: the shape after, and before; versions are their positions
	const [create, alter] = got.filter((e) => e.operation === 'schema');
	assert.equal(create.oldData, null);
	assert.equal(create.newData.command_tag, 'CREATE TABLE');
	assert.deepEqual(create.newData.key, ['id']);
	assert.deepEqual(alter.newData.columns.map((c) => [c.name, c.type, c.nullable, c.default]),
		[['id', 'integer', false, null], ['total', 'numeric', true, null],
			['currency', 'text', false, "'EUR'::text"]]);
	assert.deepEqual(alter.oldData.columns.map((c) => c.name), ['id', 'total']);
	assert.equal(alter.schemaVersion, alter.lsn);
	assert.equal(got[4].schemaVersion, alter.lsn);
	assert.equal(got[1].schemaVersion, create.lsn);
	assert.equal(got[2].schemaVersion, create.lsn);

	// a consumer that does not ask for them gets no schema entry, only the versions
	const plain = uniq('schplain').replace(/_/g, '-');
	await client.createConsumer(plain, { entities: ['sch_orders'], start: 'beginning' });
	consumers.push(plain);
	const rows = await drain(plain);
	assert.deepEqual(rows.map((e) => e.operation), ['insert', 'insert', 'insert']);
	assert.deepEqual(rows.map((e) => e.schemaVersion), [create.lsn, create.lsn, alter.lsn]);
});

test('the plugin path with schemaChanges: the same entries and versions', async () => {
	const slot = uniq('schslot');
	await sql(`SELECT pg_create_logical_replication_slot($1, 'cdc_ext')`, [slot]);
	try {
		await sql(`ALTER TABLE sch_orders RENAME COLUMN total TO amount`);
		await sql(`INSERT INTO sch_orders VALUES (4, 40, 'CHF')`);
		const r = await sql(`SELECT data FROM pg_logical_slot_get_changes($1, NULL, NULL,
			'schema_changes', 'true', 'entities', 'sch_orders')`, [slot]);
		const entries = r.rows.map((x) => JSON.parse(x.data));
		assert.deepEqual(entries.map((e) => e.operation), ['schema', 'insert']);
		assert.equal(entries[1].schema_version, entries[0].lsn);
		assert.deepEqual(entries[0].new_data.columns.map((c) => c.name), ['id', 'amount', 'currency']);
		assert.deepEqual(entries[0].old_data.columns.map((c) => c.name), ['id', 'total', 'currency']);
		// the client's own mapping of a plugin entry
		const { entryFromPluginJson } = await import('../dist/entry.js');
		assert.equal(entryFromPluginJson(entries[1]).schemaVersion, entries[0].lsn);
	} finally {
		await sql('SELECT pg_drop_replication_slot($1)', [slot]);
	}
});
