/*
 * Errors the client raises (CdcError, and wrap() that makes one of a
 * server's or the network's error), which failures are worth a reconnect,
 * and the backoff between attempts.
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

/**
 * The error of what was asked (what) that failed with err, as a CdcError:
 * "what: message (SQLSTATE code); hint: ...", with the server's detail too
 * when detail is set; a CdcError is returned as it is.
 */
export function wrap(err: any, what: string, opts: { detail?: boolean } = {}): CdcError {
	if (err instanceof CdcError)
		return err;
	const code = err?.code ? ` (SQLSTATE ${err.code})` : '';
	const detail = opts.detail && err?.detail ? `; ${err.detail}` : '';
	const hint = err?.hint ? `; hint: ${err.hint}` : '';
	return new CdcError(`${what}: ${err?.message ?? err}${code}${detail}${hint}`, err);
}

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

/**
 * Whether err is worth another attempt: a lost connection, a serialization
 * failure or a deadlock.  (Consumers own no slot since cdc_ext 1.1: no read
 * of the SQL API fails because another session reads the same consumer.)
 */
export function isRetryable(err: any): boolean {
	return isConnectionError(err) || err?.code === '40001' || err?.code === '40P01';
}

/**
 * SQLSTATE 55006 (object_in_use) from START_REPLICATION: the slot is still
 * active for another walsender, typically the one of the connection just
 * lost, until the server notices it is gone.  replicate() tries again.
 */
export const SLOT_IN_USE = '55006';

/**
 * Exponential backoff with jitter between reconnect attempts: the delay
 * before attempt n (from 0) is drawn from [base/2, base], base =
 * min(maxDelay, initialDelay * 2^n) (defaults 100 ms and 10 s); after
 * maxAttempts waits (default unlimited; reconnect: false, none) it gives up.
 * reset() after a success starts again from initialDelay.
 */
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

	/** The delay before the next attempt (counting it as made), or null when attempts are exhausted. */
	nextDelay(): number | null {
		if (this.attempt >= this.maxAttempts)
			return null;
		const base = Math.min(this.max, this.initial * 2 ** this.attempt);
		this.attempt++;
		return base / 2 + Math.random() * base / 2;	/* jitter: many clients do not reconnect in step */
	}

	/** Wait before the next attempt; false when attempts are exhausted or signal aborted. */
	async wait(signal?: AbortSignal): Promise<boolean> {
		if (signal?.aborted)
			return false;
		const ms = this.nextDelay();
		if (ms === null)
			return false;
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
