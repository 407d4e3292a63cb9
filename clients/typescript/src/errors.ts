/*
 * Errors the client raises, which failures are worth a reconnect, and the
 * backoff between attempts.
 */
import type { BackoffOptions } from './types.js';

/** An error from the server or the client, with the server's fields when there are some. */
export class CdcError extends Error {
	/** SQLSTATE, when the server raised it */
	readonly code?: string;
	readonly detail?: string;
	readonly hint?: string;

	constructor(message: string, cause?: any) {
		super(message, cause === undefined ? undefined : { cause });
		this.name = 'CdcError';
		if (cause && typeof cause === 'object') {
			this.code = cause.code;
			this.detail = cause.detail;
			this.hint = cause.hint;
		}
	}
}

/** SQLSTATE of "consumer busy" (another session is reading it). */
export const CONSUMER_BUSY = '55006';

/**
 * Whether err means the connection is gone or unusable (retry on a new
 * one), as opposed to an error in what was asked (report it).
 */
export function isConnectionError(err: any): boolean {
	if (!err)
		return false;
	const code: string | undefined = err.code;
	if (typeof code === 'string') {
		if (/^08/.test(code))				/* connection exception */
			return true;
		if (code === '57P01' || code === '57P02' || code === '57P03')	/* admin shutdown, crash shutdown, cannot connect now */
			return true;
		if (code === '53300')				/* too many connections */
			return true;
		if (/^E[A-Z]+$/.test(code))			/* ECONNRESET, ECONNREFUSED, EPIPE, ETIMEDOUT ... */
			return true;
	}
	const msg = String(err.message ?? '');
	return /Connection terminated|connection is not queryable|Client has encountered a connection error|terminating connection|the database system is (starting up|shutting down|in recovery)|server closed the connection|timeout exceeded when trying to connect|Client was closed/i.test(msg);
}

/** Whether err is worth another attempt: a lost connection or a busy consumer. */
export function isRetryable(err: any): boolean {
	return isConnectionError(err) || err?.code === CONSUMER_BUSY || err?.code === '40001' || err?.code === '40P01';
}

export class Backoff {
	private attempt = 0;
	private readonly initial: number;
	private readonly max: number;
	private readonly maxAttempts: number;

	constructor(opts: BackoffOptions | boolean | undefined) {
		const o = typeof opts === 'object' ? opts : {};
		this.initial = o.initialDelay ?? 100;
		this.max = o.maxDelay ?? 10000;
		this.maxAttempts = opts === false ? 0 : (o.maxAttempts ?? Infinity);
	}

	reset(): void {
		this.attempt = 0;
	}

	/** Wait before the next attempt; false when attempts are exhausted or signal aborted. */
	async wait(signal?: AbortSignal): Promise<boolean> {
		if (this.attempt >= this.maxAttempts || signal?.aborted)
			return false;
		const base = Math.min(this.max, this.initial * 2 ** this.attempt);
		this.attempt++;
		const ms = base / 2 + Math.random() * base / 2;	/* jitter: many clients do not reconnect in step */
		return sleep(ms, signal);
	}
}

/** Sleep ms; resolves false early if signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
	return new Promise((resolve) => {
		if (signal?.aborted)
			return resolve(false);
		const t = setTimeout(() => {
			signal?.removeEventListener('abort', onAbort);
			resolve(true);
		}, ms);
		const onAbort = () => {
			clearTimeout(t);
			resolve(false);
		};
		signal?.addEventListener('abort', onAbort, { once: true });
	});
}

/** Resolve to 'aborted' when signal fires (never otherwise). */
export function abortPromise(signal?: AbortSignal): { promise: Promise<'aborted'>; dispose: () => void } {
	if (!signal)
		return { promise: new Promise(() => {}), dispose: () => {} };
	let onAbort: () => void = () => {};
	const promise = new Promise<'aborted'>((resolve) => {
		onAbort = () => resolve('aborted');
		if (signal.aborted)
			resolve('aborted');
		else
			signal.addEventListener('abort', onAbort, { once: true });
	});
	return { promise, dispose: () => signal.removeEventListener('abort', onAbort) };
}

const ignore = (): void => {};

/**
 * A checked-out pool client whose connection dies emits 'error'; without a
 * listener that would crash the process.  The failing query reports it, so
 * the event itself is ignored (one listener per client, however often reused).
 */
export function guardClient(c: { on(e: 'error', f: () => void): unknown; listeners(e: string): Function[] }): void {
	if (!c.listeners('error').includes(ignore))
		c.on('error', ignore);
}
