// Search Index Sync: keep a search index (Typesense, Elasticsearch, ...) in
// step with the products table, starting from the products already there
// (start 'snapshot': each current row arrives as operation 'read', in order
// with the changes).  The "searchClient" here is an in-memory stand-in with
// the same two calls; swap in your own.
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

/* once: every current product, then the changes */
await client.createConsumer('search-sync', { entities: ['products'], start: 'snapshot' }).catch(() => {});
const stream = client.streamChanges({ consumer: 'search-sync', entities: ['products'], signal: stopSignal() });
for await (const change of stream) {
	switch (change.operation) {
		case 'read':		/* a row that was there: the backfill */
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
