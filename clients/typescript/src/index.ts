/*
 * cdc-ext: the official TypeScript client of cdc_ext (Change Data Capture
 * for PostgreSQL).  See README.md.
 */
export { CdcClient, type CdcClientConfig } from './client.js';
export { ChangeStream } from './stream.js';
export { GroupMember, type GroupEntry, type GroupReadOptions, type GroupStreamOptions, type PendingEntry } from './group.js';
export { ReplicationStream, type ReplicationEntry, pluginOptionList } from './replication.js';
export { CdcError, isConnectionError } from './errors.js';
export { parseJson, parseNumber, stringifyJson, type LargeNumbers } from './json.js';
export { lsnToBigInt, formatLsn, compareCursor } from './lsn.js';
export { entryFromPluginJson, entryFromRow } from './entry.js';
export type * from './types.js';
