// Event Publishing: every change becomes an event on a queue.  The queue
// here is PostgreSQL's own LISTEN/NOTIFY channel "events" (listen with
// `LISTEN events;` in psql); swap in Kafka, NATS, SQS...
import { client, stopSignal, toJson } from './common.js';

const messageQueue = {
	async publish(topic: string, event: unknown) {
		await client.pool.query('SELECT pg_notify($1, $2)', [topic, toJson(event)]);
		console.log(`published ${toJson(event)}`);
	},
};

// no consumer: a temporary one that starts now and is dropped at the end
const stream = client.streamChanges({ signal: stopSignal() });
for await (const change of stream) {
	const event = {
		type: `${change.entity}.${change.operation}`,
		timestamp: change.timestamp,
		data: {
			entityId: change.entityId,
			old: change.oldData,
			new: change.newData,
		},
	};
	await messageQueue.publish('events', event);
}
await client.end();
