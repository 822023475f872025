/**
 * The append transaction of the embedded event store, shared by the in-process path and the writer
 * thread (sqlite-append-thread.ts): seal the protected fields, tokenize the patient, insert the rows
 * and move the chain heads, in one IMMEDIATE transaction (the write lock is taken up front, so a
 * writer on another connection makes it wait its busy timeout instead of failing midway). With WAL
 * and synchronous=FULL the commit returns only once it is on disk.
 *
 * The transaction also refuses rows that do not extend the stored chains: each chain's first row
 * must follow the recorded head (next seq, prevHash = the head's hash; seq 0 and GENESIS on a new
 * chain) and every further row the row before it. A group chained on a group that failed, or on a
 * head another writer moved, is then refused whole as a sequence conflict instead of leaving a gap
 * or a fork (the unique (chain, seq) key alone would let a group whose predecessor failed through).
 */
import type { AccessEvent } from '@app/core';
import type { SqliteDb } from './sqlite-database';
import type { FieldProtection } from '../field-protection.port';
import { SealedFieldCodec } from './sealed-fields';
import { deriveColumns } from '../derived-columns';

/** What the transaction needs of one chained record (the event is parsed from its JSON when absent). */
export interface AppendRow {
  chain: string;
  seq: number;
  receivedAt: string;
  eventJson: string;
  prevHash: Uint8Array;
  hash: Uint8Array;
  event?: AccessEvent;
}

/** Thrown inside the transaction when a row does not extend its chain (rolls the group back). */
class ChainLinkError extends Error {
  constructor(
    readonly chain: string,
    readonly seq: number,
  ) {
    super('the record does not extend the stored chain');
  }
}

/**
 * Why an append failed: another writer took a (chain, seq) first, an id of the group is already
 * stored (the unique id index refused it), or the store could not commit.
 */
export type AppendFailure = { kind: 'sequence'; chain: string; seq: number } | { kind: 'duplicate' } | { kind: 'store'; code: string };

export function prepareAppend(db: SqliteDb, protection: FieldProtection): (rows: readonly AppendRow[]) => void {
  const codec = new SealedFieldCodec(protection.dataKeys);
  const insertEvent = db.prepare(
    `INSERT INTO events (chain, seq, id, received_at, occurred_ms, category, action, outcome, actor_id, patient_id, event, sealed, prev_hash, hash)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const upsertHead = db.prepare(
    `INSERT INTO chain_heads (chain, seq, hash) VALUES (?, ?, ?)
     ON CONFLICT (chain) DO UPDATE SET seq = excluded.seq, hash = excluded.hash`,
  );
  const selectHead = db.prepare('SELECT seq, hash FROM chain_heads WHERE chain = ?');
  const tx = db.transaction((rows: readonly AppendRow[]) => {
    const heads = new Map<string, AppendRow>();
    const events: { event: AccessEvent; json: string }[] = new Array(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i];
      const before = heads.get(r.chain);
      if (before ? r.seq !== before.seq + 1 || !sameHash(r.prevHash, before.hash) : !extendsStoredHead(selectHead, r)) throw new ChainLinkError(r.chain, r.seq);
      heads.set(r.chain, r);
      events[i] = { event: r.event ?? (JSON.parse(r.eventJson) as AccessEvent), json: r.eventJson };
    }
    // The whole group's protected fields sealed together (one AES call, sealed-fields.ts).
    const sealedRows = codec.sealAll(events);
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i];
      const e = events[i].event;
      const { storedJson, sealed } = sealedRows[i];
      const c = deriveColumns(e, (id) => protection.patientToken(id));
      insertEvent.run(
        r.chain,
        r.seq,
        c.id,
        r.receivedAt,
        c.occurred_ms,
        c.category,
        c.action,
        c.outcome,
        c.actor_id,
        c.patient_id,
        storedJson,
        sealed,
        r.prevHash,
        r.hash,
      );
    }
    for (const r of heads.values()) upsertHead.run(r.chain, r.seq, r.hash);
  });
  return (rows) => tx.immediate(rows);
}

/** Whether `row` is the next record of its chain as chain_heads records it. */
function extendsStoredHead(selectHead: { get(chain: string): unknown }, row: AppendRow): boolean {
  const head = selectHead.get(row.chain) as { seq: number; hash: Buffer } | undefined;
  if (!head) return row.seq === 0 && row.prevHash.every((b) => b === 0);
  return row.seq === head.seq + 1 && sameHash(row.prevHash, head.hash);
}

function sameHash(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}

/** Classifies an error thrown by the append transaction. */
export function appendFailure(err: unknown, rows: readonly AppendRow[]): AppendFailure {
  if (err instanceof ChainLinkError) return { kind: 'sequence', chain: err.chain, seq: err.seq };
  const e = err as { code?: string; message?: string };
  if (e.code === 'SQLITE_CONSTRAINT_UNIQUE' && /events\.chain, events\.seq/.test(e.message ?? '')) {
    return { kind: 'sequence', chain: rows[0]?.chain ?? '', seq: rows[0]?.seq ?? -1 };
  }
  if (e.code === 'SQLITE_CONSTRAINT_UNIQUE' && /events\.id\b/.test(e.message ?? '')) return { kind: 'duplicate' };
  return { kind: 'store', code: e.code ?? 'unknown error' };
}
