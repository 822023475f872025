/**
 * Reads of the partitioned hot store (partition-reads.ts) through the SqliteEventStore: a read with
 * a time range or a position bound names only the partitions it touches (late events included: a
 * partition's occurred-time range is its own, not its receive week), answers exactly what the view
 * over every partition answers, and keeps good plans: EXPLAIN QUERY PLAN of the main queries shows
 * each arm on an index and no sort (no TEMP B-TREE) for ORDER BY … LIMIT.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AccessEvent } from '@app/core';
import { GENESIS_HASH, canonicalize, recordHash } from '@app/ledger';
import { inMemoryFieldProtection } from '../../../../test/fakes/in-memory-field-protection';
import { ChainedRecord, EventQuery, EventStreamQuery, StoredRecord } from '../event-store.port';
import { SqliteDb, openDatabase } from './sqlite-database';
import { SqliteEventStore } from './sqlite-event-store';
import { dropPartition, livePartitions } from './event-partitions';
import { PartitionReads } from './partition-reads';

const DAY = 86_400_000;
/** Monday 2026-03-02 00:00 UTC: week k of the test starts k weeks later. */
const WEEK0 = Date.parse('2026-03-02T00:00:00.000Z');
const week = (k: number) => WEEK0 + k * 7 * DAY;

let counter = 0;
function event(occurredMs: number, outcome: 'success' | 'failure' = 'success'): AccessEvent {
  const n = counter++;
  return {
    id: `00000000-0000-4000-9000-${String(n).padStart(12, '0')}`,
    occurredAt: new Date(occurredMs).toISOString(),
    category: n % 4 === 0 ? 'authentication' : 'data_access',
    action: 'read',
    outcome,
    actor: { id: `dr-${n % 3}`, type: 'user' },
    patient: { id: `P${n % 4}` },
    source: { system: 'ehr' },
    ...(n % 7 === 0 ? { details: { breakGlass: true } } : {}),
  };
}

describe('reads of the partitioned hot store', () => {
  let dir: string;
  let db: SqliteDb;
  let store: SqliteEventStore;
  const heads = new Map<string, { seq: number; hash: Buffer }>();

  function chained(chain: string, receivedAt: string, events: AccessEvent[]): ChainedRecord[] {
    return events.map((e) => {
      const head = heads.get(chain) ?? { seq: -1, hash: GENESIS_HASH as Buffer };
      const eventJson = canonicalize(e);
      const seq = head.seq + 1;
      const hash = recordHash(head.hash, chain, seq, receivedAt, eventJson);
      heads.set(chain, { seq, hash });
      return { chain, seq, receivedAt, event: e, eventJson, prevHash: head.hash, hash };
    });
  }

  /**
   * Six weeks, one partition each (received on the Wednesday, occurred that week); the group of
   * week 3 also carries three events that occurred in week 0 (late arrivals), and each week has two
   * access-log records.
   */
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'partition-reads-'));
    db = openDatabase(dir);
    store = new SqliteEventStore(db, inMemoryFieldProtection(), { maxPartitionRows: 1000 });
    for (let k = 0; k < 6; k++) {
      const receivedAt = new Date(week(k) + 2 * DAY + 10 * 3600_000).toISOString();
      const events = Array.from({ length: 6 }, (_, i) => event(week(k) + i * DAY + 3600_000, i === 5 ? 'failure' : 'success'));
      if (k === 3) events.push(event(week(0) + 4 * 3600_000), event(week(0) + 5 * 3600_000), event(week(0) + 6 * DAY));
      await store.append([...chained('data_access', receivedAt, events), ...chained('access_log', receivedAt, [event(week(k) + 2 * DAY), event(week(k) + 2 * DAY + 1)])]);
    }
    expect(livePartitions(db).map((p) => `${p.n}:${p.state}`)).toEqual(['0:closed', '1:closed', '2:closed', '3:closed', '4:closed', '5:open']);
  });
  afterAll(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const occurred = (r: StoredRecord) => Date.parse(r.event.occurredAt);
  /** Every stored record, newest first, read over the view (no bound: no pruning). */
  async function everything(): Promise<StoredRecord[]> {
    const page = await store.query({ limit: 10_000 });
    expect(page.next).toBeNull();
    return page.records;
  }
  /** Tables a plan reads. */
  const tables = (plan: string[]) => [...new Set(plan.flatMap((l) => /(?:SCAN|SEARCH) (events_p\d+)/.exec(l)?.[1] ?? []))].sort();
  async function pagesOf(q: Omit<EventQuery, 'after'>): Promise<number[]> {
    const out: number[] = [];
    let page = await store.query(q);
    for (;;) {
      out.push(...page.records.map((r) => r.position));
      if (!page.next) return out;
      page = await store.query({ ...q, after: page.next });
    }
  }

  it('a time range reads only the partitions whose occurred times meet it, late events included, with the answers of the view', async () => {
    const all = await everything();
    expect(all).toHaveLength(6 * 8 + 3);
    const within = (from: number, to: number) => all.filter((r) => occurred(r) >= from && occurred(r) < to);
    // Week 0: partition 0, and partition 3, which received the late events; the open partition always.
    expect(tables(store.explainQuery({ limit: 10, fromMs: week(0), toMs: week(1) }))).toEqual(['events_p0', 'events_p3', 'events_p5']);
    expect(tables(store.explainQuery({ limit: 10, fromMs: week(4), toMs: week(5) }))).toEqual(['events_p4', 'events_p5']);
    expect(tables(store.explainQuery({ limit: 10, fromMs: week(2) }))).toEqual(['events_p2', 'events_p3', 'events_p4', 'events_p5']);
    expect(tables(store.explainQuery({ limit: 10 }))).toHaveLength(6);
    for (const [from, to] of [
      [week(0), week(1)],
      [week(0) + 3 * 3600_000, week(0) + 5 * 3600_000],
      [week(1), week(3)],
      [week(4), week(9)],
      [week(9), week(10)],
    ]) {
      const expected = within(from, to).map((r) => r.position);
      expect(await pagesOf({ limit: 4, fromMs: from, toMs: to })).toEqual(expected);
      expect((await store.query({ limit: 100, fromMs: from, toMs: to, patient: 'P1' })).records.map((r) => r.position)).toEqual(
        within(from, to)
          .filter((r) => r.event.patient?.id === 'P1')
          .map((r) => r.position),
      );
      // Reports: oldest first, in pages, each page naming the partitions from where it starts.
      const streamed: number[] = [];
      for await (const page of store.stream({ fromMs: from, toMs: to, pageSize: 3 })) streamed.push(...page.map((r) => r.position));
      expect(streamed).toEqual(
        within(from, to)
          .sort((a, b) => occurred(a) - occurred(b) || a.position - b.position)
          .map((r) => r.position),
      );
      // Backfill: position order, access log left out.
      expect((await store.readSince(0, 1000, { fromMs: from, toMs: to })).map((e) => e.position)).toEqual(
        expected.filter((p) => all.find((r) => r.position === p)!.chain !== 'access_log').sort((a, b) => a - b),
      );
    }
    // A cursor deep in the past reads only the partitions that hold older events.
    const oldest = all.filter((r) => occurred(r) < week(1));
    const cursor = oldest[0];
    expect(tables(store.explainQuery({ limit: 10, after: { occurredMs: occurred(cursor), position: cursor.position } }))).toEqual(['events_p0', 'events_p3', 'events_p5']);
    // The position tail (detection) reads only partitions past the position.
    const p4first = livePartitions(db).find((p) => p.n === 4)!.firstPos;
    const tail = all
      .filter((r) => r.position > p4first && r.chain !== 'access_log')
      .map((r) => r.position)
      .sort((a, b) => a - b);
    expect((await store.readSince(p4first, 1000)).map((e) => e.position)).toEqual(tail);
    expect((await store.readIdsSince(p4first, 1000)).map((e) => e.position)).toEqual(tail);
  });

  it('keeps good plans: each arm on an index, no sort for ORDER BY … LIMIT, no scan of a table', () => {
    const t = week(2);
    const queries: [string, string[]][] = [
      ['events page', store.explainQuery({ limit: 50, excludeChain: 'access_log' })],
      ['events from/to', store.explainQuery({ limit: 50, excludeChain: 'access_log', fromMs: t, toMs: week(4) })],
      ['patient history', store.explainQuery({ limit: 50, patient: 'P1' })],
      ['patient, page 2', store.explainQuery({ limit: 50, patient: 'P1', after: { occurredMs: t, position: 20 } })],
      ['actor', store.explainQuery({ limit: 50, actor: 'dr-1', fromMs: t })],
      ['outcome', store.explainQuery({ limit: 50, outcome: 'failure' })],
      ['access log', store.explainQuery({ limit: 50, chain: 'access_log' })],
      ['access log from', store.explainQuery({ limit: 50, chain: 'access_log', fromMs: t })],
      ['access log cursor', store.explainQuery({ limit: 50, chain: 'access_log', after: { occurredMs: week(5), position: 30 } })],
      ['access log actor', store.explainQuery({ limit: 50, chain: 'access_log', actor: 'dr-1' })],
      ['report patient', store.explainStream({ patient: 'P1' })],
      ['report actor', store.explainStream({ actor: 'dr-1', fromMs: t, toMs: week(5) })],
      ['report denials', store.explainStream({ outcomes: ['failure', 'denied'], fromMs: t } as EventStreamQuery)],
      ['report category', store.explainStream({ category: 'authentication' })],
      ['report break-glass', store.explainStream({ breakGlass: true, excludeChain: 'access_log' })],
    ];
    for (const [name, plan] of queries) {
      const text = `${name}: ${plan.join(' | ')}`;
      expect(text).not.toMatch(/TEMP B-TREE/);
      const reads = plan.filter((l) => /^(SCAN|SEARCH) events_p\d+/.test(l));
      expect(reads.length).toBeGreaterThan(0);
      // Every arm walks an index (time, patient, actor, access log): none reads a table in rowid order.
      for (const l of reads) expect(`${name}: ${l}`).toMatch(/ USING (COVERING )?INDEX events_(p\d+_)?(by_time|by_patient|by_actor|access_log)\b/);
    }
    const accessLog = queries.find(([n]) => n === 'access log')![1];
    expect(accessLog.filter((l) => /access_log/.test(l))).toHaveLength(6);
  });

  it('a report keeps going when retention drops a partition between two of its pages', async () => {
    const before: number[] = [];
    const pages = store.stream({ pageSize: 5 })[Symbol.asyncIterator]();
    const first = await pages.next();
    before.push(...(first.value as StoredRecord[]).map((r) => r.position));
    const p1 = livePartitions(db).find((p) => p.n === 1)!;
    db.transaction(() => dropPartition(db, 1))();
    for (let r = await pages.next(); !r.done; r = await pages.next()) before.push(...(r.value as StoredRecord[]).map((x) => x.position));
    const left = (await everything()).filter((r) => r.position < p1.firstPos || r.position > p1.lastPos!);
    const kept = new Set(left.map((r) => r.position));
    // Every record still stored is in the report once; rows of the dropped partition after the first page are not.
    expect(before.filter((p) => kept.has(p)).sort((a, b) => a - b)).toEqual([...kept].sort((a, b) => a - b));
    expect(new Set(before).size).toBe(before.length);
  });

  it('caches statements by SQL, bounded, and forgets them when the partitions change', () => {
    const reads = new PartitionReads(db, 4);
    for (let i = 0; i < 10; i++) reads.inRead(() => reads.statement(`SELECT ${i} AS n FROM ${reads.source({ fromMs: week(i % 6) })} LIMIT 1`).get());
    expect(reads.cachedStatements()).toBe(4);
    const again = reads.inRead(() => reads.statement(`SELECT 9 AS n FROM ${reads.source({ fromMs: week(3) })} LIMIT 1`));
    expect(reads.inRead(() => reads.statement(`SELECT 9 AS n FROM ${reads.source({ fromMs: week(3) })} LIMIT 1`))).toBe(again);
    db.transaction(() => dropPartition(db, 2))();
    reads.inRead(() => reads.source({}));
    expect(reads.cachedStatements()).toBe(0);
  });
  it('readChain, countChain and lastPosition read only the partitions they need, with the answers of the view', async () => {
    // Partitions left by the tests before: 0, 3, 4 closed, 5 open. A week of access-log records only:
    // partition 5 closes, and the newest partition holds no record lastPosition counts.
    await store.append(chained('access_log', new Date(week(7) + 3600_000).toISOString(), [event(week(7)), event(week(7) + 1)]));
    expect(livePartitions(db).map((p) => `${p.n}:${p.state}`)).toEqual(['0:closed', '3:closed', '4:closed', '5:closed', '6:open']);
    const view = (chain: string) =>
      db.prepare('SELECT seq, received_at AS receivedAt, hash FROM events WHERE chain = ? ORDER BY seq').all(chain) as { seq: number; receivedAt: string; hash: Buffer }[];
    for (const chain of ['data_access', 'access_log']) {
      const expected = view(chain);
      // Long reads (pages of 4 and 5,000, to the end or to a bound) and short ones (the view) give the same rows.
      for (const [from, to, pageSize] of [
        [0, undefined, 4],
        [0, undefined, 5000],
        [7, 20, 4],
        [expected[3].seq, expected[expected.length - 2].seq, 2],
      ] as [number, number | undefined, number][]) {
        const rows: { seq: number; receivedAt: string; hash: Buffer; eventJson: string }[] = [];
        for await (const page of store.readChain(chain, from, to, pageSize)) rows.push(...page.map((r) => ({ seq: r.seq, receivedAt: r.receivedAt, hash: r.hash, eventJson: r.eventJson })));
        const want = expected.filter((r) => r.seq >= from && r.seq <= (to ?? Infinity));
        expect(rows.map(({ seq, receivedAt, hash }) => ({ seq, receivedAt, hash }))).toEqual(want);
        for (const r of rows.slice(0, 3)) {
          for await (const page of store.readChain(chain, r.seq, r.seq, 1)) expect(page[0].eventJson).toBe(r.eventJson);
        }
      }
      // Short reads (the catalog's ranges): every record alone, as the view has it.
      for (const r of expected) {
        const got: { seq: number; hash: Buffer }[] = [];
        for await (const page of store.readChain(chain, r.seq, r.seq, 1)) got.push(...page.map((x) => ({ seq: x.seq, hash: x.hash })));
        expect(got).toEqual([{ seq: r.seq, hash: r.hash }]);
      }
      expect(await store.countChain(chain)).toBe(db.prepare('SELECT COUNT(*) FROM events WHERE chain = ?').pluck().get(chain));
    }
    expect(await store.countChain('no_such_chain')).toBe(0);
    // A page names the open partition and the closed ones holding its seq range.
    const reads = new PartitionReads(db);
    const source = (from: number, to: number) =>
      reads.inRead(() => {
        const e = reads.chainExtents('data_access', null);
        return [...reads.chainSource(e, from, to).matchAll(/events_p\d+/g)].map((m) => m[0]);
      });
    const seqsIn = (n: number) => db.prepare(`SELECT MIN(seq) AS lo, MAX(seq) AS hi FROM events_p${n} WHERE chain = 'data_access'`).get() as { lo: number; hi: number };
    const p3 = seqsIn(3);
    expect(source(p3.lo, p3.hi)).toEqual(['events_p3', 'events_p6']);
    expect(source(p3.lo, seqsIn(4).lo)).toEqual(['events_p3', 'events_p4', 'events_p6']);
    expect(source(0, Number.MAX_SAFE_INTEGER)).toEqual([]); // every partition: the view
    // A short read takes the same ranges from the catalog.
    const fromCatalog = (from: number, to: number) =>
      reads.inRead(() => [...reads.chainSource(reads.catalogChainExtents('data_access'), from, to).matchAll(/events_p\d+/g)].map((m) => m[0]));
    expect(fromCatalog(p3.lo + 1, p3.lo + 1)).toEqual(['events_p3', 'events_p6']);
    expect(fromCatalog(p3.hi, seqsIn(4).lo)).toEqual(['events_p3', 'events_p4', 'events_p6']);
    // lastPosition: the newest non-access-log row, in partition 5 (partition 6 holds access-log rows only).
    const newest = db.prepare("SELECT MAX(pos) FROM events WHERE chain <> 'access_log'").pluck().get() as number;
    expect(newest).toBe(db.prepare("SELECT MAX(pos) FROM events_p5 WHERE chain <> 'access_log'").pluck().get());
    expect(await store.lastPosition()).toBe(newest);
    expect(reads.inRead(() => reads.newestPosition("chain = 'access_log'"))).toBe(db.prepare('SELECT MAX(pos) FROM events').pluck().get());
  });
});
