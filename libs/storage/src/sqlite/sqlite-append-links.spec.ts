/**
 * The embedded store only accepts rows that extend its chains: the first row of each chain in a
 * group must follow the recorded head and every further row the row before it. Anything else (a
 * group chained on a group that was never stored, a gap, a wrong prevHash, a second genesis) is
 * refused whole as a SequenceConflictError and nothing of it is stored; a good group then still
 * goes in. Checked here on the writer thread (the compiled worker: `npm run build`, which
 * `npm test` runs first); the in-process path is the EventStore contract's (test/contracts/event-store.contract.ts).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AccessEvent } from '@app/core';
import { GENESIS_HASH, canonicalize, recordHash } from '@app/ledger';
import { inMemoryFieldProtection, inMemoryFieldProtectionSource } from '../../../../test/fakes/in-memory-field-protection';
import { ChainedRecord, SequenceConflictError } from '../event-store.port';
import { SqliteAppendThread } from './sqlite-append-thread';
import { SqliteDb, openDatabase } from './sqlite-database';
import { SqliteEventStore } from './sqlite-event-store';

const RECEIVED = '2026-01-02T00:00:00.000Z';
let counter = 0;

function event(): AccessEvent {
  const n = counter++;
  return {
    id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    occurredAt: '2026-01-01T00:00:00.000Z',
    category: 'data_access',
    action: 'read',
    outcome: 'success',
    actor: { id: 'dr-a', type: 'user' },
    patient: { id: `P${n}` },
    source: { system: 'ehr' },
  };
}

/** `count` records of chain data_access linked one to the next, starting after `head`. */
function chained(head: { seq: number; hash: Buffer }, count: number): ChainedRecord[] {
  const out: ChainedRecord[] = [];
  let { seq, hash } = head;
  for (let i = 0; i < count; i++) {
    const e = event();
    const eventJson = canonicalize(e);
    const next = recordHash(hash, 'data_access', seq + 1, RECEIVED, eventJson);
    out.push({ chain: 'data_access', seq: seq + 1, receivedAt: RECEIVED, event: e, eventJson, prevHash: hash, hash: next });
    seq += 1;
    hash = next;
  }
  return out;
}

const last = (records: ChainedRecord[]) => ({ seq: records[records.length - 1].seq, hash: records[records.length - 1].hash });

describe('SqliteEventStore.append on the writer thread refuses rows that do not extend the chain', () => {
  let dir: string;
  let db: SqliteDb;
  let store: SqliteEventStore;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'append-links-'));
    db = openDatabase(dir);
    store = new SqliteEventStore(db, inMemoryFieldProtection());
    store.useAppendThread(new SqliteAppendThread({ dataDir: dir, protection: inMemoryFieldProtectionSource() }));
  });

  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const stored = () => (db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n;

  it('refuses a group chained on a group that was never stored, then takes the right one', async () => {
    const first = chained({ seq: -1, hash: GENESIS_HASH }, 3);
    await store.append(first);
    const lost = chained(last(first), 2); // as if this group had failed...
    const orphan = chained(last(lost), 2); // ...and this one was chained on it
    await expect(store.append(orphan)).rejects.toBeInstanceOf(SequenceConflictError);
    expect(stored()).toBe(3);
    await store.append(lost);
    await store.append(orphan);
    expect(stored()).toBe(7);
    expect((await store.chainHeads()).get('data_access')?.seq).toBe(6);
  });

  it('a stored group tells the position of its first record from the writer thread; a refused one tells nothing', async () => {
    const first = chained({ seq: -1, hash: GENESIS_HASH }, 3);
    const second = chained(last(first), 4);
    const a = (await store.append(first)) as { firstPosition: number };
    const b = (await store.append(second)) as { firstPosition: number };
    expect(b.firstPosition).toBe(a.firstPosition + 3);
    expect((await store.readSince(-1, 10)).map((r) => [r.position, r.event.id])).toEqual(
      [...first, ...second].map((r, i) => [a.firstPosition + i, r.event.id]),
    );
    await expect(store.append(chained(last(first), 1))).rejects.toBeInstanceOf(SequenceConflictError);
  });

  it('refuses a gap or a wrong prevHash inside a group, and a second genesis, storing nothing of the group', async () => {
    const first = chained({ seq: -1, hash: GENESIS_HASH }, 2);
    await store.append(first);
    const gap = chained(last(first), 3);
    gap.splice(1, 1);
    await expect(store.append(gap)).rejects.toBeInstanceOf(SequenceConflictError);
    const forged = chained(last(first), 2);
    forged[1] = { ...forged[1], prevHash: Buffer.alloc(32, 7) };
    await expect(store.append(forged)).rejects.toBeInstanceOf(SequenceConflictError);
    await expect(store.append(chained({ seq: -1, hash: GENESIS_HASH }, 1))).rejects.toBeInstanceOf(SequenceConflictError);
    expect(stored()).toBe(2);
  });

  it('refuses a new chain that does not start at seq 0 from the genesis hash', async () => {
    const fake = chained({ seq: 4, hash: Buffer.alloc(32, 1) }, 1);
    await expect(store.append(fake)).rejects.toBeInstanceOf(SequenceConflictError);
    expect(stored()).toBe(0);
  });
});
