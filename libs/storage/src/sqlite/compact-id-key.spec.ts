/**
 * Partitions opened by roll-over keep event ids unique through the compact key's index (a canonical
 * uuid as its 16 bytes, any other text as itself: event-partitions.ts idKeySql) instead of
 * `UNIQUE (id)`; partition 0 keeps the text index. Seen through the store, in process and on the
 * writer thread: a repeated id is refused whole (DuplicateIdError) whichever kind of partition
 * holds it, receipts and records are found in both kinds, lookups by id plan on an index in every
 * partition, and the key is exactly as strict as `UNIQUE (id)` (ids that differ only in case, or
 * are not uuids, are different ids).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AccessEvent } from '@app/core';
import { GENESIS_HASH, canonicalize, recordHash } from '@app/ledger';
import { inMemoryFieldProtection, inMemoryFieldProtectionSource } from '../../../../test/fakes/in-memory-field-protection';
import { ChainedRecord, DuplicateIdError } from '../event-store.port';
import { SqliteAppendThread } from './sqlite-append-thread';
import { SqliteDb, openDatabase } from './sqlite-database';
import { SqliteEventStore } from './sqlite-event-store';
import { idMatchSql, livePartitions } from './event-partitions';

const RECEIVED = '2026-03-04T10:00:00.000Z';
let counter = 0;

function event(id?: string): AccessEvent {
  const n = counter++;
  return {
    id: id ?? `0000000${n % 10}-0000-4000-9000-${String(n).padStart(12, '0')}`,
    occurredAt: '2026-03-04T09:00:00.000Z',
    category: 'data_access',
    action: 'read',
    outcome: 'success',
    actor: { id: `dr-${n % 3}`, type: 'user' },
    patient: { id: `P${n % 5}` },
    source: { system: 'ehr' },
  };
}

for (const onThread of [false, true]) {
  describe(`the compact id key of rolled-over partitions (${onThread ? 'writer thread' : 'in process'})`, () => {
    let dir: string;
    let db: SqliteDb;
    let store: SqliteEventStore;
    let head = { seq: -1, hash: GENESIS_HASH as Buffer };

    function group(events: AccessEvent[]): ChainedRecord[] {
      return events.map((e) => {
        const eventJson = canonicalize(e);
        const seq = head.seq + 1;
        const hash = recordHash(head.hash, 'data_access', seq, RECEIVED, eventJson);
        const r = { chain: 'data_access', seq, receivedAt: RECEIVED, event: e, eventJson, prevHash: head.hash, hash };
        head = { seq, hash };
        return r;
      });
    }
    /** A group refused: the chain head goes back to where it was (the next group is chained on the stored one). */
    async function refused(events: AccessEvent[]): Promise<void> {
      const before = head;
      await expect(store.append(group(events))).rejects.toBeInstanceOf(DuplicateIdError);
      head = before;
    }
    const stored = () => db.prepare('SELECT COUNT(*) FROM events').pluck().get() as number;
    const indexSql = (table: string) => db.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?").all(table) as { name: string; sql: string | null }[];

    beforeEach(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'compact-id-key-'));
      db = openDatabase(dir);
      store = new SqliteEventStore(db, inMemoryFieldProtection(), { maxPartitionRows: 4 });
      if (onThread) store.useAppendThread(new SqliteAppendThread({ dataDir: dir, protection: inMemoryFieldProtectionSource(), maxPartitionRows: 4 }));
      head = { seq: -1, hash: GENESIS_HASH };
    });
    afterEach(async () => {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('refuses a repeated id in either kind of partition, and finds records and receipts in both', async () => {
      const first = [event(), event(), event(), event()];
      await store.append(group(first)); // partition 0: UNIQUE (id)
      const second = [event(), event(), event()];
      await store.append(group(second)); // past the cap: partition 1, the compact key
      expect(livePartitions(db).map((p) => `${p.n}:${p.state}`)).toEqual(['0:closed', '1:open']);
      expect(indexSql('events_p0').some((i) => i.name.startsWith('sqlite_autoindex_events_p0'))).toBe(true);
      const p1 = indexSql('events_p1');
      expect(p1.find((i) => i.name === 'events_p1_by_id')?.sql).toMatch(/^CREATE UNIQUE INDEX events_p1_by_id ON events_p1 \(\(CASE WHEN id GLOB .* THEN unhex\(replace\(id, '-', ''\)\) ELSE id END\)\)$/);

      // The open partition's own index refuses its ids (the group is all-or-nothing); the closed one's through its filter.
      await refused([event(), second[1]]);
      await refused([first[2]]);
      expect(stored()).toBe(7);

      const receipts = await store.findReceipts([first[0].id, second[2].id, 'not-stored']);
      expect([...receipts.keys()].sort()).toEqual([first[0].id, second[2].id].sort());
      expect(receipts.get(second[2].id)?.eventJson).toBe(canonicalize(second[2]));
      expect((await store.getById(second[0].id))?.seq).toBe(4);
      expect((await store.getById(first[3].id))?.seq).toBe(3);
      expect(await store.getById('00000000-0000-4000-9000-999999999999')).toBeNull();

      await store.append(group([event()]));
      expect(stored()).toBe(8);
    });

    it('is as strict as UNIQUE (id): ids differing in case, or not uuids, are different ids', async () => {
      await store.append(group([event(), event(), event(), event()]));
      const lower = 'abcdef01-2345-4678-9abc-def012345678';
      await store.append(group([event(lower), event(lower.toUpperCase()), event('not-a-uuid'), event('abcdef0123454678-9abc-def012345678')]));
      expect(livePartitions(db).find((p) => p.state === 'open')?.n).toBe(1);
      expect(stored()).toBe(8);
      await refused([event('not-a-uuid')]);
      await refused([event(lower.toUpperCase())]);
      expect((await store.getById(lower.toUpperCase()))?.seq).toBe(5);
      expect((await store.getById('not-a-uuid'))?.seq).toBe(6);
    });
  });
}

describe('lookups by id', () => {
  it('search every partition by an index, whichever kind of id index it has', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'compact-id-plan-'));
    const db = openDatabase(dir);
    const store = new SqliteEventStore(db, inMemoryFieldProtection(), { maxPartitionRows: 1 });
    let head = { seq: -1, hash: GENESIS_HASH as Buffer };
    for (let i = 0; i < 3; i++) {
      const e = event();
      const eventJson = canonicalize(e);
      const hash = recordHash(head.hash, 'data_access', head.seq + 1, RECEIVED, eventJson);
      await store.append([{ chain: 'data_access', seq: head.seq + 1, receivedAt: RECEIVED, event: e, eventJson, prevHash: head.hash, hash }]);
      head = { seq: head.seq + 1, hash };
    }
    expect(livePartitions(db)).toHaveLength(3);
    const plan = (db.prepare(`EXPLAIN QUERY PLAN SELECT pos FROM events WHERE ${idMatchSql('@id')}`).all({ id: 'x' }) as { detail: string }[]).map((r) => r.detail);
    const searches = plan.filter((d) => /^(SEARCH|SCAN) events_p/.test(d));
    expect(searches).toEqual([
      expect.stringMatching(/^SEARCH events_p0 USING .*INDEX sqlite_autoindex_events_p0_\d \(id=\?\)/),
      expect.stringMatching(/^SEARCH events_p1 USING INDEX events_p1_by_id \(<expr>=\?\)/),
      expect.stringMatching(/^SEARCH events_p2 USING INDEX events_p2_by_id \(<expr>=\?\)/),
    ]);
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
