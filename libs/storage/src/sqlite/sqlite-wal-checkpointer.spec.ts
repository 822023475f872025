/**
 * The background checkpointer copies committed pages from the WAL into the database file while
 * the committing connection leaves it to it (backstop threshold), and stops cleanly.
 * Needs the compiled worker (`npm run build`, which `npm test` runs first).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { databasePath, openDatabase, SqliteDb } from './sqlite-database';
import { SqliteWalCheckpointer, WalCheckpointReport } from './sqlite-wal-checkpointer';

const PAYLOAD = 'x'.repeat(1000);

function fill(db: SqliteDb, rows: number): void {
  db.exec('CREATE TABLE IF NOT EXISTS filler (id INTEGER PRIMARY KEY, body TEXT NOT NULL)');
  const insert = db.prepare('INSERT INTO filler (body) VALUES (?)');
  const tx = db.transaction((n: number) => {
    for (let i = 0; i < n; i++) insert.run(PAYLOAD);
  });
  for (let i = 0; i < rows; i += 1000) tx(Math.min(1000, rows - i));
}

function walBytes(dir: string): number {
  const wal = `${databasePath(dir)}-wal`;
  return fs.existsSync(wal) ? fs.statSync(wal).size : 0;
}

describe('SqliteWalCheckpointer', () => {
  let dir: string;
  let db: SqliteDb;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wal-checkpointer-'));
    db = openDatabase(dir, { backgroundCheckpoints: true });
  });

  afterEach(() => {
    if (db.open) db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('leaves committed pages in the WAL when no checkpointer runs (commits only checkpoint past the backstop)', () => {
    const before = fs.statSync(databasePath(dir)).size;
    fill(db, 12_000); // ~12 MiB of rows: past SQLite's default 4 MiB threshold, far below the backstop
    expect(walBytes(dir)).toBeGreaterThan(10 * 1024 * 1024);
    expect(fs.statSync(databasePath(dir)).size).toBe(before);
  });

  it('copies the WAL into the database file in the background and reports it', async () => {
    fill(db, 12_000);
    const reports: WalCheckpointReport[] = [];
    const checkpointer = new SqliteWalCheckpointer({ dataDir: dir, intervalMs: 20 }, { checkpoint: (r) => reports.push(r) });
    checkpointer.start();
    const deadline = Date.now() + 10_000;
    while (!reports.some((r) => r.walFrames > 0 && r.checkpointedFrames === r.walFrames) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    await checkpointer.stop();
    const done = reports.find((r) => r.checkpointedFrames === r.walFrames);
    expect(done?.walFrames).toBeGreaterThan(2500); // 4 KiB pages of ~12 MiB of rows
    expect(fs.statSync(databasePath(dir)).size).toBeGreaterThan(10 * 1024 * 1024);
    // Everything was copied: the next commit restarts the WAL from its beginning instead of growing it.
    const walBefore = walBytes(dir);
    fill(db, 100);
    expect(walBytes(dir)).toBeLessThanOrEqual(walBefore);
    expect((db.prepare('SELECT COUNT(*) AS n FROM filler').get() as { n: number }).n).toBe(12_100);
  });

  it('stops without having been started, and stop() waits for the worker to close its connection', async () => {
    await new SqliteWalCheckpointer({ dataDir: dir, intervalMs: 20 }).stop();
    const checkpointer = new SqliteWalCheckpointer({ dataDir: dir, intervalMs: 20 });
    checkpointer.start();
    await checkpointer.stop();
    // With the worker's connection closed, ours is the only one: closing it checkpoints and removes the WAL.
    db.close();
    expect(fs.existsSync(`${databasePath(dir)}-wal`)).toBe(false);
  });
});
