/**
 * The EventStore contract: what the chain writer (append, heads, receipts, fencing), the query
 * and report services (query, stream), verification (readChain, countChain, chains) and detection
 * (readSince, readIdsSince, lastPosition) rely on from any adapter: embedded SQLite, Elasticsearch
 * and the in-memory fake. Each adapter's spec calls describeEventStoreContract with a function
 * opening a fresh, empty store with field protection; what only one engine does (SQL plans, the
 * writer thread, index requests, write-ahead recovery, PHI at rest) stays in its own spec.
 */
import { randomUUID } from 'node:crypto';
import { ACCESS_LOG_CHAIN, AccessEvent } from '@app/core';
import { ChainHead, ChainVerifier, GENESIS_HASH, canonicalize, recordHash } from '@app/ledger';
import { ChainedRecord, DuplicateIdError, EventStore, EventStreamQuery, SequenceConflictError, StoreUnavailableError, StoredRecord } from '@app/storage';

export interface OpenedEventStore {
  store: EventStore;
  /** Another writer on the same storage (another instance, or another connection). */
  other(): Promise<EventStore>;
  /** The keyed-HMAC patient token the store indexes for a patient id. */
  patientToken(id: string): string;
  close(): Promise<void>;
}

export function accessEvent(overrides: Partial<AccessEvent> = {}): AccessEvent {
  return {
    id: randomUUID(),
    occurredAt: '2026-03-02T10:15:00.000Z',
    category: 'data_access',
    action: 'read',
    outcome: 'success',
    actor: { id: 'dr-alice', type: 'user', role: 'physician', ip: '10.1.2.3' },
    patient: { id: 'MRN-0001' },
    source: { system: 'ehr-gateway' },
    ...overrides,
  };
}

/** Chains events after the given heads, as the chain writer does (on its `chain` when given, else the event's category). */
export function chainRecords(events: AccessEvent[], heads: Map<string, ChainHead>, chainOf: (e: AccessEvent) => string = (e) => e.category): ChainedRecord[] {
  // Recent enough that no adapter takes it for a record retention may have purged.
  const receivedAt = new Date().toISOString();
  return events.map((event) => {
    const chain = chainOf(event);
    const eventJson = canonicalize(event);
    const head = heads.get(chain) ?? { seq: -1, hash: GENESIS_HASH };
    const seq = head.seq + 1;
    const hash = recordHash(head.hash, chain, seq, receivedAt, eventJson);
    heads.set(chain, { seq, hash });
    return { chain, seq, receivedAt, event, eventJson, prevHash: head.hash, hash };
  });
}

async function collect<T>(pages: AsyncIterable<T[]>): Promise<T[][]> {
  const out: T[][] = [];
  for await (const page of pages) out.push(page);
  return out;
}

export function describeEventStoreContract(name: string, open: () => Promise<OpenedEventStore>): void {
  describe(`EventStore contract: ${name}`, () => {
    let opened: OpenedEventStore;
    let store: EventStore;
    beforeEach(async () => {
      opened = await open();
      store = opened.store;
    });
    afterEach(() => opened.close());

    /** Appends events chained on the store's current heads; returns the records. */
    async function appendEvents(events: AccessEvent[], chainOf?: (e: AccessEvent) => string): Promise<ChainedRecord[]> {
      const records = chainRecords(events, await store.chainHeads(), chainOf);
      await store.append(records);
      return records;
    }

    async function verifies(chain: string): Promise<{ ok: boolean; verified: number }> {
      const v = new ChainVerifier(chain, { seq: 0, prevHash: GENESIS_HASH });
      for await (const page of store.readChain(chain, 0)) for (const row of page) v.push(row);
      const verdict = v.finish((await store.chainHeads()).get(chain) ?? null);
      return { ok: verdict.break === null, verified: verdict.verified };
    }

    it('an empty store has no chain, head, record or position, and is ready', async () => {
      expect(store.isReady()).toBe(true);
      expect(await store.chainHeads()).toEqual(new Map());
      expect(await store.chains()).toEqual([]);
      expect(await store.findReceipts([randomUUID()])).toEqual(new Map());
      expect(await store.getById(randomUUID())).toBeNull();
      expect(await store.query({ limit: 10 })).toEqual({ records: [], next: null });
      expect(await store.countChain('data_access')).toBe(0);
      expect(await collect(store.readChain('data_access', 0))).toEqual([]);
      expect(await collect(store.stream!({}))).toEqual([]);
      expect(await store.lastPosition!()).toBe(-1);
      expect(await store.readSince!(-1, 10)).toEqual([]);
      await store.append([]);
      expect(await store.chains()).toEqual([]);
    });

    it('reads back exactly what was appended: by id, receipts, heads, chains and counts', async () => {
      const events = [accessEvent(), accessEvent({ category: 'authentication', action: 'login', patient: undefined }), accessEvent({ details: { note: 'x' } })];
      const records = await appendEvents(events);
      for (const r of records) {
        const got = await store.getById(r.event.id);
        expect(got).toEqual({ ...r, position: expect.any(Number) });
      }
      const receipts = await store.findReceipts([events[0].id, randomUUID(), events[1].id]);
      expect([...receipts.keys()].sort()).toEqual([events[0].id, events[1].id].sort());
      expect(receipts.get(events[0].id)).toEqual({ id: events[0].id, chain: 'data_access', seq: 0, hash: records[0].hash, eventJson: records[0].eventJson });
      expect(receipts.get(events[1].id)).toEqual({ id: events[1].id, chain: 'authentication', seq: 0, hash: records[1].hash, eventJson: records[1].eventJson });
      expect(await store.chainHeads()).toEqual(
        new Map([
          ['data_access', { seq: 1, hash: records[2].hash }],
          ['authentication', { seq: 0, hash: records[1].hash }],
        ]),
      );
      expect(await store.chains()).toEqual(['authentication', 'data_access']);
      expect(await store.countChain('data_access')).toBe(2);
      expect(await store.countChain('authentication')).toBe(1);
      expect(await store.countChain('security')).toBe(0);
    });

    it('readChain yields a chain in sequence order, in pages, from fromSeq to toSeq (inclusive), and the chain verifies', async () => {
      const records = await appendEvents(Array.from({ length: 7 }, (_, i) => accessEvent({ category: i % 3 === 0 ? 'authentication' : 'data_access', action: 'login' })));
      const dataAccess = records.filter((r) => r.chain === 'data_access');
      const pages = await collect(store.readChain('data_access', 1, undefined, 2));
      expect(pages.map((p) => p.map((r) => r.seq))).toEqual([[1, 2], [3]]);
      expect(pages[0][0]).toMatchObject({ seq: 1, receivedAt: dataAccess[1].receivedAt, eventJson: dataAccess[1].eventJson, prevHash: dataAccess[0].hash, hash: dataAccess[1].hash });
      expect((await collect(store.readChain('data_access', 1, 2))).flat().map((r) => r.seq)).toEqual([1, 2]);
      expect(await collect(store.readChain('data_access', 9))).toEqual([]);
      await expect(verifies('data_access')).resolves.toEqual({ ok: true, verified: 4 });
      await expect(verifies('authentication')).resolves.toEqual({ ok: true, verified: 3 });
    });

    it('a second writer that raced for a chain position gets SequenceConflictError and stores nothing; it re-reads the heads and goes on', async () => {
      const other = await opened.other();
      const staleHeads = await other.chainHeads();
      const won = await appendEvents([accessEvent(), accessEvent()]);
      const lost = chainRecords([accessEvent(), accessEvent()], staleHeads);
      await expect(other.append(lost)).rejects.toBeInstanceOf(SequenceConflictError);
      expect(await store.findReceipts(lost.map((r) => r.event.id))).toEqual(new Map());
      expect((await store.chainHeads()).get('data_access')).toEqual({ seq: 1, hash: won[1].hash });
      expect(await store.countChain('data_access')).toBe(2);
      const retried = chainRecords(
        lost.map((r) => r.event),
        await other.chainHeads(),
      );
      await other.append(retried);
      expect((await store.getById(lost[0].event.id))?.seq).toBe(2);
      await expect(verifies('data_access')).resolves.toEqual({ ok: true, verified: 4 });
    });

    it('refuses records that do not extend the chain (chained on a group never stored, a second genesis, a new chain not at seq 0 from the genesis hash), storing nothing of them', async () => {
      const first = await appendEvents([accessEvent()]);
      const heads = new Map([['data_access', { seq: first[0].seq, hash: first[0].hash }]]);
      const lost = chainRecords([accessEvent(), accessEvent()], heads); // a group that was never stored ...
      const orphan = chainRecords([accessEvent()], heads); // ... and one chained on it
      await expect(store.append(orphan)).rejects.toBeInstanceOf(SequenceConflictError);
      const secondGenesis = chainRecords([accessEvent()], new Map());
      await expect(store.append(secondGenesis)).rejects.toBeInstanceOf(SequenceConflictError);
      const notAtGenesis = chainRecords([accessEvent({ category: 'security', action: 'tls_handshake' })], new Map([['security', { seq: 4, hash: Buffer.alloc(32, 1) }]]));
      await expect(store.append(notAtGenesis)).rejects.toBeInstanceOf(SequenceConflictError);
      const forgedGenesis = chainRecords([accessEvent({ category: 'security', action: 'tls_handshake' })], new Map());
      const wrongStart = [{ ...forgedGenesis[0], prevHash: Buffer.alloc(32, 9) }];
      await expect(store.append(wrongStart)).rejects.toBeInstanceOf(SequenceConflictError);
      expect(await store.findReceipts([orphan[0].event.id, secondGenesis[0].event.id, notAtGenesis[0].event.id, wrongStart[0].event.id])).toEqual(new Map());
      expect(await store.chains()).toEqual(['data_access']);
      expect(await store.countChain('data_access')).toBe(1);
      // Once the group it was chained on is stored, it goes in.
      await store.append(lost);
      await store.append(orphan);
      expect(await store.countChain('data_access')).toBe(4);
      expect((await store.chainHeads()).get('data_access')?.seq).toBe(3);
      await expect(verifies('data_access')).resolves.toEqual({ ok: true, verified: 4 });
    });

    it('refuses a group with a gap or a wrong prevHash after its first record, storing nothing of it', async () => {
      const first = await appendEvents([accessEvent()]);
      const gap = chainRecords([accessEvent(), accessEvent(), accessEvent()], await store.chainHeads());
      gap.splice(1, 1);
      await expect(store.append(gap)).rejects.toBeInstanceOf(SequenceConflictError);
      const forged = chainRecords([accessEvent(), accessEvent()], await store.chainHeads());
      forged[1] = { ...forged[1], prevHash: Buffer.alloc(32, 7) };
      await expect(store.append(forged)).rejects.toBeInstanceOf(SequenceConflictError);
      expect(await store.findReceipts([...gap, ...forged].map((r) => r.event.id))).toEqual(new Map());
      expect((await store.chainHeads()).get('data_access')).toEqual({ seq: 0, hash: first[0].hash });
    });

    it('an event id already stored is found by findReceipts; a store that refuses stored ids in append throws DuplicateIdError and stores nothing of the group', async () => {
      const [stored] = await appendEvents([accessEvent()]);
      expect((await store.findReceipts([stored.event.id])).get(stored.event.id)?.hash).toEqual(stored.hash);
      if (!store.refusesStoredIds()) return; // the writer looks ids up first (findReceipts, above)
      const fresh = accessEvent();
      const group = chainRecords([fresh, { ...stored.event }], await store.chainHeads());
      await expect(store.append(group)).rejects.toBeInstanceOf(DuplicateIdError);
      expect(await store.getById(fresh.id)).toBeNull();
      expect(await store.countChain('data_access')).toBe(1);
    });

    it('query filters (patient, token, actor, action in any case, outcome, category, time), newest first, and pages with the cursor', async () => {
      const events = [0, 1, 2, 3, 4].map((i) =>
        accessEvent({
          occurredAt: `2026-03-0${i + 1}T00:00:00.000Z`,
          actor: { id: i % 2 ? 'u-odd' : 'u-even', type: 'user' },
          patient: { id: i < 2 ? 'MRN-1' : 'MRN-2' },
          action: i === 3 ? 'READ' : i === 4 ? 'update' : 'read',
          outcome: i === 2 ? 'denied' : 'success',
        }),
      );
      const auth = accessEvent({ category: 'authentication', action: 'login', patient: undefined, occurredAt: '2026-03-03T12:00:00.000Z' });
      await appendEvents([...events, auth]);
      const ids = async (q: Parameters<EventStore['query']>[0]) => (await store.query(q)).records.map((r) => r.event.id);
      const page1 = await store.query({ actor: 'u-even', fromMs: Date.parse('2026-03-01T00:00:00Z'), toMs: Date.parse('2026-03-05T00:00:01Z'), limit: 2 });
      expect(page1.records.map((r) => r.event.id)).toEqual([events[4].id, events[2].id]);
      expect(page1.records[0]).toMatchObject({ event: events[4], chain: 'data_access' });
      expect(page1.next).toEqual({ occurredMs: Date.parse(events[2].occurredAt), position: page1.records[1].position });
      const page2 = await store.query({ actor: 'u-even', limit: 2, after: page1.next! });
      expect(page2.records.map((r) => r.event.id)).toEqual([events[0].id]);
      expect(page2.next).toBeNull();
      expect(await ids({ action: 'Read', limit: 10 })).toEqual([events[3].id, events[2].id, events[1].id, events[0].id]);
      expect(await ids({ outcome: 'denied', limit: 10 })).toEqual([events[2].id]);
      expect(await ids({ category: 'authentication', limit: 10 })).toEqual([auth.id]);
      expect(await ids({ fromMs: Date.parse('2026-03-03T00:00:00Z'), toMs: Date.parse('2026-03-04T00:00:00Z'), limit: 10 })).toEqual([auth.id, events[2].id]);
      expect(await ids({ patient: 'MRN-1', limit: 10 })).toEqual([events[1].id, events[0].id]);
      expect(await ids({ patient: 'nobody', limit: 10 })).toEqual([]);
      if (store.patientTokenLookups) expect(await ids({ patientToken: opened.patientToken('MRN-2'), limit: 10 })).toEqual([events[4].id, events[3].id, events[2].id]);
    });

    it('query keeps the access log apart (excludeChain) or reads only it (chain)', async () => {
      const ingested = await appendEvents([accessEvent()]);
      const read = accessEvent({ action: 'query', source: { system: 'audit-siem' } });
      await appendEvents([read], () => ACCESS_LOG_CHAIN);
      expect((await store.query({ excludeChain: ACCESS_LOG_CHAIN, limit: 10 })).records.map((r) => r.event.id)).toEqual([ingested[0].event.id]);
      const log = (await store.query({ chain: ACCESS_LOG_CHAIN, limit: 10 })).records;
      expect(log.map((r) => [r.chain, r.event.id])).toEqual([[ACCESS_LOG_CHAIN, read.id]]);
    });

    it('stream yields every match oldest first (event time, then position), page by page, with its filters', async () => {
      const events = [
        accessEvent({ occurredAt: '2026-03-03T00:00:00.000Z', action: 'break_glass', category: 'security' }),
        accessEvent({ occurredAt: '2026-03-01T00:00:00.000Z', details: { breakGlass: true } }),
        accessEvent({ occurredAt: '2026-03-02T00:00:00.000Z' }),
        accessEvent({ occurredAt: '2026-03-02T00:00:00.000Z', actor: { id: 'dr-b', type: 'user' }, patient: { id: 'MRN-2' } }),
        accessEvent({ occurredAt: '2026-03-04T00:00:00.000Z', action: 'export', outcome: 'denied' }),
        accessEvent({ occurredAt: '2026-03-05T00:00:00.000Z', details: { note: '"breakGlass":true' } }), // the text, not the flag
        accessEvent({ occurredAt: '2026-03-06T00:00:00.000Z', category: 'authentication', action: 'login', outcome: 'failure', patient: undefined }),
      ];
      await appendEvents(events);
      const ids = async (q: EventStreamQuery) => (await collect(store.stream!(q))).flat().map((r) => r.event.id);
      const order = [1, 2, 3, 0, 4, 5, 6].map((i) => events[i].id);
      const pages = await collect(store.stream!({ pageSize: 2 }));
      expect(pages.map((p) => p.length)).toEqual([2, 2, 2, 1]);
      expect(pages.flat().map((r) => r.event.id)).toEqual(order);
      expect(pages[0][0]).toMatchObject({ event: events[1], chain: 'data_access' });
      expect(await ids({ pageSize: 100 })).toEqual(order);
      expect(await ids({ breakGlass: true, pageSize: 1 })).toEqual([events[1].id, events[0].id]);
      expect(await ids({ actions: ['read', 'export'], outcomes: ['denied'] })).toEqual([events[4].id]);
      expect(await ids({ outcomes: ['failure', 'denied'] })).toEqual([events[4].id, events[6].id]);
      expect(await ids({ actor: 'dr-b' })).toEqual([events[3].id]);
      expect(await ids({ patient: 'MRN-2' })).toEqual([events[3].id]);
      expect(await ids({ category: 'security' })).toEqual([events[0].id]);
      expect(await ids({ excludeChain: 'security', breakGlass: true })).toEqual([events[1].id]);
      expect(await ids({ fromMs: Date.parse('2026-03-02T00:00:00Z'), toMs: Date.parse('2026-03-04T00:00:00Z'), pageSize: 1 })).toEqual([2, 3, 0].map((i) => events[i].id));
      expect(await ids({ patient: 'nobody' })).toEqual([]);
      if (store.patientTokenLookups) expect(await ids({ patientToken: opened.patientToken('MRN-2') })).toEqual([events[3].id]);
    });

    it('stream is a snapshot: records committed after the first page are not read', async () => {
      const events = [1, 2, 3].map((d) => accessEvent({ occurredAt: `2026-03-0${d}T00:00:00.000Z` }));
      await appendEvents(events);
      const it = store.stream!({ pageSize: 2 })[Symbol.asyncIterator]();
      const first = await it.next();
      expect(first.value.map((r: StoredRecord) => r.event.id)).toEqual([events[0].id, events[1].id]);
      const late = accessEvent({ occurredAt: '2026-03-09T00:00:00.000Z' });
      await appendEvents([late]);
      const rest: string[] = [];
      for (let r = await it.next(); !r.done; r = await it.next()) rest.push(...r.value.map((x: StoredRecord) => x.event.id));
      expect(rest).toEqual([events[2].id]);
      expect((await collect(store.stream!({}))).flat().map((r) => r.event.id)).toContain(late.id);
    });

    it('detection tails committed events in commit order across chains and writers, without the access log', async () => {
      const other = await opened.other();
      const e1 = accessEvent();
      const e2 = accessEvent({ category: 'authentication', action: 'login' });
      const e3 = accessEvent({ occurredAt: '2026-03-05T00:00:00.000Z' });
      await appendEvents([e1]);
      await other.append(chainRecords([e2], await other.chainHeads()));
      await appendEvents([accessEvent({ action: 'query' })], () => ACCESS_LOG_CHAIN);
      await appendEvents([e3]);

      const all = await store.readSince!(-1, 100);
      expect(all.map((r) => r.event.id)).toEqual([e1.id, e2.id, e3.id]);
      expect(all[0].event).toEqual(e1);
      const positions = all.map((r) => r.position);
      expect(new Set(positions).size).toBe(3);
      expect([...positions].sort((x, y) => x - y)).toEqual(positions);
      expect(await store.lastPosition!()).toBe(positions[2]);
      expect(await store.readIdsSince(positions[0], 10)).toEqual([
        { position: positions[1], id: e2.id },
        { position: positions[2], id: e3.id },
      ]);
      expect(await store.readSince!(positions[2], 10)).toEqual([]);
      expect((await store.readSince!(-1, 2)).map((r) => r.event.id)).toEqual([e1.id, e2.id]);
      expect((await store.readSince!(-1, 100, { fromMs: Date.parse('2026-03-04T00:00:00Z') })).map((r) => r.event.id)).toEqual([e3.id]);
      expect((await store.readSince!(-1, 100, { toMs: Date.parse('2026-03-04T00:00:00Z') })).map((r) => r.event.id)).toEqual([e1.id, e2.id]);
    });

    it('a closed store is not ready and refuses appends with StoreUnavailableError', async () => {
      const records = chainRecords([accessEvent()], await store.chainHeads());
      await store.close();
      expect(store.isReady()).toBe(false);
      await expect(store.append(records)).rejects.toBeInstanceOf(StoreUnavailableError);
    });
  });
}
