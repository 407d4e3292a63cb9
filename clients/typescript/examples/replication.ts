// Data Replication: copy products into products_replica (here in the same
// database; point TARGET_DATABASE_URL elsewhere for a real target) over the
// replication protocol.  A transaction's end is confirmed to the server
// only after its changes are applied, so a restart resumes after the last
// applied transaction.
import pg from 'pg';
import type { ChangeEntry } from 'cdc-ext';
import { client, stopSignal } from './common.js';

const target = new pg.Pool(process.env.TARGET_DATABASE_URL ? { connectionString: process.env.TARGET_DATABASE_URL } : {});
const table = 'products_replica';

const stream = client.replicate({ slot: 'products_replica', createSlot: true, entities: ['products'], signal: stopSignal() });
for await (const change of stream) {
	if (change.operation === 'begin' || change.operation === 'commit')
		continue;
	const row = change as ChangeEntry;
	switch (row.operation) {
		case 'insert':
		case 'update': {
			const cols = Object.keys(row.newData!);
			const vals = cols.map((c) => { const v = row.newData![c]; return typeof v === 'bigint' ? v.toString() : v; });
			await target.query(
				`INSERT INTO ${table} (${cols.map((c) => `"${c}"`).join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')})
				 ON CONFLICT (id) DO UPDATE SET ${cols.map((c) => `"${c}" = EXCLUDED."${c}"`).join(', ')}`, vals);
			break;
		}
		case 'delete':
			await target.query(`DELETE FROM ${table} WHERE id = $1`, [String(row.entityId)]);
			break;
		case 'truncate':
			await target.query(`TRUNCATE ${table}`);
			break;
	}
	console.log(`replicated ${row.operation} ${String(row.entityId)}`);
}
console.log(`confirmed up to ${stream.confirmedLsn}`);
await target.end();
await client.end();
