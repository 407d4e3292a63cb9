// replicate()'s feedback rule (src/feedback.ts) and the replication messages
// (src/walproto.ts), without a server: which position the client confirms,
// and when; the bytes of XLogData, keepalives and standby status updates.
// The entries are the plugin's JSON (as sql/plugin_bytes.sql shows it:
// begin has seq 0, the changes 1..n, commit n + 1 and, as its lsn, the end
// of the commit record), parsed as the stream parses it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FeedbackRule } from '../dist/feedback.js';
import { decodeServerMessage, encodeStandbyStatus, encodeXLogData, encodeKeepalive, pgClock } from '../dist/walproto.js';
import { entryFromPluginJson } from '../dist/entry.js';
import { parseJson } from '../dist/json.js';
import { formatLsn } from '../dist/lsn.js';

const entry = (o) => entryFromPluginJson(parseJson(JSON.stringify({ xid: 700, timestamp: 1764000000123456, ...o })));

/**
 * A transaction of n changes as the plugin sends it: begin at start, the
 * changes after it, committed at commitLsn, the commit record ending at end.
 */
function txn(start, commitLsn, end, n) {
	const cl = formatLsn(commitLsn);
	const out = [entry({ lsn: formatLsn(start), commit_lsn: cl, seq: 0, operation: 'begin' })];
	for (let i = 1; i <= n; i++)
		out.push(entry({ lsn: formatLsn(start + BigInt(i) * 0x40n), commit_lsn: cl, seq: i, entity: 'public.t',
			entity_id: i, operation: 'insert', old_data: null, new_data: { id: i } }));
	out.push(entry({ lsn: formatLsn(end), commit_lsn: cl, seq: n + 1, operation: 'commit' }));
	return out;
}

const T1 = txn(0x1000n, 0x1200n, 0x1230n, 2);	/* begin, c1, c2, commit */
const T2 = txn(0x2000n, 0x2200n, 0x2230n, 2);

/** The application's side of auto mode: ask for the next entry until one is handed out. */
function nextHandedOut(rule, queue) {
	rule.nextRequested();
	while (queue.length > 0) {
		const e = queue.shift();
		if (rule.handOut(e))
			return e;
	}
	return null;
}

test('auto: nothing is confirmed while a transaction is processed; its commit record\'s end once the application asks past its last change', () => {
	let sent = 0;
	const rule = new FeedbackRule('auto', false, () => sent++);
	T1.forEach((e) => rule.received(e));
	const queue = [...T1];
	assert.equal(nextHandedOut(rule, queue).seq, 1, 'begin is not handed out; the first change is');
	assert.equal(rule.confirmed, 0n, 'a change handed out confirms nothing');
	assert.equal(nextHandedOut(rule, queue).seq, 2);
	assert.equal(rule.confirmed, 0n, 'the first change processed: still nothing (not its lsn)');
	// the application is done with the last change and asks again: the
	// commit (hidden) shows the transaction processed
	assert.equal(nextHandedOut(rule, queue), null);
	assert.equal(rule.confirmed, 0x1230n, 'the end of the commit record, not the commit_lsn');
	assert.notEqual(rule.confirmed, 0x1200n);
	assert.equal(sent, 1, 'one move, one status update scheduled');
});

test('auto with transactions: a commit entry handed out is confirmed when the application asks for the next one', () => {
	const rule = new FeedbackRule('auto', true);
	T1.forEach((e) => rule.received(e));
	const queue = [...T1];
	const seen = [];
	for (let i = 0; i < 4; i++)
		seen.push(nextHandedOut(rule, queue).operation);
	assert.deepEqual(seen, ['begin', 'insert', 'insert', 'commit']);
	assert.equal(rule.confirmed, 0n, 'the commit is handed out, not yet processed');
	rule.nextRequested();
	assert.equal(rule.confirmed, 0x1230n, 'processed: its end is confirmed');
});

test('auto: a keepalive\'s WAL end is confirmed only with nothing pending and no transaction open', () => {
	const rule = new FeedbackRule('auto', false);
	// part of T1 received (begin, first change): open
	rule.received(T1[0]);
	rule.received(T1[1]);
	const queue = [T1[0], T1[1]];
	assert.equal(nextHandedOut(rule, queue).seq, 1);
	rule.keepalive(0x1100n, true);
	assert.equal(rule.confirmed, 0n, 'a change handed out, not processed: not confirmed');
	rule.nextRequested();
	rule.keepalive(0x1100n, true);
	assert.equal(rule.confirmed, 0n, 'a transaction is open (its commit not received): not confirmed');
	// the rest of T1 arrives and waits in the queue
	rule.received(T1[2]);
	rule.received(T1[3]);
	queue.push(T1[2], T1[3]);
	rule.keepalive(0x1300n, false);
	assert.equal(rule.confirmed, 0n, 'received entries not handed out yet: not confirmed');
	assert.equal(nextHandedOut(rule, queue).seq, 2);
	assert.equal(nextHandedOut(rule, queue), null);
	assert.equal(rule.confirmed, 0x1230n);
	// everything processed, the application waits: a quiet (or filtered) slot moves on
	rule.keepalive(0x1300n, true);
	assert.equal(rule.confirmed, 0x1300n, 'drained and nothing open: the keepalive\'s WAL end');
	rule.keepalive(0x1250n, true);
	assert.equal(rule.confirmed, 0x1300n, 'never backwards');
});

test('auto: a reconnect closes the transaction received in part (the server sends it again whole)', () => {
	const rule = new FeedbackRule('auto', false);
	rule.received(T1[0]);
	rule.keepalive(0x1100n, true);
	assert.equal(rule.confirmed, 0n);
	rule.restart();
	rule.keepalive(0x0f00n, true);
	assert.equal(rule.confirmed, 0x0f00n, 'after the restart nothing is open');
});

test('manual: only what is passed to confirm(), and only transaction ends', () => {
	const rule = new FeedbackRule('manual', false);
	[...T1, ...T2].forEach((e) => rule.received(e));
	const queue = [...T1, ...T2];
	const handed = [];
	for (let e = nextHandedOut(rule, queue); e; e = nextHandedOut(rule, queue))
		handed.push(e);
	assert.deepEqual(handed.map((e) => `${e.commitLsn}:${e.seq}`), ['0/1200:1', '0/1200:2', '0/2200:1', '0/2200:2'],
		'the changes are handed out, begin and commit hidden');
	rule.keepalive(0x3000n, true);
	assert.equal(rule.confirmed, 0n, 'asking for more, hidden commits and keepalives confirm nothing');
	rule.confirm(handed[0]);
	assert.equal(rule.confirmed, 0n, 'the first change of T1: no transaction before it ended');
	rule.confirm(handed[2]);
	assert.equal(rule.confirmed, 0x1230n, 'the first change of T2: the end of T1');
	rule.confirm(handed[3]);
	assert.equal(rule.confirmed, 0x2230n, 'T2\'s last change, its commit received: the end of T2');
	rule.confirm(handed[1]);
	assert.equal(rule.confirmed, 0x2230n, 'confirming an earlier entry does not go back');
});

test('manual: a transaction\'s last change before its commit arrived confirms only what ended before', () => {
	const rule = new FeedbackRule('manual', true);
	T1.forEach((e) => rule.received(e));
	rule.received(T2[0]);
	rule.received(T2[1]);
	rule.received(T2[2]);
	rule.confirm(T2[2]);
	assert.equal(rule.confirmed, 0x1230n, 'T2\'s commit has not arrived: T1\'s end');
	rule.received(T2[3]);
	rule.confirm(T2[3]);
	assert.equal(rule.confirmed, 0x2230n, 'a commit entry confirms its own end');
	rule.confirm(entry({ lsn: '0/3000', operation: 'message', transactional: false, prefix: 'p', content: 'x' }));
	assert.equal(rule.confirmed, 0x2230n, 'a non-transactional message has no position to confirm');
});

test('XLogData and keepalive: the fields at their offsets', () => {
	// XLogData as the walsender builds it: 'w', start, end, clock, data
	const json = '{"lsn":"0/1240","operation":"insert"}';
	const w = Buffer.concat([Buffer.from([0x77]), Buffer.alloc(24), Buffer.from(json)]);
	w.writeBigUInt64BE(0x1240n, 1);
	w.writeBigUInt64BE(0x9000n, 9);
	w.writeBigInt64BE(123n, 17);
	const d = decodeServerMessage(w);
	assert.equal(d.kind, 'xlogdata');
	assert.equal(d.walStart, 0x1240n);
	assert.equal(d.walEnd, 0x9000n);
	assert.equal(d.sendTime, 123n);
	assert.equal(d.data.toString(), json);
	assert.deepEqual(decodeServerMessage(encodeXLogData(0x1240n, 0x9000n, json)).data.toString(), json);
	// primary keepalive: 'k', end, clock, reply requested
	const k = Buffer.alloc(18);
	k[0] = 0x6b;
	k.writeBigUInt64BE(0xabcdef01n, 1);
	k.writeBigInt64BE(456n, 9);
	k[17] = 1;
	assert.deepEqual(decodeServerMessage(k), { kind: 'keepalive', walEnd: 0xabcdef01n, sendTime: 456n, replyRequested: true });
	k[17] = 0;
	assert.equal(decodeServerMessage(k).replyRequested, false);
	assert.deepEqual(decodeServerMessage(encodeKeepalive(0x77n, true, Date.UTC(2000, 0, 1))),
		{ kind: 'keepalive', walEnd: 0x77n, sendTime: 0n, replyRequested: true });
	assert.equal(pgClock(0), -946684800000000n, 'the Unix epoch on PostgreSQL\'s clock');
	assert.equal(decodeServerMessage(Buffer.from([0x6b, 0])).kind, 'other', 'a truncated message is not read past its end');
	assert.equal(decodeServerMessage(Buffer.alloc(0)).kind, 'other');
});

test('standby status update: write = flush = apply = the confirmed position, PostgreSQL\'s clock', () => {
	const at = Date.UTC(2000, 0, 1, 0, 0, 1);	/* one second after PostgreSQL's epoch */
	const r = encodeStandbyStatus(0x16b3748n, at);
	assert.equal(r.length, 34);
	assert.equal(r[0], 0x72, "'r'");
	assert.equal(r.readBigUInt64BE(1), 0x16b3748n, 'written');
	assert.equal(r.readBigUInt64BE(9), 0x16b3748n, 'flushed (moves the slot)');
	assert.equal(r.readBigUInt64BE(17), 0x16b3748n, 'applied');
	assert.equal(r.readBigInt64BE(25), 1000000n, 'microseconds since 2000-01-01');
	assert.equal(r[33], 0, 'no reply requested');
});
