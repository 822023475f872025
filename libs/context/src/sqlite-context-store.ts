/**
 * Embedded ContextStore: tables of the service's SQLite database. Each accepted request is one row
 * of `context_batches` (schema migration 5): its receipt time, how many versions, and the versions
 * sealed together with the data keys (one seal per request: bulk loads are bound by sealing
 * otherwise). `context_versions` (migration 2, one version a row) holds what earlier builds stored
 * and is read first. Appends run in one BEGIN IMMEDIATE transaction that waits for the write lock
 * off the event loop (writeWhenFree), so a request's valid records are stored together or not at all.
 */
import { SqliteDb, writeWhenFree } from '@app/storage';
import { CONTEXT_VERSIONS_SQL } from '@app/storage/sqlite/migrations/0002-context-versions';
import { CONTEXT_BATCHES_SQL } from '@app/storage/sqlite/migrations/0005-context-batches';
import { ContextKind, ContextVersion } from './context-records';
import { ContextSealer, ContextStore } from './context-store.port';

/** The context tables (schema migrations 2 and 5); idempotent, for connections that were not migrated (tests). */
export function createContextTables(db: SqliteDb): void {
  db.exec(CONTEXT_VERSIONS_SQL);
  db.exec(CONTEXT_BATCHES_SQL);
}

/** One stored version inside a batch: kind, validity start, record (the receipt time is the row's). */
type PackedVersion = [ContextKind, number, ContextVersion['record']];

export class SqliteContextStore implements ContextStore {
  private ready = false;

  constructor(
    private readonly db: SqliteDb,
    private readonly sealer: ContextSealer,
  ) {}

  async init(): Promise<void> {
    if (this.ready) return;
    createContextTables(this.db);
    this.ready = true;
  }

  async append(versions: readonly ContextVersion[]): Promise<void> {
    await this.init();
    if (versions.length === 0) return;
    // Versions of one request share their receipt time (ContextBatch); group by it all the same.
    const byReceipt = new Map<number, PackedVersion[]>();
    for (const v of versions) {
      const list = byReceipt.get(v.receivedAtMs) ?? byReceipt.set(v.receivedAtMs, []).get(v.receivedAtMs)!;
      list.push([v.kind, v.validFromMs, v.record]);
    }
    const rows = [...byReceipt].map(([receivedAt, packed]) => [receivedAt, packed.length, this.sealer.seal(JSON.stringify(packed))] as const);
    const insert = this.db.prepare('INSERT INTO context_batches (received_at, count, versions) VALUES (?, ?, ?)');
    const tx = this.db.transaction(() => {
      for (const r of rows) insert.run(r[0], r[1], r[2]);
    });
    await writeWhenFree(this.db, () => tx.immediate());
  }

  async scan(onBatch: (versions: ContextVersion[]) => void, batchSize = 10_000): Promise<void> {
    await this.init();
    let batch: ContextVersion[] = [];
    const push = (v: ContextVersion) => {
      batch.push(v);
      if (batch.length >= batchSize) {
        onBatch(batch);
        batch = [];
      }
    };
    const legacy = this.db.prepare('SELECT kind, valid_from, received_at, record FROM context_versions ORDER BY seq').raw(true);
    for (const row of legacy.iterate() as IterableIterator<[ContextKind, number, number, Buffer]>) {
      push({ kind: row[0], validFromMs: row[1], receivedAtMs: row[2], record: JSON.parse(this.sealer.open(row[3])) });
    }
    const rows = this.db.prepare('SELECT received_at, versions FROM context_batches ORDER BY seq').raw(true);
    for (const row of rows.iterate() as IterableIterator<[number, Buffer]>) {
      for (const [kind, validFromMs, record] of JSON.parse(this.sealer.open(row[1])) as PackedVersion[]) push({ kind, validFromMs, receivedAtMs: row[0], record });
    }
    if (batch.length > 0) onBatch(batch);
  }

  /** One writer per data dir (the service holding its lock): nobody else stores versions here. */
  async othersSince(): Promise<ContextVersion[]> {
    return [];
  }
}
