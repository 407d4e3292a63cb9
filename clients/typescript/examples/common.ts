// Shared by the examples: the client (connection from the usual PG*
// environment variables or DATABASE_URL) and a stop signal (EXAMPLE_SECONDS
// for a bounded run; Ctrl-C otherwise).
import { CdcClient } from 'cdc-ext';

export const client = new CdcClient(process.env.DATABASE_URL ?? {});

export function stopSignal(): AbortSignal {
	const ac = new AbortController();
	process.once('SIGINT', () => ac.abort());
	process.once('SIGTERM', () => ac.abort());
	const s = Number(process.env.EXAMPLE_SECONDS ?? 0);
	if (s > 0)
		setTimeout(() => ac.abort(), s * 1000).unref();
	return ac.signal;
}

/** JSON for logs and queues: BigInt values (ids beyond 2^53) as strings. */
export function toJson(v: unknown): string {
	return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x));
}
