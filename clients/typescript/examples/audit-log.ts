// Audit Log: every change since the beginning of the retained log, written
// to the audit_log table exactly once: consume() commits the rows and the
// consumer's checkpoint in one transaction.
import { client, stopSignal } from './common.js';
import { stringifyJson, type ChangeEntry } from 'cdc-ext';

function extractUserId(change: ChangeEntry): unknown {
	return change.newData?.user_id ?? change.oldData?.user_id ?? null;	/* add user context if you have it */
}

await client.createConsumer('audit', { start: 'beginning', excludeEntities: ['audit_log'] }).catch(() => {});
const r = await client.consume('audit', async (batch, tx) => {
	for (const change of batch) {
		await tx.query(
			`INSERT INTO audit_log (at, micros, entity, entity_id, operation, old_values, new_values, commit_lsn, seq)
			 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			[change.timestamp, change.timestampMicros, change.entity, stringifyJson(change.entityId ?? null),
			 change.operation, stringifyJson(change.oldData), stringifyJson(change.newData),
			 change.commitLsn, change.seq]);
		void extractUserId(change);
	}
	console.log(`audited ${batch.length} changes`);
}, { signal: stopSignal() });
console.log(`done: ${r.changes} changes in ${r.batches} batches`);
await client.end();

