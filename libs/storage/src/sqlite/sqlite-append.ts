/**
 * The append transaction of the embedded event store, shared by the in-process path and the writer
 * thread (sqlite-append-thread.ts): seal the protected fields, tokenize the patient, insert the rows
 * and move the chain heads, in one IMMEDIATE transaction (the write lock is taken up front, so a
 * writer on another connection makes it wait its busy timeout instead of failing midway). With WAL
 * and synchronous=FULL the commit returns only once it is on disk.
 */
import type { AccessEvent } from '@app/core';
import type { SqliteDb } from './sqlite-database';
import { FieldProtection, SealedFieldCodec } from './sealed-fields';

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

/** Why an append failed: another writer took a (chain, seq) first, or the store could not commit. */
export type AppendFailure = { kind: 'sequence'; chain: string; seq: number } | { kind: 'store'; code: string };

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
  const tx = db.transaction((rows: readonly AppendRow[]) => {
    const heads = new Map<string, AppendRow>();
    for (const r of rows) {
      const e = r.event ?? (JSON.parse(r.eventJson) as AccessEvent);
      const { storedJson, sealed } = codec.seal(e, r.eventJson);
      insertEvent.run(
        r.chain,
        r.seq,
        e.id,
        r.receivedAt,
        Date.parse(e.occurredAt),
        e.category,
        e.action,
        e.outcome,
        e.actor.id,
        e.patient ? protection.patientToken(e.patient.id) : null,
        storedJson,
        sealed,
        r.prevHash,
        r.hash,
      );
      heads.set(r.chain, r);
    }
    for (const r of heads.values()) upsertHead.run(r.chain, r.seq, r.hash);
  });
  return (rows) => tx.immediate(rows);
}

/** Classifies an error thrown by the append transaction. */
export function appendFailure(err: unknown, rows: readonly AppendRow[]): AppendFailure {
  const e = err as { code?: string; message?: string };
  if (e.code === 'SQLITE_CONSTRAINT_UNIQUE' && /events\.chain, events\.seq/.test(e.message ?? '')) {
    return { kind: 'sequence', chain: rows[0]?.chain ?? '', seq: rows[0]?.seq ?? -1 };
  }
  return { kind: 'store', code: e.code ?? 'unknown error' };
}
