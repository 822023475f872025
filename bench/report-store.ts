/**
 * Builds a large synthetic event store fast, for the report benchmark and the report streaming
 * test: events go straight into the embedded store (the real SqliteEventStore: chained hashes,
 * sealed fields, every index) in big transactions, in event-time order, with time-ordered ids.
 * One target patient gets exactly `targetAccesses` accesses spread over the whole period; the rest
 * are spread over many patients and actors; about 2% fail or are refused.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AccessEvent, EventCategory } from '@app/core';
import { GENESIS_HASH, canonicalize, recordHash } from '@app/ledger';
import { embeddedFieldProtection } from '@app/security';
import { CheckpointService } from '@app/pipeline';
import { FileKeyProvider } from '@app/security';
import { ChainedRecord, EventStore, SqliteCheckpointStore, SqliteDb, SqliteEventStore, openDatabase } from '@app/storage';
import { prng } from '@app/simulation';

export interface SyntheticStoreOptions {
  events: number;
  /** Accesses of the target patient (spread evenly). */
  targetAccesses: number;
  targetPatient: string;
  /** Other patients (random among them). */
  patients?: number;
  actors?: number;
  /** First event time and the period covered. */
  startMs?: number;
  spanDays?: number;
  batch?: number;
  /** Seal signed checkpoints over the finished chains (as a running service would have). */
  seal?: boolean;
  /** Called after each committed batch with the events written so far. */
  onProgress?: (written: number) => void;
}

const CATEGORIES: [EventCategory, number][] = [
  ['data_access', 0.7],
  ['data_modification', 0.1],
  ['authentication', 0.1],
  ['system_access', 0.05],
  ['security', 0.03],
  ['administrative', 0.02],
];
const ROLES = ['physician', 'nurse', 'pharmacist', 'registrar', 'billing clerk', 'lab technician'];
const DEPARTMENTS = ['Cardiology', 'Oncology', 'Emergency', 'Radiology', 'Pediatrics', 'Billing', 'Pharmacy', 'Ward 4B'];
const RESOURCES = ['Observation', 'MedicationRequest', 'Condition', 'DiagnosticReport', 'Encounter', 'DocumentReference', 'AllergyIntolerance'];
const PURPOSES = ['TREAT', 'TREAT', 'TREAT', 'PAYMENT', 'OPERATIONS'];


/** A UUID (version 7 layout) whose first 48 bits are the event time: ids arrive in index order. */
function timeOrderedId(ms: number, n: number): string {
  const hex = ms.toString(16).padStart(12, '0');
  const tail = n.toString(16).padStart(15, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7${tail.slice(0, 3)}-8${tail.slice(3, 6)}-${tail.slice(6, 15)}000`;
}

export async function buildSyntheticStore(dataDir: string, o: SyntheticStoreOptions): Promise<void> {
  fs.mkdirSync(dataDir, { recursive: true });
  const db = openDatabase(dataDir);
  // Building a throwaway benchmark store: no fsync per batch, big page cache. (The service reopens
  // it with synchronous=FULL.)
  db.pragma('synchronous = OFF');
  db.pragma('cache_size = -1000000');
  const store = new SqliteEventStore(db, embeddedFieldProtection({ dataDir }));
  // Secondary indexes are dropped for the load and rebuilt at the end (a sort, much faster than
  // millions of random B-tree inserts); the unique keys stay and are filled in order.
  const indexes = db.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' AND sql IS NOT NULL").all() as { name: string; sql: string }[];
  for (const ix of indexes) db.exec(`DROP INDEX ${ix.name}`);
  const rand = prng(42);
  const patients = o.patients ?? 500_000;
  const actors = o.actors ?? 5_000;
  const start = o.startMs ?? Date.parse('2025-01-01T00:00:00Z');
  const stepMs = ((o.spanDays ?? 365) * 86_400_000) / o.events;
  const targetEvery = o.targetAccesses > 0 ? o.events / o.targetAccesses : Infinity;
  let nextTarget = (targetEvery - 1) / 2;
  const batchSize = o.batch ?? 50_000;
  const heads = new Map<string, { seq: number; hash: Buffer }>();
  let batch: ChainedRecord[] = [];
  for (let i = 0; i < o.events; i++) {
    const ms = Math.floor(start + i * stepMs);
    const isTarget = i >= nextTarget;
    if (isTarget) nextTarget += targetEvery;
    let r = rand();
    let category: EventCategory = 'data_access';
    for (const [c, share] of CATEGORIES) {
      if (r < share) {
        category = c;
        break;
      }
      r -= share;
    }
    if (isTarget) category = 'data_access';
    const a = Math.floor(rand() * actors);
    const failed = rand() < 0.02;
    const withPatient = isTarget || category === 'data_access' || category === 'data_modification';
    const event: AccessEvent = {
      id: timeOrderedId(ms, i),
      occurredAt: new Date(ms).toISOString(),
      category,
      action: category === 'authentication' ? 'login' : category === 'data_modification' ? 'update' : category === 'data_access' ? 'read' : 'permission_change',
      outcome: failed ? (rand() < 0.5 ? 'denied' : 'failure') : 'success',
      actor: { id: `u-${a}`, type: 'user', role: ROLES[a % ROLES.length], ip: `10.${(a >> 8) & 255}.${a & 255}.7` },
      source: { system: 'ehr-gateway', integration: 'bench' },
      details: { department: DEPARTMENTS[a % DEPARTMENTS.length] },
    };
    if (withPatient) {
      event.patient = { id: isTarget ? o.targetPatient : `MRN-${Math.floor(rand() * patients)}` };
      event.resource = { type: RESOURCES[i % RESOURCES.length] };
      event.purpose = PURPOSES[i % PURPOSES.length];
    }
    const eventJson = canonicalize(event);
    const head = heads.get(category) ?? { seq: -1, hash: GENESIS_HASH };
    const seq = head.seq + 1;
    const receivedAt = new Date(ms + 1000).toISOString();
    const hash = recordHash(head.hash, category, seq, receivedAt, eventJson);
    heads.set(category, { seq, hash });
    batch.push({ chain: category, seq, receivedAt, event, eventJson, prevHash: head.hash, hash });
    if (batch.length >= batchSize) {
      await store.append(batch);
      batch = [];
      o.onProgress?.(i + 1);
    }
  }
  if (batch.length > 0) await store.append(batch);
  for (const ix of indexes) db.exec(ix.sql);
  o.onProgress?.(o.events);
  if (o.seal) await sealCheckpoints(dataDir, store, db);
  db.pragma('synchronous = FULL');
  db.pragma('wal_checkpoint(TRUNCATE)');
  await store.close();
  fs.writeFileSync(path.join(dataDir, 'bench-store.json'), JSON.stringify({ ...o, onProgress: undefined, builtAt: new Date().toISOString() }, null, 2));
}

/** Seals a signed checkpoint over every chain of a store, with the service's own checkpoint code and keys. */
export async function sealCheckpoints(dataDir: string, events: EventStore, db: SqliteDb): Promise<void> {
  const sealer = new CheckpointService(events, new SqliteCheckpointStore(db), new FileKeyProvider(dataDir), { everyRecords: 10_000, intervalMs: 60_000 });
  await sealer.sealAll('on-demand');
}
