/**
 * SqliteChainReader (verification fast path) against SqliteEventStore.readChain on a real database
 * with sealed fields: the same rows (seq, receive time, event text, links) page by page, intact and
 * after every kind of tampering with the stored columns, and the same verdict and break from the
 * chain verifier; intact ASCII records come with their hash already checked, across a data key
 * rotation.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AccessEvent } from '@app/core';
import { ChainRow, ChainVerifier, GENESIS_HASH, canonicalize, recordHash } from '@app/ledger';
import { inMemoryFieldProtection } from '../../../../test/fakes/in-memory-field-protection';
import { SqliteDb, openDatabase } from './sqlite-database';
import { SqliteEventStore } from './sqlite-event-store';
import { SqliteChainReader, isoMillis } from './sqlite-chain-reader';
import { SqliteVerificationReader } from './sqlite-verification-reader';
import { eventStoreChainReaders } from '../event-store-chain-reader';
import { isCheckedRun } from '@app/ledger';

const CHAIN = 'data_access';
const COUNT = 60;
const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

function eventFor(n: number): AccessEvent {
  const event: AccessEvent = {
    id: id(n),
    occurredAt: '2026-01-01T00:00:00.000Z',
    category: 'data_access',
    action: 'read',
    outcome: 'success',
    actor: { id: `dr-${n % 7}`, type: 'user', ...(n % 3 === 0 ? {} : { ip: `10.1.2.${n}` }) },
    ...(n % 5 === 4 ? {} : { patient: { id: n % 11 === 3 ? `P-Ünïcødé-${n}` : `P${n}` } }),
    source: { system: 'ehr' },
  };
  if (n % 13 === 6) event.resource = { type: 'Patient', id: `P${n}` };
  if (n % 9 === 2) (event as unknown as { extensions: unknown }).extensions = { note: 'caf\u00e9 \u2028 "quoted"', n: 1e21 };
  return event;
}

async function build(dir: string): Promise<void> {
  const db = openDatabase(dir);
  const protection = inMemoryFieldProtection();
  const store = new SqliteEventStore(db, protection);
  let prev: Buffer = GENESIS_HASH;
  const records = [];
  for (let seq = 0; seq < COUNT; seq++) {
    const event = eventFor(seq);
    const eventJson = canonicalize(event);
    const receivedAt = `2026-01-02T00:00:${String(seq % 60).padStart(2, '0')}.000Z`;
    const hash = recordHash(prev, CHAIN, seq, receivedAt, eventJson);
    records.push({ chain: CHAIN, seq, receivedAt, event, eventJson, prevHash: prev, hash });
    prev = hash;
  }
  // Half the records under one data key, half under the next (a page then spans two keys).
  await store.append(records.slice(0, COUNT / 2));
  protection.dataKeys.rotate();
  await store.append(records.slice(COUNT / 2));
  db.close();
}

interface Plain {
  seq: number;
  receivedAt: string;
  eventJson: string;
  prevHash: string;
  hash: string;
}
const plain = (r: ChainRow): Plain => ({ seq: r.seq, receivedAt: r.receivedAt, eventJson: r.eventJson, prevHash: Buffer.from(r.prevHash).toString('hex'), hash: Buffer.from(r.hash).toString('hex') });

describe('SqliteChainReader', () => {
  let base: string;
  let scratch: string[] = [];

  beforeAll(async () => {
    base = fs.mkdtempSync(path.join(os.tmpdir(), 'chain-reader-'));
    await build(base);
  });

  afterAll(() => {
    for (const d of [base, ...scratch]) fs.rmSync(d, { recursive: true, force: true });
  });

  /** A copy of the intact store, changed by `edit` through a writable connection. */
  function tampered(edit: (db: SqliteDb) => void): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chain-reader-t-'));
    scratch.push(dir);
    fs.cpSync(base, dir, { recursive: true });
    const db = openDatabase(dir); // (re-creates the immutability triggers: drop them again)
    db.exec('DROP TRIGGER events_are_immutable; DROP TRIGGER events_are_never_deleted;');
    edit(db);
    db.close();
    return dir;
  }

  async function bothWays(dir: string, from = 0, to?: number, pageSize = 7) {
    const protection = inMemoryFieldProtection();
    const db = openDatabase(dir, { readonly: true });
    const store = new SqliteEventStore(db, protection);
    const reader = SqliteChainReader.open(dir, protection);
    try {
      const viaStore: ChainRow[][] = [];
      for await (const page of store.readChain(CHAIN, from, to, pageSize)) viaStore.push(page);
      const viaReader = [...reader.readChain(CHAIN, from, to, pageSize)];
      const verdict = (pages: ChainRow[][]) => {
        const v = new ChainVerifier(CHAIN);
        for (const page of pages) for (const row of page) if (!v.push(row)) break;
        const out = v.finish(reader.head(CHAIN));
        return { verified: out.verified, break: out.break, lastSeq: out.lastSeq, lastHash: out.lastHash.toString('hex') };
      };
      return {
        store: viaStore.map((p) => p.map(plain)),
        reader: viaReader.map((p) => p.map(plain)),
        checked: viaReader.flat().map((r) => r.hashChecked === true),
        storeVerdict: verdict(viaStore),
        readerVerdict: verdict(viaReader),
      };
    } finally {
      reader.close();
      db.close();
    }
  }

  it('reads an intact chain exactly as the store does, page by page, with ASCII records pre-checked', async () => {
    const r = await bothWays(base);
    expect(r.reader).toEqual(r.store);
    expect(r.store.flat()).toHaveLength(COUNT);
    expect(r.readerVerdict).toEqual(r.storeVerdict);
    expect(r.readerVerdict.break).toBeNull();
    expect(r.readerVerdict.verified).toBe(COUNT);
    // Stored text (sealed values cut out) that is not ASCII takes the ordinary path; every other
    // record, unicode patient ids included (they are sealed), was hashed in bytes.
    const db = openDatabase(base, { readonly: true });
    const stored = (db.prepare('SELECT event FROM events ORDER BY seq').pluck().all() as string[]).map((t) => /^[\x00-\x7f]*$/.test(t));
    expect(db.prepare('SELECT COUNT(DISTINCT substr(sealed, 3, 19)) FROM events WHERE sealed IS NOT NULL').pluck().get()).toBe(2);
    db.close();
    expect(stored.filter((ascii) => !ascii).length).toBeGreaterThan(0);
    expect(r.store.flat().filter((row) => row.eventJson.includes('Ünïcødé')).length).toBeGreaterThan(0);
    expect(r.checked).toEqual(stored);
    // Sub-ranges too.
    const part = await bothWays(base, 13, 41, 5);
    expect(part.reader).toEqual(part.store);
    expect(part.store.flat().map((x) => x.seq)).toEqual(Array.from({ length: 29 }, (_, i) => 13 + i));
  });

  const cases: [string, (db: SqliteDb) => void][] = [
    ['a ciphertext byte flipped', (db) => db.prepare('UPDATE events SET sealed = CAST(substr(sealed, 1, length(sealed) - 1) || x\'ff\' AS BLOB) WHERE seq = 20').run()],
    ['a sealed blob cut short', (db) => db.prepare('UPDATE events SET sealed = substr(sealed, 1, 20) WHERE seq = 21').run()],
    ['a sealed blob under a key id the keyring never listed', (db) => db.prepare("UPDATE events SET sealed = CAST(x'01' || char(19) || 'dk-ffffffffffffffff' || substr(sealed, 22) AS BLOB) WHERE seq = 22").run()],
    ['the stored event text changed', (db) => db.prepare("UPDATE events SET event = replace(event, '\"read\"', '\"export\"') WHERE seq = 23").run()],
    ['a previous hash of the wrong length', (db) => db.prepare('UPDATE events SET prev_hash = substr(prev_hash, 1, 31) WHERE seq = 24').run()],
    ['a hash of the wrong length', (db) => db.prepare("UPDATE events SET hash = CAST(hash || x'00' AS BLOB) WHERE seq = 25").run()],
    ['the receive time changed', (db) => db.prepare("UPDATE events SET received_at = '2001-01-01T00:00:00.000Z' WHERE seq = 26").run()],
    ['a record deleted', (db) => db.prepare('DELETE FROM events WHERE seq = 27').run()],
    [
      'two records swapped',
      (db) => {
        db.prepare('UPDATE events SET seq = -1 WHERE seq = 28').run();
        db.prepare('UPDATE events SET seq = 28 WHERE seq = 29').run();
        db.prepare('UPDATE events SET seq = 29 WHERE seq = -1').run();
      },
    ],
    ['sealed fields removed', (db) => db.prepare('UPDATE events SET sealed = NULL WHERE seq = 30').run()],
    ['the actor column of a record whose stored text is not ASCII changed', (db) => db.prepare("UPDATE events SET actor_id = 'dr-9' WHERE seq = 11").run()],
    ['the category column changed', (db) => db.prepare("UPDATE events SET category = 'authentication' WHERE seq = 12").run()],
    ['the occurred_ms column changed', (db) => db.prepare('UPDATE events SET occurred_ms = occurred_ms + 1 WHERE seq = 13').run()],
    ['a patient token put on a record without a patient', (db) => db.prepare("UPDATE events SET patient_id = (SELECT patient_id FROM events WHERE seq = 16) WHERE seq = 14").run()],
    ['the patient token of a record removed', (db) => db.prepare('UPDATE events SET patient_id = NULL WHERE seq = 16').run()],
    ['the patient token swapped with another record', (db) => db.prepare('UPDATE events SET patient_id = (SELECT patient_id FROM events WHERE seq = 18) WHERE seq = 17').run()],
    ['a column made a blob', (db) => db.prepare("UPDATE events SET outcome = x'73756363657373' WHERE seq = 31").run()],
    ['the id column given an escaped twin', (db) => db.prepare("UPDATE events SET id = id || '\\' WHERE seq = 32").run()],
  ];

  it.each([
    [11, 'actor_id', "UPDATE events SET actor_id = 'dr-9' WHERE seq = 11"],
    [12, 'category', "UPDATE events SET category = 'authentication' WHERE seq = 12"],
    [13, 'occurred_ms', 'UPDATE events SET occurred_ms = occurred_ms + 1 WHERE seq = 13'],
    [17, 'patient_id', 'UPDATE events SET patient_id = (SELECT patient_id FROM events WHERE seq = 18) WHERE seq = 17'],
    [31, 'outcome', "UPDATE events SET outcome = x'73756363657373' WHERE seq = 31"],
  ])('names record %i modified in column %s, ASCII or not', async (seq, column, sql) => {
    const dir = tampered((db) => db.prepare(sql).run());
    const r = await bothWays(dir);
    expect(r.readerVerdict.break).toMatchObject({ chain: CHAIN, seq, kind: 'modified', column });
    expect(r.readerVerdict).toEqual(r.storeVerdict);
  });

  it.each(cases)('reads and judges a store with %s exactly as the store does', async (_label, edit) => {
    const dir = tampered(edit);
    const r = await bothWays(dir);
    expect(r.reader).toEqual(r.store);
    expect(r.readerVerdict).toEqual(r.storeVerdict);
    expect(r.readerVerdict.break).not.toBeNull();
  });

  it('says which ranges hold warm-tier records, which it leaves to the tiered store', () => {
    const reader = SqliteChainReader.open(base, inMemoryFieldProtection());
    try {
      expect(reader.hasWarmRecords(CHAIN, 0, COUNT)).toBe(false);
    } finally {
      reader.close();
    }
  });
});

describe('SqliteVerificationReader (the embedded ChainReader)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'verification-reader-'));
    await build(dir);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  async function rowsOf(reader: { readChainRuns(c: string, f: number, t?: number): AsyncIterable<(ChainRow | import('@app/ledger').CheckedRun)[]> }, from = 0, to?: number): Promise<Plain[]> {
    const out: Plain[] = [];
    for await (const page of reader.readChainRuns(CHAIN, from, to)) {
      for (const part of page) {
        if (isCheckedRun(part)) for (let i = 0; i < part.count; i++) out.push(plain(part.row(i)));
        else out.push(plain(part));
      }
    }
    return out;
  }

  it('gives the rows and head the store itself gives (EventStore.readChain through eventStoreChainReaders)', async () => {
    const protection = inMemoryFieldProtection();
    const db = openDatabase(dir, { readonly: true });
    const store = new SqliteEventStore(db, protection);
    const viaStore = eventStoreChainReaders(store).open();
    const reader = SqliteVerificationReader.open(dir, protection);
    try {
      expect(await rowsOf(reader)).toEqual(await rowsOf(viaStore));
      expect(await rowsOf(reader, 17, 41)).toEqual(await rowsOf(viaStore, 17, 41));
      expect((await rowsOf(reader, 17, 41)).map((r) => r.seq)).toEqual(Array.from({ length: 25 }, (_, i) => 17 + i));
      expect(await reader.head(CHAIN)).toEqual(await viaStore.head(CHAIN));
      expect(await reader.head('no-such-chain')).toBeNull();
    } finally {
      await reader.close();
      db.close();
    }
  });

  it('reads a head and the rows after it in one snapshot while another connection appends', async () => {
    const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'verification-reader-s-'));
    fs.cpSync(dir, copy, { recursive: true });
    const protection = inMemoryFieldProtection();
    const reader = SqliteVerificationReader.open(copy, protection);
    const writer = new SqliteEventStore(openDatabase(copy), protection);
    try {
      const seen = await reader.snapshot(async () => {
        const before = await reader.head(CHAIN);
        // Ten more records committed by another connection in the middle of the snapshot.
        let prev = before!.hash;
        const records = [];
        for (let seq = COUNT; seq < COUNT + 10; seq++) {
          const event = eventFor(seq);
          const eventJson = canonicalize(event);
          const receivedAt = '2026-01-03T00:00:00.000Z';
          const hash = recordHash(prev, CHAIN, seq, receivedAt, eventJson);
          records.push({ chain: CHAIN, seq, receivedAt, event, eventJson, prevHash: prev, hash });
          prev = hash;
        }
        await writer.append(records);
        return { before, after: await reader.head(CHAIN), rows: (await rowsOf(reader, COUNT - 2)).length };
      });
      expect(seen.after).toEqual(seen.before);
      expect(seen.before!.seq).toBe(COUNT - 1);
      expect(seen.rows).toBe(2);
      // Outside the snapshot the appended records are there.
      expect((await reader.head(CHAIN))!.seq).toBe(COUNT + 9);
      expect((await rowsOf(reader, COUNT - 2)).length).toBe(12);
    } finally {
      await reader.close();
      await writer.close();
      fs.rmSync(copy, { recursive: true, force: true });
    }
  });
});

describe('isoMillis (the occurred_ms check without a string)', () => {
  it('gives what Date.parse gives, for stored times and for every odd form', () => {
    const texts = [
      '2026-12-07T15:00:00.000Z', '1970-01-01T00:00:00.000Z', '0100-01-01T00:00:00.000Z', '0099-12-31T23:59:59.999Z',
      '2026-02-29T00:00:00.000Z', '2026-02-30T12:00:00.000Z', '2026-04-31T00:00:00.000Z', '2024-02-29T23:59:59.999Z',
      '2026-01-01T24:00:00.000Z', '2026-01-01T23:60:00.000Z', '2026-01-01T23:59:60.000Z', '2026-13-01T00:00:00.000Z',
      '2026-00-01T00:00:00.000Z', '2026-01-00T00:00:00.000Z', '2026-01-32T00:00:00.000Z', '9999-12-31T23:59:59.999Z',
      '2026-1a-01T00:00:00.000Z', '2026-01-01T00:00:00.00aZ', '2026-01-01 00:00:00.000Z', '2026-01-01T00:00:00.000+',
      '2026-01-01T00:00:00Z', '2026-01-01T00:00:00.000+01:00', '2026-01-01', 'not a time', '', '2026-01-01T00:00:00.0000Z',
    ];
    for (let i = 0; i < 2000; i++) texts.push(new Date(-5e12 + Math.floor(Math.random() * 3e13)).toISOString());
    for (const t of texts) {
      const b = Buffer.from(`xx${t}yy`, 'utf8');
      const got = isoMillis(b, 2, 2 + Buffer.byteLength(t));
      expect([t, got]).toEqual([t, Date.parse(t)]);
    }
  });
});
