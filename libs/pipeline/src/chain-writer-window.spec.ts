/**
 * The chain writer's commit window (ChainWriterOptions.windowMs) on the embedded store the service
 * runs: after a large group commit, the requests that follow share one group (one transaction) up
 * to the last group's size; small groups never wait; a drain does not wait for the window; what is
 * stored and answered is the same as without it (receipts, one chain, verification).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { AccessEvent } from '@app/core';
import { canonicalize } from '@app/ledger';
import { embeddedFieldProtection } from '@app/security';
import { ChainedRecord, SqliteDb, TieredSqliteEventStore, openDatabase } from '@app/storage';
import { ChainWriter, ChainWriterOptions } from './chain-writer';
import { IntegrityService } from './integrity.service';

function events(n: number): { event: AccessEvent; json: string }[] {
  return Array.from({ length: n }, () => {
    const event: AccessEvent = {
      id: randomUUID(),
      occurredAt: '2026-03-02T10:15:00.000Z',
      category: 'data_access',
      action: 'read',
      outcome: 'success',
      actor: { id: 'dr-window', type: 'user' },
      patient: { id: 'MRN-WINDOW-1' },
      source: { system: 'ehr', integration: 'ehr' },
    };
    return { event, json: canonicalize(event) };
  });
}

describe('ChainWriter commit window', () => {
  let dir: string;
  let db: SqliteDb;
  let store: TieredSqliteEventStore;
  let writer: ChainWriter | null = null;
  /** Rows of each transaction the store was given, in order. */
  let transactions: number[];

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chain-writer-window-'));
    db = openDatabase(dir);
    store = new TieredSqliteEventStore(db, embeddedFieldProtection({ dataDir: dir }));
    transactions = [];
    const append = store.append.bind(store);
    store.append = (records: readonly ChainedRecord[]) => {
      transactions.push(records.length);
      return append(records);
    };
  });
  afterEach(async () => {
    await writer?.drain();
    writer = null;
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function started(options: Partial<ChainWriterOptions>): Promise<ChainWriter> {
    writer = new ChainWriter(store, { maxGroupEvents: 1000, ...options });
    await writer.start();
    return writer;
  }

  const stored = () => (db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n;

  it('after a large commit, requests arriving within the window share one transaction, with the same receipts and chain', async () => {
    const w = await started({ windowMs: 60_000, windowMinEvents: 50 });
    await w.submit(events(100));
    // Two requests a moment apart: the first waits for the second (together as many events as the last group).
    const first = w.submit(events(60));
    await new Promise((r) => setTimeout(r, 30));
    const second = w.submit(events(40));
    const [a, b] = await Promise.all([first, second]);

    expect(transactions).toEqual([100, 100]);
    expect(a.map((r) => r.seq)).toEqual(Array.from({ length: 60 }, (_, i) => 100 + i));
    expect(b.map((r) => r.seq)).toEqual(Array.from({ length: 40 }, (_, i) => 160 + i));
    expect(stored()).toBe(200);
    expect(await new IntegrityService(store).verify()).toMatchObject({ ok: true, break: null });
  });

  it('starts the waiting group when the window ends, with what arrived', async () => {
    const w = await started({ windowMs: 40, windowMinEvents: 50 });
    await w.submit(events(100));
    const receipts = await w.submit(events(10));
    expect(receipts).toHaveLength(10);
    expect(transactions).toEqual([100, 10]);
    expect(stored()).toBe(110);
  });

  it('never makes small groups wait (light traffic commits at once)', async () => {
    // A window this long would time the test out if a group below windowMinEvents waited for it.
    const w = await started({ windowMs: 60_000, windowMinEvents: 50 });
    await w.submit(events(10));
    await w.submit(events(10));
    await w.submit(events(49));
    await w.submit(events(1));
    expect(transactions).toEqual([10, 10, 49, 1]);
  });

  it('does not hold a drain (shutdown) for the window: what is queued is committed at once', async () => {
    const w = await started({ windowMs: 60_000, windowMinEvents: 50 });
    await w.submit(events(100));
    const waiting = w.submit(events(5));
    await new Promise((r) => setTimeout(r, 10));
    await w.drain();
    await expect(waiting).resolves.toHaveLength(5);
    expect(transactions).toEqual([100, 5]);
    expect(stored()).toBe(105);
  });

  it('waits for nothing when the window is 0 (the default)', async () => {
    const w = await started({ windowMinEvents: 50 });
    await w.submit(events(100));
    await w.submit(events(10));
    expect(transactions).toEqual([100, 10]);
  });
});
