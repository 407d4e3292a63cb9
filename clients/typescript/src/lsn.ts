/*
 * WAL positions ("X/Y" text, as PostgreSQL prints pg_lsn) as bigint, and the
 * (commit_lsn, seq) cursor order of docs/log.md.
 */

/** Parse "16/B374D848" into a bigint. */
export function lsnToBigInt(lsn: string): bigint {
	const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn);
	if (!m)
		throw new TypeError(`invalid LSN "${lsn}"`);
	return (BigInt('0x' + m[1]) << 32n) | BigInt('0x' + m[2]);
}

/** Format a bigint position as PostgreSQL does ("16/B374D848"). */
export function formatLsn(v: bigint): string {
	return `${(v >> 32n).toString(16).toUpperCase()}/${(v & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** Order of two cursor positions (commit_lsn, seq): negative, 0 or positive. */
export function compareCursor(aLsn: string, aSeq: number, bLsn: string, bSeq: number): number {
	const a = lsnToBigInt(aLsn), b = lsnToBigInt(bLsn);
	if (a !== b)
		return a < b ? -1 : 1;
	return aSeq - bSeq;
}
