// Cache Invalidation: drop the cached copy of every user or product that
// changed.  The cache is an in-memory Map standing in for Redis & co.
import { client, stopSignal, toJson } from './common.js';

const cache = new Map<string, unknown>();
await client.createConsumer('cache', { entities: ['users', 'products'] }).catch(() => {});
const stream = client.streamChanges({ consumer: 'cache', entities: ['users', 'products'], signal: stopSignal() });
for await (const change of stream) {
	const cacheKey = `${change.entity}:${toJson(change.entityId)}`;
	cache.delete(cacheKey);
	console.log(`invalidated ${cacheKey}`);
}
await client.end();
