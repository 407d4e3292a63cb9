// Search Index Sync: keep a search index (Typesense, Elasticsearch, ...) in
// step with the products table.  The "searchClient" here is an in-memory
// stand-in with the same two calls; swap in your own.
import { client, stopSignal, toJson } from './common.js';

const index = new Map<string, Record<string, unknown>>();
const searchClient = {
	async index(collection: string, doc: { id: unknown } & Record<string, unknown>) {
		index.set(`${collection}/${String(doc.id)}`, doc);
		console.log(`indexed ${collection}/${String(doc.id)} ${toJson(doc)}`);
	},
	async delete(collection: string, id: unknown) {
		index.delete(`${collection}/${String(id)}`);
		console.log(`deleted ${collection}/${String(id)}`);
	},
};

await client.createConsumer('search-sync', { entities: ['products'] }).catch(() => {});	/* once */
const stream = client.streamChanges({ consumer: 'search-sync', entities: ['products'], signal: stopSignal() });
for await (const change of stream) {
	switch (change.operation) {
		case 'insert':
		case 'update':
			await searchClient.index('products', {
				id: change.entityId,
				...change.newData,
			});
			break;
		case 'delete':
			await searchClient.delete('products', change.entityId);
			break;
	}
}
await client.end();
