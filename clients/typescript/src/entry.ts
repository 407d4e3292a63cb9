/*
 * ChangeEntry from its two wire forms: a row of cdc.stream / cdc.consume
 * (typed columns, jsonb values) and a JSON object of the output plugin.
 * Both use the same snake_case names, mapped here to the document's
 * camelCase ones; the commit time becomes a Date and exact microseconds.
 */
import pg from 'pg';
import { parseJson, parseNumber, type LargeNumbers } from './json.js';
import type { ChangeEntry, TransactionEntry } from './types.js';

const CAMEL: Record<string, string> = {
	commit_lsn: 'commitLsn',
	entity_id: 'entityId',
	old_data: 'oldData',
	new_data: 'newData',
	unchanged_toast: 'unchangedToast',
	content_encoding: 'contentEncoding',
	timestamp_micros: 'timestampMicros',
};

const camelCache = new Map<string, string>(Object.entries(CAMEL));

/** snake_case -> camelCase, memoized (column names repeat on every row). */
function camel(key: string): string {
	let c = camelCache.get(key);
	if (c === undefined) {
		c = key.replace(/_([a-z])/g, (_, ch: string) => ch.toUpperCase());
		if (camelCache.size < 1000)
			camelCache.set(key, c);
	}
	return c;
}

function toBigInt(v: unknown): bigint | null {
	if (v === null || v === undefined)
		return null;
	return typeof v === 'bigint' ? v : BigInt(v as number | string);
}

function setTime(out: any, micros: bigint | null): void {
	out.timestampMicros = micros;
	// floor division: the Date is the millisecond the change falls in
	out.timestamp = micros === null ? null
		: new Date(Number(micros >= 0n ? micros / 1000n : -((-micros + 999n) / 1000n)));
}

const PLUGIN_KEYS = new Set(['lsn', 'commit_lsn', 'seq', 'xid', 'timestamp', 'entity', 'entity_id',
	'operation', 'old_data', 'new_data']);

/** A ChangeEntry (or begin/commit entry) from a JSON object of the output plugin. */
export function entryFromPluginJson(obj: Record<string, any>): ChangeEntry | TransactionEntry {
	const out: any = {
		lsn: obj.lsn,
		commitLsn: obj.commit_lsn ?? null,
		seq: obj.seq ?? null,
		xid: toBigInt(obj.xid),
		timestamp: null,
		timestampMicros: null,
		entity: obj.entity ?? null,
		entityId: obj.entity_id ?? null,
		operation: obj.operation,
		oldData: obj.old_data ?? null,
		newData: obj.new_data ?? null,
	};
	const ts = obj.timestamp;
	if (typeof ts === 'number') {	/* exact: below 2^53 */
		out.timestampMicros = BigInt(ts);
		out.timestamp = new Date(Math.floor(ts / 1000));
	} else if (ts !== null && ts !== undefined)
		setTime(out, toBigInt(ts));
	for (const k in obj)
		if (!PLUGIN_KEYS.has(k))
			out[camel(k)] = obj[k];
	if (out.operation === 'begin' || out.operation === 'commit') {
		delete out.entity;
		delete out.entityId;
		delete out.oldData;
		delete out.newData;
	}
	return out;
}

/**
 * Per-query type parsers (never pg's global ones): jsonb/json through the
 * lossless parser, int8 exact, timestamps left as text (the query also
 * selects exact microseconds).
 */
export function typeParsers(large: LargeNumbers): { getTypeParser: (oid: number, format?: any) => any } {
	const json = (text: string) => parseJson(text, large);
	const int8 = (text: string) => parseNumber(text, large);
	const numeric = (text: string) => (text === 'NaN' || /inity$/.test(text)) ? text : parseNumber(text, 'string');
	return {
		getTypeParser(oid: number, format?: any) {
			switch (oid) {
				case 3802: /* jsonb */
				case 114:  /* json */
					return json;
				case 20:   /* int8 */
					return int8;
				case 1700: /* numeric */
					return numeric;
				case 3807: /* jsonb[] */
				case 199:  /* json[] */
					return (text: string) => (pg.types.getTypeParser(1009 as any, 'text') as (t: string) => string[])(text).map(json);
				default:
					return pg.types.getTypeParser(oid, format);
			}
		},
	};
}

/** The SELECT list that turns cdc.change_entry rows into what rowToEntry reads. */
export const ENTRY_COLUMNS =
	'e.*, (EXTRACT(epoch FROM e."timestamp") * 1000000)::int8::text AS timestamp_micros';

/** A ChangeEntry from a row of cdc.stream / cdc.consume selected with ENTRY_COLUMNS. */
export function entryFromRow(row: Record<string, any>): ChangeEntry {
	const out: any = {};
	for (const k of Object.keys(row)) {
		const v = row[k];
		if (k === 'timestamp' || k === 'timestamp_micros' || k === 'xid')
			continue;
		if ((k === 'unchanged_toast' || k === 'fallback') && (v === null || v.length === 0))
			continue;
		out[camel(k)] = v;
	}
	out.xid = toBigInt(row.xid);
	setTime(out, toBigInt(row.timestamp_micros));
	return out;
}
