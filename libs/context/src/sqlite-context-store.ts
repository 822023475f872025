/**
 * Embedded ContextStore: one table of the service's SQLite database, `context_versions`, each row
 * one version (kind, validity start, receipt time, the record sealed whole). Appends run in one
 * BEGIN IMMEDIATE transaction that waits for the write lock off the event loop (writeWhenFree), so
 * a request's valid records are stored together or not at all.
 */
import { SqliteDb, writeWhenFree } from '@app/storage';
import { CONTEXT_VERSIONS_SQL } from '@app/storage/sqlite/migrations/0002-context-versions';
import { ContextKind, ContextVersion } from './context-records';
import { ContextSealer, ContextStore } from './context-store.port';

/** The context table (schema migration 2); idempotent, for connections that were not migrated (tests). */
export function createContextTables(db: SqliteDb): void {
  db.exec(CONTEXT_VERSIONS_SQL);
}

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
    const rows = versions.map((v) => [v.kind, v.validFromMs, v.receivedAtMs, this.sealer.seal(JSON.stringify(v.record))] as const);
    const insert = this.db.prepare('INSERT INTO context_versions (kind, valid_from, received_at, record) VALUES (?, ?, ?, ?)');
    const tx = this.db.transaction(() => {
      for (const r of rows) insert.run(r[0], r[1], r[2], r[3]);
    });
    await writeWhenFree(this.db, () => tx.immediate());
  }

  async scan(onBatch: (versions: ContextVersion[]) => void, batchSize = 10_000): Promise<void> {
    await this.init();
    const stmt = this.db.prepare('SELECT kind, valid_from, received_at, record FROM context_versions ORDER BY seq').raw(true);
    let batch: ContextVersion[] = [];
    for (const row of stmt.iterate() as IterableIterator<[ContextKind, number, number, Buffer]>) {
      batch.push({ kind: row[0], validFromMs: row[1], receivedAtMs: row[2], record: JSON.parse(this.sealer.open(row[3])) });
      if (batch.length >= batchSize) {
        onBatch(batch);
        batch = [];
      }
    }
    if (batch.length > 0) onBatch(batch);
  }
}
