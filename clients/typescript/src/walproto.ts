/*
 * The streaming replication protocol's CopyData messages, as replicate()
 * uses them (PostgreSQL's "Streaming Replication Protocol", the messages
 * inside the CopyBoth stream of START_REPLICATION): decoding what the server
 * sends, XLogData ('w') and the primary keepalive ('k'), and encoding what
 * the client sends, the standby status update ('r').  Pure: bytes in, bytes
 * out; what the positions mean to the stream is src/feedback.ts's business.
 */

/** microseconds between the Unix epoch and PostgreSQL's (2000-01-01) */
const PG_EPOCH_MICROS = 946684800000000n;

/** XLogData: WAL data, here one entry of the output plugin. */
export interface XLogData {
	kind: 'xlogdata';
	/** where the data starts in the WAL */
	walStart: bigint;
	/** the server's WAL end */
	walEnd: bigint;
	/** the server's clock when it sent this (microseconds since 2000-01-01) */
	sendTime: bigint;
	/** the plugin's output (for cdc_ext: one JSON entry) */
	data: Buffer;
}

/** Primary keepalive: where the server's WAL ends, and whether it wants a reply now. */
export interface Keepalive {
	kind: 'keepalive';
	walEnd: bigint;
	sendTime: bigint;
	replyRequested: boolean;
}

/** A message this client does not use (or a truncated one). */
export interface OtherMessage {
	kind: 'other';
	/** its type byte, -1 for an empty message */
	type: number;
}

export type ServerMessage = XLogData | Keepalive | OtherMessage;

const XLOGDATA_HEADER = 25;	/* 'w', walStart, walEnd, sendTime */
const KEEPALIVE_SIZE = 18;	/* 'k', walEnd, sendTime, replyRequested */
const STATUS_SIZE = 34;		/* 'r', write, flush, apply, clock, replyRequested */

/** Decode one CopyData message from the server. */
export function decodeServerMessage(chunk: Buffer): ServerMessage {
	if (chunk.length === 0)
		return { kind: 'other', type: -1 };
	const type = chunk[0];
	if (type === 0x77 && chunk.length >= XLOGDATA_HEADER)	/* 'w' */
		return {
			kind: 'xlogdata',
			walStart: chunk.readBigUInt64BE(1),
			walEnd: chunk.readBigUInt64BE(9),
			sendTime: chunk.readBigInt64BE(17),
			data: chunk.subarray(XLOGDATA_HEADER),
		};
	if (type === 0x6b && chunk.length >= KEEPALIVE_SIZE)	/* 'k' */
		return {
			kind: 'keepalive',
			walEnd: chunk.readBigUInt64BE(1),
			sendTime: chunk.readBigInt64BE(9),
			replyRequested: chunk[17] === 1,
		};
	return { kind: 'other', type };
}

/** PostgreSQL's clock for a JavaScript time (ms since the Unix epoch): microseconds since 2000-01-01. */
export function pgClock(ms: number): bigint {
	return BigInt(Math.trunc(ms)) * 1000n - PG_EPOCH_MICROS;
}

/**
 * A standby status update ('r') reporting lsn as written, flushed and
 * applied (the server moves the slot's confirmed position to the flush
 * position), stamped with the clock at nowMs; no reply requested.
 */
export function encodeStandbyStatus(lsn: bigint, nowMs: number = Date.now()): Buffer {
	const buf = Buffer.alloc(STATUS_SIZE);
	buf[0] = 0x72;	/* 'r' */
	buf.writeBigUInt64BE(lsn, 1);
	buf.writeBigUInt64BE(lsn, 9);
	buf.writeBigUInt64BE(lsn, 17);
	buf.writeBigInt64BE(pgClock(nowMs), 25);
	buf[33] = 0;
	return buf;
}

/** Encode XLogData as the server sends it (for tests and tools that stand in for a walsender's output). */
export function encodeXLogData(walStart: bigint, walEnd: bigint, data: Buffer | string, nowMs: number = Date.now()): Buffer {
	const payload = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
	const buf = Buffer.alloc(XLOGDATA_HEADER + payload.length);
	buf[0] = 0x77;	/* 'w' */
	buf.writeBigUInt64BE(walStart, 1);
	buf.writeBigUInt64BE(walEnd, 9);
	buf.writeBigInt64BE(pgClock(nowMs), 17);
	payload.copy(buf, XLOGDATA_HEADER);
	return buf;
}

/** Encode a primary keepalive as the server sends it. */
export function encodeKeepalive(walEnd: bigint, replyRequested: boolean, nowMs: number = Date.now()): Buffer {
	const buf = Buffer.alloc(KEEPALIVE_SIZE);
	buf[0] = 0x6b;	/* 'k' */
	buf.writeBigUInt64BE(walEnd, 1);
	buf.writeBigInt64BE(pgClock(nowMs), 9);
	buf[17] = replyRequested ? 1 : 0;
	return buf;
}
