// The reconnect backoff (src/errors.ts), without a server: the delay before
// each attempt doubles from initialDelay up to maxDelay, drawn from the upper
// half of it (jitter); maxAttempts ends the attempts, reset() starts again,
// an aborted signal ends a wait at once.  And which errors are retried.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Backoff, isRetryable, SLOT_IN_USE } from '../dist/errors.js';

test('the delay doubles from initialDelay to maxDelay, each drawn from [base/2, base]', () => {
	const lows = [], highs = [];
	for (let run = 0; run < 300; run++) {
		const b = new Backoff({ initialDelay: 100, maxDelay: 1000 });
		for (let n = 0; n < 7; n++) {
			const base = Math.min(1000, 100 * 2 ** n);
			const d = b.nextDelay();
			assert.ok(d >= base / 2 && d <= base, `attempt ${n}: ${d} ms within [${base / 2}, ${base}]`);
			lows[n] = Math.min(lows[n] ?? Infinity, d);
			highs[n] = Math.max(highs[n] ?? -Infinity, d);
		}
	}
	// jitter: the draws spread over the range (clients do not reconnect in step)
	for (let n = 0; n < 7; n++) {
		const base = Math.min(1000, 100 * 2 ** n);
		assert.ok(highs[n] - lows[n] > base / 4, `attempt ${n}: delays spread (${lows[n]}..${highs[n]})`);
	}
});

test('defaults: 100 ms doubling to 10 s, without end', () => {
	const b = new Backoff(true);
	const bases = [100, 200, 400, 800, 1600, 3200, 6400, 10000, 10000, 10000];
	for (const base of bases) {
		const d = b.nextDelay();
		assert.ok(d >= base / 2 && d <= base, `${d} within [${base / 2}, ${base}]`);
	}
	for (let i = 0; i < 1000; i++)
		assert.notEqual(b.nextDelay(), null);
});

test('maxAttempts ends the attempts; reset() starts again from initialDelay', async () => {
	const b = new Backoff({ initialDelay: 1, maxAttempts: 3 });
	assert.ok(await b.wait());
	assert.ok(await b.wait());
	assert.ok(await b.wait());
	assert.equal(await b.wait(), false, 'the fourth attempt is refused');
	assert.equal(b.nextDelay(), null);
	b.reset();
	const d = b.nextDelay();
	assert.ok(d >= 0.5 && d <= 1, `after reset: ${d}`);
});

test('reconnect: false makes no attempt', async () => {
	const b = new Backoff(false);
	assert.equal(b.nextDelay(), null);
	assert.equal(await b.wait(), false);
});

test('wait() sleeps the delay', async () => {
	const b = new Backoff({ initialDelay: 80 });
	let t = Date.now();
	assert.equal(await b.wait(), true);
	assert.ok(Date.now() - t >= 39, `first wait ${Date.now() - t} ms, at least 40`);
	t = Date.now();
	assert.equal(await b.wait(), true);
	assert.ok(Date.now() - t >= 79, `second wait ${Date.now() - t} ms, at least 80`);
});

test('an aborted signal ends a wait at once, and refuses the next', async () => {
	const b = new Backoff({ initialDelay: 60000 });
	const ac = new AbortController();
	const t = Date.now();
	setTimeout(() => ac.abort(), 20);
	assert.equal(await b.wait(ac.signal), false);
	assert.ok(Date.now() - t < 5000, `ended after ${Date.now() - t} ms, not a minute`);
	assert.equal(await b.wait(ac.signal), false);
});

test('retried: lost connections, serialization failures, deadlocks; not errors in what was asked', () => {
	for (const code of ['08006', '08003', '57P01', '57P02', '57P03', '53300', 'ECONNRESET', 'ECONNREFUSED', '40001', '40P01'])
		assert.equal(isRetryable({ code, message: 'x' }), true, code);
	assert.equal(isRetryable(new Error('Connection terminated unexpectedly')), true);
	for (const code of ['22023', '42601', '42501', '55000', 'P0001'])
		assert.equal(isRetryable({ code, message: 'x' }), false, code);
	// a slot held by another walsender: replicate() retries it, the SQL API has no such case
	assert.equal(SLOT_IN_USE, '55006');
	assert.equal(isRetryable({ code: SLOT_IN_USE, message: 'replication slot "s" is active for PID 1' }), false);
});
