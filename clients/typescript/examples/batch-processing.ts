// Batch Processing: up to 100 changes per round trip (or whatever came
// within a second), bulk-indexed, checkpointed at the batch boundary.
import { client, stopSignal } from './common.js';
import type { ChangeEntry } from 'cdc-ext';

async function bulkIndexToSearch(inserts: ChangeEntry[]) {
	if (inserts.length > 0)
		console.log(`bulk indexed ${inserts.length}: ${inserts.map((c) => String(c.entityId)).join(',')}`);
}

await client.createConsumer('batch', { entities: ['products'] }).catch(() => {});
const stream = client.streamChanges({
	consumer: 'batch',
	batchSize: 100,
	batchTimeout: 1000,
	checkpoint: 'manual',
	signal: stopSignal(),
});
let batch: ChangeEntry[] | null;
while ((batch = await stream.nextBatch()) !== null) {
	const inserts = batch.filter((c) => c.operation === 'insert');
	await bulkIndexToSearch(inserts);
	// checkpoint at the batch boundary
	const last = batch.at(-1);
	if (last)
		await stream.checkpoint(last);
}
await client.end();
