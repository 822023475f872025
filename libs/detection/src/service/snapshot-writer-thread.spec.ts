/**
 * Detection snapshots saved through the writer thread: sealed with the data keys (no patient id in
 * the database file's row), read back whole by loadSnapshot, written in the order asked, and the
 * thread lets the process go once closed. Needs the compiled worker (`npm run build`, run by `npm test`).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { embeddedTextSealer } from '@app/security';
import { openDatabase, SqliteDb } from '@app/storage';
import { DetectionSnapshot } from '../detection-engine';
import { SnapshotWriterThread } from './snapshot-writer-thread';
import { SqliteAlertStore } from './sqlite-alert-store';
import { SqliteDetectionProgressStore } from './sqlite-detection-state';

function snapshotAt(position: number, patients: number): DetectionSnapshot {
  return {
    format: 1,
    lastPosition: position,
    maxEventTime: 1_763_900_000_000 + position,
    counters: { evaluated: position + 1, lateDropped: 0 },
    events: Array.from({ length: patients }, (_, i) => [`00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, i, i, 'dr-a', `MRN-SECRET-${i}`, '10.0.0.1', 'ehr', null]),
    rules: { 'bulk-phi-read': { fingerprint: 'f', state: { nextSweepAt: null, groups: [['dr-a', [1, 2], [0, 1], [], 0, null]] } } },
  } as unknown as DetectionSnapshot;
}

describe('SqliteDetectionProgressStore with the snapshot writer thread', () => {
  let dir: string;
  let db: SqliteDb;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'snapshot-writer-'));
    db = openDatabase(dir);
  });

  afterEach(() => {
    if (db.open) db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('seals, stores and reads back the latest snapshot, in the order they were saved', async () => {
    const sealer = embeddedTextSealer({ dataDir: dir });
    const progress = new SqliteDetectionProgressStore(db, new SqliteAlertStore(db, sealer), 'engine', sealer, new SnapshotWriterThread({ dataDir: dir }));
    const saves = [snapshotAt(10, 30_000), snapshotAt(20, 10), snapshotAt(30, 20_000)].map((s) => progress.saveSnapshot(s, new Date().toISOString()));
    await Promise.all(saves);
    const loaded = progress.loadSnapshot();
    expect(loaded?.lastPosition).toBe(30);
    expect(JSON.stringify(loaded)).toBe(JSON.stringify(snapshotAt(30, 20_000)));
    const row = db.prepare("SELECT position, snapshot FROM detection_state WHERE name = 'engine'").get() as { position: number; snapshot: Buffer };
    expect(row.position).toBe(30);
    expect(Buffer.isBuffer(row.snapshot)).toBe(true);
    expect(row.snapshot.includes('MRN-SECRET')).toBe(false);
    await progress.close();
  });

  it('a snapshot of several MB handed over in pieces is stored whole, also when the thread is closed right after the write was asked', async () => {
    const sealer = embeddedTextSealer({ dataDir: dir });
    const writer = new SnapshotWriterThread({ dataDir: dir });
    const big = snapshotAt(40, 60_000);
    const parts = [JSON.stringify(big)].flatMap((text) => Array.from({ length: Math.ceil(text.length / 50_000) }, (_, i) => text.slice(i * 50_000, (i + 1) * 50_000)));
    expect(parts.join('').length).toBeGreaterThan(4 * (1 << 20));
    const written = writer.write('engine', 40, new Date().toISOString(), parts);
    await writer.close();
    await written;
    const progress = new SqliteDetectionProgressStore(db, new SqliteAlertStore(db, sealer), 'engine', sealer);
    expect(JSON.stringify(progress.loadSnapshot())).toBe(JSON.stringify(big));
    await progress.close();
  });

  it('without a thread, saves on its own connection the same way', async () => {
    const sealer = embeddedTextSealer({ dataDir: dir });
    const progress = new SqliteDetectionProgressStore(db, new SqliteAlertStore(db, sealer), 'engine', sealer);
    await progress.saveSnapshot(snapshotAt(5, 3000), new Date().toISOString());
    expect(progress.loadSnapshot()?.lastPosition).toBe(5);
    await progress.close();
  });

  it('rejects the write, naming only an error code, when the database cannot be written', async () => {
    const sealer = embeddedTextSealer({ dataDir: dir });
    const writer = new SnapshotWriterThread({ dataDir: path.join(dir, 'missing', 'nested') });
    fs.writeFileSync(path.join(dir, 'missing'), 'not a directory');
    const progress = new SqliteDetectionProgressStore(db, new SqliteAlertStore(db, sealer), 'engine', sealer, writer);
    const failure = await progress.saveSnapshot(snapshotAt(7, 10), new Date().toISOString()).catch((e: Error) => e);
    expect(failure).toBeInstanceOf(Error);
    expect(String((failure as Error).message)).not.toContain('MRN');
    expect(progress.loadSnapshot()).toBeNull();
    await progress.close();
  });
});
