/**
 * writeWhenFree: a write on one connection while another holds SQLite's write lock waits without
 * blocking the event loop, goes through once the lock is free, gives up with SQLITE_BUSY after its
 * limit, and leaves the connection's busy timeout as it was.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BUSY_TIMEOUT_MS, openDatabase, SqliteDb, writeWhenFree } from './sqlite-database';

describe('writeWhenFree', () => {
  let dir: string;
  let ours: SqliteDb;
  let theirs: SqliteDb;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'write-when-free-'));
    ours = openDatabase(dir);
    ours.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)');
    theirs = openDatabase(dir);
  });

  afterEach(() => {
    ours.close();
    theirs.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const insert = (db: SqliteDb, body: string) => db.transaction(() => db.prepare('INSERT INTO notes (body) VALUES (?)').run(body)).immediate();
  const count = () => (ours.prepare('SELECT COUNT(*) AS n FROM notes').get() as { n: number }).n;

  it('waits for the other connection to commit while timers keep running, then writes', async () => {
    theirs.exec('BEGIN IMMEDIATE');
    theirs.prepare('INSERT INTO notes (body) VALUES (?)').run('theirs');
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    let settled = false;
    const write = writeWhenFree(ours, () => insert(ours, 'ours')).finally(() => (settled = true));
    // The event loop is not held: timers keep firing while the write waits for the lock (a write that
    // blocked in SQLite's busy handler would settle before the first tick). Waits for the ticks rather
    // than for a fixed time, so a loaded machine is not a failure.
    while (ticks <= 5 && !settled) await new Promise((r) => setTimeout(r, 5));
    expect(settled).toBe(false);
    expect(ticks).toBeGreaterThan(5);
    expect(count()).toBe(0); // ours waits; theirs is not committed yet
    theirs.exec('COMMIT');
    await write;
    clearInterval(timer);
    expect(count()).toBe(2);
    expect(ours.pragma('busy_timeout', { simple: true })).toBe(BUSY_TIMEOUT_MS);
  });

  it('gives up with SQLITE_BUSY after its limit, writing nothing, and keeps the busy timeout', async () => {
    theirs.exec('BEGIN IMMEDIATE');
    const failure = await writeWhenFree(ours, () => insert(ours, 'ours'), 60).catch((e: { code?: string }) => e);
    expect((failure as { code?: string }).code).toBe('SQLITE_BUSY');
    theirs.exec('ROLLBACK');
    expect(count()).toBe(0);
    expect(ours.pragma('busy_timeout', { simple: true })).toBe(BUSY_TIMEOUT_MS);
  });

  it('passes other errors through at once', async () => {
    // Compared by message: better-sqlite3's error class may come from another jest module registry.
    let attempts = 0;
    const failure = await writeWhenFree(ours, () => (attempts++, ours.exec('INSERT INTO missing VALUES (1)'))).then(
      () => null,
      (e: { message?: string; code?: string }) => e,
    );
    expect(failure?.message).toMatch(/no such table/);
    expect(failure?.code).toBe('SQLITE_ERROR');
    expect(attempts).toBe(1); // not retried as if busy
  });
});
