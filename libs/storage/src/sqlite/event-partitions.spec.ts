/**
 * The partitioned hot store (event-partitions.ts) seen through the EventStore: appends open a new
 * partition at the week boundary of receive time and past the row cap; positions stay global and
 * increasing; a repeated id is refused (and its receipt found) whichever partition holds it, also
 * while a closed partition has no id filter yet (a crash between closing and the filter); queries
 * read across partitions in their order; and retention's partition drop leaves the view whole.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AccessEvent } from '@app/core';
import { GENESIS_HASH, canonicalize, recordHash } from '@app/ledger';
import { inMemoryFieldProtection } from '../../../../test/fakes/in-memory-field-protection';
import { ChainedRecord, DuplicateIdError } from '../event-store.port';
import { SqliteDb, openDatabase } from './sqlite-database';
import { SqliteEventStore } from './sqlite-event-store';
import { dropPartition, livePartitions, repairClosedPartitionExtents } from './event-partitions';
import { partitionExtents } from './migrations/0007-partition-extents';
import { PartitionIdFilter, hashId } from './partition-id-filter';

let counter = 0;

function event(occurredMs: number): AccessEvent {
  const n = counter++;
  return {
    id: `00000000-0000-4000-9000-${String(n).padStart(12, '0')}`,
    occurredAt: new Date(occurredMs).toISOString(),
    category: 'data_access',
    action: 'read',
    outcome: 'success',
    actor: { id: `dr-${n % 3}`, type: 'user' },
    patient: { id: `P${n % 5}` },
    source: { system: 'ehr' },
  };
}

describe('the partitioned hot store', () => {
  let dir: string;
  let db: SqliteDb;
  let store: SqliteEventStore;
  let head = { seq: -1, hash: GENESIS_HASH as Buffer };
  const protection = inMemoryFieldProtection();

  /** `count` records received at `receivedAt`, chained after the last ones. */
  function group(count: number, receivedAt: string, events?: AccessEvent[]): ChainedRecord[] {
    const out: ChainedRecord[] = [];
    for (let i = 0; i < count; i++) {
      const e = events?.[i] ?? event(Date.parse(receivedAt) - 1000 + i);
      const eventJson = canonicalize(e);
      const seq = head.seq + 1;
      const hash = recordHash(head.hash, 'data_access', seq, receivedAt, eventJson);
      out.push({ chain: 'data_access', seq, receivedAt, event: e, eventJson, prevHash: head.hash, hash });
      head = { seq, hash };
    }
    return out;
  }

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hot-partitions-'));
    db = openDatabase(dir);
    store = new SqliteEventStore(db, protection, { maxPartitionRows: 10 });
    head = { seq: -1, hash: GENESIS_HASH };
  });
  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const states = () => livePartitions(db).map((p) => `${p.n}:${p.state}`);
  const positions = () => (db.prepare('SELECT pos FROM events ORDER BY pos').pluck().all() as number[]);

  it('opens a partition at the week boundary and past the row cap; positions stay global', async () => {
    await store.append(group(4, '2026-03-04T10:00:00.000Z')); // a Wednesday
    await store.append(group(4, '2026-03-08T23:59:59.000Z')); // Sunday: same week
    expect(states()).toEqual(['0:open']);
    await store.append(group(3, '2026-03-09T00:00:00.000Z')); // Monday: next week
    expect(states()).toEqual(['0:closed', '1:open']);
    await store.append(group(8, '2026-03-09T01:00:00.000Z'));
    await store.append(group(2, '2026-03-09T02:00:00.000Z')); // partition 1 holds 11 rows: past the cap of 10
    expect(states()).toEqual(['0:closed', '1:closed', '2:open']);
    expect(positions()).toEqual(Array.from({ length: 21 }, (_, i) => i + 1));
    expect((db.prepare('SELECT COUNT(*) FROM events_p1').pluck().get() as number)).toBe(11);
    // Readers see one store: the chain in order, queries across partitions newest first.
    let seqs: number[] = [];
    for await (const page of store.readChain('data_access', 0)) seqs = seqs.concat(page.map((r) => r.seq));
    expect(seqs).toEqual(Array.from({ length: 21 }, (_, i) => i));
    const page = await store.query({ limit: 5 });
    expect(page.records.map((r) => r.seq)).toEqual([20, 19, 18, 17, 16]);
    const next = await store.query({ limit: 100, after: page.next! });
    expect(next.records.map((r) => r.seq)).toEqual(Array.from({ length: 16 }, (_, i) => 15 - i));
    expect((await store.readSince(8, 100)).map((e) => e.position)).toEqual(Array.from({ length: 13 }, (_, i) => i + 9));
    expect(await store.lastPosition()).toBe(21);
  });

  it('each append tells the position of its first record, across partitions (followers need not read positions back)', async () => {
    const groups = [group(4, '2026-03-04T10:00:00.000Z'), group(3, '2026-03-09T00:00:00.000Z'), group(8, '2026-03-09T01:00:00.000Z'), group(2, '2026-03-09T02:00:00.000Z')];
    const told: number[] = [];
    for (const g of groups) told.push(((await store.append(g)) as { firstPosition: number }).firstPosition);
    expect(states()).toEqual(['0:closed', '1:closed', '2:open']);
    const stored = await store.readSince(-1, 100);
    let i = 0;
    groups.forEach((g, k) =>
      g.forEach((r, j) => {
        expect(stored[i]).toMatchObject({ position: told[k] + j, event: { id: r.event.id } });
        i++;
      }),
    );
    expect(i).toBe(stored.length);
  });

  /** What the catalog records of a partition: occurred and received ranges, last position, chain ranges. */
  const catalog = (n: number) => ({
    ...(db.prepare('SELECT min_occurred_ms, max_occurred_ms, min_received, max_received, last_pos FROM event_partitions WHERE n = ?').get(n) as object),
    chains: db.prepare('SELECT chain, first_seq, last_seq FROM event_partition_chains WHERE n = ? ORDER BY chain').all(n),
  });
  /** The same, computed from the partition's rows. */
  const actual = (n: number) => {
    const t = `events_p${n}`;
    return {
      ...(db.prepare(`SELECT MIN(occurred_ms) AS min_occurred_ms, MAX(occurred_ms) AS max_occurred_ms, MIN(received_at) AS min_received, MAX(received_at) AS max_received, MAX(pos) AS last_pos FROM ${t}`).get() as object),
      chains: db.prepare(`SELECT chain, MIN(seq) AS first_seq, MAX(seq) AS last_seq FROM ${t} GROUP BY chain ORDER BY chain`).all(),
    };
  };

  it('a closed partition\'s catalog extents are its rows\', rows written through the view included; migration 7 repairs older ones', async () => {
    await store.append(group(4, '2026-03-04T10:00:00.000Z'));
    // A row through the view's INSERT trigger (no catalog update), of another chain, occurred long before.
    db.prepare(
      `INSERT INTO events (pos, chain, seq, id, received_at, occurred_ms, category, action, outcome, actor_id, patient_id, event, sealed, prev_hash, hash)
       VALUES (5, 'authentication', 0, 'view-row', '2026-03-04T09:00:00.000Z', 1000, 'authentication', 'login', 'success', 'a', NULL, '{}', NULL, ?, ?)`,
    ).run(Buffer.alloc(32), Buffer.alloc(32, 1));
    await store.append(group(2, '2026-03-09T00:00:00.000Z')); // next week: partition 0 closes
    expect(states()).toEqual(['0:closed', '1:open']);
    expect(catalog(0)).toEqual(actual(0));
    expect(catalog(0)).toMatchObject({ min_occurred_ms: 1000, min_received: '2026-03-04T09:00:00.000Z', last_pos: 5 });
    // A catalog as migration 6 left partition 0 of an upgraded store (only later appends in it): repaired.
    db.prepare('UPDATE event_partitions SET min_occurred_ms = 99, max_occurred_ms = 100, min_received = NULL, last_pos = 1 WHERE n = 0').run();
    db.prepare('DELETE FROM event_partition_chains WHERE n = 0').run();
    expect(catalog(0)).not.toEqual(actual(0));
    db.transaction(() => partitionExtents.up(db))();
    expect(catalog(0)).toEqual(actual(0));
    // The open partition is left to appends (reads always read it); nothing to repair twice.
    expect(repairClosedPartitionExtents(db)).toBe(1);
  });

  it('refuses an id stored in a closed partition and finds its receipt, with and without the partition filter', async () => {
    const first = group(5, '2026-03-04T10:00:00.000Z');
    await store.append(first);
    await store.append(group(5, '2026-03-10T10:00:00.000Z'));
    await store.append(group(5, '2026-03-17T10:00:00.000Z'));
    expect(states()).toEqual(['0:closed', '1:closed', '2:open']);
    expect(db.prepare('SELECT n FROM event_partition_filters ORDER BY n').pluck().all()).toEqual([0, 1]);
    // Filled while appending (this connection saw every row), folded to the partition's size: every id answers maybe.
    const filter0 = PartitionIdFilter.fromBuffer(db.prepare('SELECT filter FROM event_partition_filters WHERE n = 0').pluck().get() as Buffer);
    expect(filter0.byteLength).toBeLessThan(PartitionIdFilter.forIds(10).byteLength * 2);
    expect((db.prepare('SELECT id FROM events_p0').pluck().all() as string[]).every((id) => filter0.mightContain(hashId(id)))).toBe(true);
    const check = async () => {
      const old = first[2].event!;
      const receipts = await store.findReceipts([old.id, 'not-stored']);
      expect([...receipts.keys()]).toEqual([old.id]);
      expect(receipts.get(old.id)).toMatchObject({ chain: 'data_access', seq: first[2].seq, hash: first[2].hash });
      expect((await store.getById(old.id))?.seq).toBe(first[2].seq);
      const before = head;
      const stored = positions().length;
      await expect(store.append(group(1, '2026-03-17T11:00:00.000Z', [old]))).rejects.toBeInstanceOf(DuplicateIdError);
      head = before;
      expect(positions()).toHaveLength(stored);
    };
    await check();
    // A crash after partition 0 closed but before its filter was written: the lookups probe its index.
    db.prepare('DELETE FROM event_partition_filters WHERE n = 0').run();
    await store.close();
    db = openDatabase(dir);
    store = new SqliteEventStore(db, protection, { maxPartitionRows: 10 });
    await check();
    // The next successful append builds the missing filter.
    await store.append(group(1, '2026-03-17T12:00:00.000Z'));
    expect(db.prepare('SELECT n FROM event_partition_filters ORDER BY n').pluck().all()).toEqual([0, 1]);
    // A filter this build cannot read (another format) is not trusted: probed, then rebuilt.
    db.prepare("UPDATE event_partition_filters SET filter = x'00112233' WHERE n = 1").run();
    await store.close();
    db = openDatabase(dir);
    store = new SqliteEventStore(db, protection, { maxPartitionRows: 10 });
    await check();
    await store.append(group(1, '2026-03-17T13:00:00.000Z'));
    expect((db.prepare('SELECT length(filter) FROM event_partition_filters WHERE n = 1').pluck().get() as number)).toBeGreaterThan(12);
  });

  it('a dropped partition leaves the view, the catalog keeps it, and positions are never reused', async () => {
    await store.append(group(5, '2026-03-04T10:00:00.000Z'));
    await store.append(group(5, '2026-03-10T10:00:00.000Z'));
    db.transaction(() => dropPartition(db, 0))();
    expect(states()).toEqual(['1:open']);
    expect(db.prepare("SELECT state FROM event_partitions WHERE n = 0").pluck().get()).toBe('dropped');
    expect(() => db.transaction(() => dropPartition(db, 1))()).toThrow(/not a closed partition/);
    await store.append(group(5, '2026-03-17T10:00:00.000Z'));
    expect(positions()).toEqual([6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
    expect(db.prepare("SELECT type FROM sqlite_master WHERE name = 'events_p0'").get()).toBeUndefined();
  });

  it('with many closed partitions, filters of both layouts and one missing, every stored id gets its original receipt', async () => {
    // 14 weeks of 6 rows (cap 10: one partition a week); the last one stays open.
    const weeks: ChainedRecord[][] = [];
    for (let w = 0; w < 14; w++) {
      const g = group(6, new Date(Date.parse('2026-01-05T10:00:00.000Z') + w * 7 * 86_400_000).toISOString());
      await store.append(g);
      weeks.push(g);
    }
    expect(livePartitions(db).filter((p) => p.state === 'closed')).toHaveLength(13);
    expect(db.prepare('SELECT COUNT(*) FROM event_partition_filters').pluck().get()).toBe(13);
    // Partition 4's filter as the previous build wrote it (classic layout), partition 9's lost.
    const ids4 = db.prepare('SELECT id FROM events_p4').pluck().all() as string[];
    const m = 64;
    const k = 7;
    const bits = new Uint8Array(m / 8);
    for (const id of ids4) for (let i = 0; i < k; i++) { const p = (hashId(id).h1 + Math.imul(i, hashId(id).h2)) & (m - 1); bits[p >>> 3] |= 1 << (p & 7); }
    const header = Buffer.alloc(12);
    header.writeUInt32LE(0x69644632, 0);
    header.writeUInt32LE(m, 4);
    header.writeUInt32LE(k, 8);
    db.prepare('UPDATE event_partition_filters SET filter = ? WHERE n = 4').run(Buffer.concat([header, bits]));
    db.prepare('DELETE FROM event_partition_filters WHERE n = 9').run();
    await store.close();
    db = openDatabase(dir);
    store = new SqliteEventStore(db, protection, { maxPartitionRows: 10 });
    const all = weeks.flat();
    const receipts = await store.findReceipts([...all.map((r) => r.event.id), 'not-stored']);
    expect(receipts.size).toBe(all.length);
    for (const r of all) expect(receipts.get(r.event.id)).toMatchObject({ chain: r.chain, seq: r.seq, hash: r.hash });
    // A group repeating any old id, whichever partition holds it, is refused whole.
    for (const w of [0, 4, 9, 12, 13]) {
      const before = head;
      const stored = positions().length;
      await expect(store.append([...group(1, '2026-04-07T11:00:00.000Z'), ...group(1, '2026-04-07T11:00:00.000Z', [weeks[w][3].event])])).rejects.toBeInstanceOf(DuplicateIdError);
      head = before;
      expect(positions()).toHaveLength(stored);
    }
    // New ids still go in; partition 9's filter is rebuilt, partition 4's classic one is kept.
    await store.append(group(2, '2026-04-07T12:00:00.000Z'));
    expect(db.prepare('SELECT COUNT(*) FROM event_partition_filters').pluck().get()).toBe(13);
    expect((db.prepare('SELECT filter FROM event_partition_filters WHERE n = 4').pluck().get() as Buffer).readUInt32LE(0)).toBe(0x69644632);
    const again = await store.findReceipts(all.map((r) => r.event.id));
    expect(again.size).toBe(all.length);
  });
});
