/*
 * replicate()'s feedback rule: which WAL position the client may confirm to
 * the server (the standby status update's flush position, which moves the
 * slot), given what was received, what the application was handed and what
 * it processed.  Pure: no connection, no timers; src/replication.ts feeds it
 * the stream's events and sends what it says is confirmed.
 *
 * The invariant: the confirmed position is always the END of a transaction's
 * commit record whose every entry the application has processed, or a
 * keepalive's WAL end reached while nothing received is unprocessed and no
 * transaction is open.  Never a change's lsn, never a commit_lsn, never
 * anything merely received.  (The server sends a transaction again from its
 * start unless the confirmed position is past its commit record; the plugin
 * is always asked for begin/commit entries, as the commit entry's "lsn" is
 * that end.)
 *
 * "Processed": with confirm 'auto', an entry is done when the application
 * asks for the next one (for await ... of: the loop body returned); with
 * 'manual', only what it passes to confirm().
 */
import { lsnToBigInt } from './lsn.js';
import type { ChangeEntry, TransactionEntry } from './types.js';

export type ReplicationEntry = ChangeEntry | TransactionEntry;

export class FeedbackRule {
	private confirmedLsn = 0n;
	/** a transaction received up to its begin but not its commit */
	private openTxn = false;
	/** an entry handed out whose processing is not known to be finished */
	private handedOut: ReplicationEntry | null = null;
	/** received commits not yet confirmed (manual mode): commitLsn -> [last seq, end] */
	private commits: { commitLsn: string; lastSeq: number; end: bigint }[] = [];
	private readonly auto: boolean;

	/**
	 * mode: who says an entry is processed (see above); wantTxn: whether the
	 * application sees begin and commit entries; onAdvance: called each time
	 * the confirmed position moves (to send it).
	 */
	constructor(mode: 'auto' | 'manual' | undefined, private readonly wantTxn: boolean,
		private readonly onAdvance: () => void = () => {}) {
		this.auto = (mode ?? 'auto') === 'auto';
	}

	/** The position to confirm to the server: 0 until something is processed. */
	get confirmed(): bigint {
		return this.confirmedLsn;
	}

	/** An entry arrived from the server (in stream order, before the application can see it). */
	received(e: ReplicationEntry): void {
		if (e.operation === 'begin')
			this.openTxn = true;
		else if (e.operation === 'commit') {
			this.openTxn = false;
			if (!this.auto && e.commitLsn)
				this.commits.push({ commitLsn: e.commitLsn, lastSeq: e.seq - 1, end: lsnToBigInt(e.lsn) });
		}
	}

	/**
	 * The application asks for the next entry: the one handed out before is
	 * processed (auto: a commit handed out confirms its transaction's end).
	 */
	nextRequested(): void {
		const prev = this.handedOut;
		this.handedOut = null;
		if (prev && prev.operation === 'commit' && this.auto)
			this.advance(lsnToBigInt(prev.lsn));
	}

	/**
	 * The stream takes e (received, not a repeat) for the application:
	 * true when the application sees it (it is handed out), false when it is
	 * a begin or commit the application did not ask for.  Such a commit
	 * comes after every change of its transaction was handed out and
	 * processed (the application came back for more): auto confirms its end.
	 */
	handOut(e: ReplicationEntry): boolean {
		if (e.operation === 'begin' && !this.wantTxn)
			return false;
		if (e.operation === 'commit' && !this.wantTxn) {
			if (this.auto)
				this.advance(lsnToBigInt(e.lsn));
			return false;
		}
		this.handedOut = e;
		return true;
	}

	/**
	 * Confirm (manual mode): the transaction of this entry is processed up to
	 * it.  A commit entry, or a transaction's last change once its commit
	 * has arrived, confirms that transaction's end; any other change
	 * confirms the end of the transactions before its own.
	 */
	confirm(entry: ReplicationEntry): void {
		if (!entry.commitLsn || entry.seq === null)
			return;
		let target = 0n;
		if (entry.operation === 'commit')
			target = lsnToBigInt(entry.lsn);
		else {
			const cl = lsnToBigInt(entry.commitLsn);
			for (const c of this.commits) {
				const ccl = lsnToBigInt(c.commitLsn);
				if (ccl < cl || (ccl === cl && entry.seq >= c.lastSeq))
					target = c.end > target ? c.end : target;
			}
		}
		this.advance(target);
	}

	/**
	 * A keepalive says the server's WAL ends at walEnd; drained: nothing
	 * received waits to be handed out and the application waits for an
	 * entry.  Auto: when, besides, nothing handed out is pending and no
	 * transaction is open, every transaction that ended before walEnd was
	 * sent and processed, or filtered out entirely by the plugin: confirming
	 * walEnd keeps a quiet or filtered slot from holding WAL.
	 */
	keepalive(walEnd: bigint, drained: boolean): void {
		if (this.auto && drained && this.handedOut === null && !this.openTxn)
			this.advance(walEnd);
	}

	/** A new connection: the server starts again at a transaction boundary (nothing is open). */
	restart(): void {
		this.openTxn = false;
	}

	private advance(lsn: bigint): void {
		if (lsn <= this.confirmedLsn)
			return;
		this.confirmedLsn = lsn;
		if (this.commits.length > 0)
			this.commits = this.commits.filter((c) => c.end > lsn);
		this.onAdvance();
	}
}
