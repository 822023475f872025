/**
 * Records the command line's own reads of the audit data (`auditctl export`, `detect`, online
 * `verify`) in the access log, from a process other than the service. Actor: the OS user running
 * the command, `via: cli`; details: the command's filters; `recordCount`: records it read.
 *
 * Safe while the service runs on the same data dir and owns its chain writer: the record is chained
 * inside one `BEGIN IMMEDIATE` SQLite transaction, which takes the database's write lock (waiting up
 * to busy_timeout for a service commit), reads the access chain's head row and appends the next
 * sequence number and hash before committing. Nobody can append between that read and that write.
 * The service's writer keeps the head it last wrote in memory; its next append to the access chain
 * then hits the (chain, seq) unique key, re-reads the heads and chains again (ChainWriter's
 * SequenceConflictError retry), and its checkpoint sealer reads the record in like any other.
 */
import * as os from 'node:os';
import { ACCESS_LOG_CHAIN, Receipt } from '@app/core';
import { GENESIS_HASH, canonicalize, recordHash } from '@app/ledger';
import { SequenceConflictError } from '@app/storage';
import type { EventStore, SqliteDb } from '@app/storage';
import { AccessRecordInput, buildAccessRecord } from './access-record';

export type CliAccessInput = Omit<AccessRecordInput, 'principal' | 'ip' | 'patientId' | 'patientToken'>;

/** The OS user running this process, as the access log names a command-line reader. */
export function cliPrincipal(): { sub: string; via: 'cli' } {
  let name: string | undefined;
  try {
    name = os.userInfo().username;
  } catch {
    name = process.env.USER ?? process.env.USERNAME;
  }
  const sub = (name ?? '').replace(/[^\x21-\x7e]/g, '_').slice(0, 128) || `uid-${process.getuid?.() ?? 'unknown'}`;
  return { sub, via: 'cli' };
}

/** Appends one access-log record for a command-line read; resolves with its receipt once committed. */
/**
 * `db`: the embedded store's database (its write lock orders the append). `null` for a store whose
 * appends are fenced per chain (STORE=elasticsearch: the head moves with optimistic concurrency):
 * a lost race is a SequenceConflictError, and the record is chained again on the new head.
 */
export async function recordCliAccess(db: SqliteDb | null, store: Pick<EventStore, 'chainHeads' | 'append'>, input: CliAccessInput): Promise<Receipt> {
  const event = buildAccessRecord({ ...input, principal: cliPrincipal() });
  const json = canonicalize(event);
  if (db === null) {
    for (let attempt = 1; ; attempt++) {
      const head = (await store.chainHeads()).get(ACCESS_LOG_CHAIN) ?? { seq: -1, hash: GENESIS_HASH };
      const seq = head.seq + 1;
      const receivedAt = new Date().toISOString();
      const hash = recordHash(head.hash, ACCESS_LOG_CHAIN, seq, receivedAt, json);
      try {
        await store.append([{ chain: ACCESS_LOG_CHAIN, seq, receivedAt, event, eventJson: json, prevHash: head.hash, hash }]);
        return { id: event.id, chain: ACCESS_LOG_CHAIN, seq, hash: hash.toString('hex') };
      } catch (err) {
        if (!(err instanceof SequenceConflictError) || attempt >= 5) throw err;
      }
    }
  }
  db.exec('BEGIN IMMEDIATE');
  try {
    const head = (await store.chainHeads()).get(ACCESS_LOG_CHAIN) ?? { seq: -1, hash: GENESIS_HASH };
    const seq = head.seq + 1;
    const receivedAt = new Date().toISOString();
    const hash = recordHash(head.hash, ACCESS_LOG_CHAIN, seq, receivedAt, json);
    await store.append([{ chain: ACCESS_LOG_CHAIN, seq, receivedAt, event, eventJson: json, prevHash: head.hash, hash }]);
    db.exec('COMMIT');
    return { id: event.id, chain: ACCESS_LOG_CHAIN, seq, hash: hash.toString('hex') };
  } catch (err) {
    if (db.inTransaction) db.exec('ROLLBACK');
    throw err;
  }
}
