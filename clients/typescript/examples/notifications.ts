// Real-Time Notifications: tell the customer when an order ships.
// (orders has REPLICA IDENTITY FULL, so updates carry the old row.)
import { client, stopSignal, toJson } from './common.js';

async function sendNotification(n: { type: string; orderId: unknown; userId: unknown }) {
	console.log(`notify ${toJson(n)}`);
}

await client.createConsumer('notifications', { entities: ['orders'] }).catch(() => {});
const stream = client.streamChanges({ consumer: 'notifications', entities: ['orders'], signal: stopSignal() });
for await (const change of stream) {
	if (change.operation === 'update') {
		const oldStatus = change.oldData?.status;
		const newStatus = change.newData?.status;
		if (oldStatus !== newStatus && newStatus === 'shipped') {
			await sendNotification({
				type: 'order_shipped',
				orderId: change.entityId,
				userId: change.newData!.user_id,
			});
		}
	}
}
await client.end();
