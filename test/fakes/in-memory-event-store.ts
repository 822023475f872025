/**
 * Test double of the EventStore port, in memory. It passes the same contract as the SQLite and
 * Elasticsearch adapters (test/contracts/event-store.contract.spec.ts): chains extend only their
 * head (SequenceConflictError otherwise), a group is all or none, stored ids are refused, reads
 * order and filter as the adapters do. Patient filters match a token (`patientToken`) of the id.
 */
import { ACCESS_LOG_CHAIN, AccessEvent } from '@app/core';
import { ChainHead, ChainRow, GENESIS_HASH } from '@app/ledger';
import {
  ChainedRecord,
  DuplicateIdError,
  EventPage,
  EventQuery,
  EventStore,
  EventStreamQuery,
  EventTimeRange,
  PositionedEvent,
  SequenceConflictError,
  StoreUnavailableError,
  StoredReceipt,
  StoredRecord,
} from '@app/storage';

/** What several handles share (`new InMemoryEventStore(sameState)`: a second writer on the same storage). */
export class InMemoryEventState {
  /** In position (commit) order. */
  readonly records: StoredRecord[] = [];
  readonly byId = new Map<string, StoredRecord>();
  readonly heads = new Map<string, ChainHead>();
}

const occurredMs = (r: StoredRecord) => Date.parse(r.event.occurredAt);
const copy = (r: StoredRecord): StoredRecord => ({ ...r, event: structuredClone(r.event), prevHash: Buffer.from(r.prevHash), hash: Buffer.from(r.hash) });

export class InMemoryEventStore implements EventStore {
  readonly patientTokenLookups = true;
  private closed = false;

  constructor(
    readonly state = new InMemoryEventState(),
    /** The token indexed for a patient id (a keyed HMAC in the adapters). */
    private readonly patientToken: (id: string) => string = (id) => `ptk_${id}`,
  ) {}

  async chainHeads(): Promise<Map<string, ChainHead>> {
    return new Map([...this.state.heads].map(([chain, h]) => [chain, { seq: h.seq, hash: Buffer.from(h.hash) }]));
  }

  async findReceipts(ids: readonly string[]): Promise<Map<string, StoredReceipt>> {
    const out = new Map<string, StoredReceipt>();
    for (const id of ids) {
      const r = this.state.byId.get(id);
      if (r) out.set(id, { id, chain: r.chain, seq: r.seq, hash: Buffer.from(r.hash), eventJson: r.eventJson });
    }
    return out;
  }

  async append(records: readonly ChainedRecord[]): Promise<void> {
    if (this.closed) throw new StoreUnavailableError('store is closed');
    // Check the whole group first: all or none.
    const heads = new Map(this.state.heads);
    const ids = new Set<string>();
    for (const r of records) {
      const head = heads.get(r.chain);
      const follows = head ? r.seq === head.seq + 1 && r.prevHash.equals(head.hash) : r.seq === 0 && r.prevHash.equals(GENESIS_HASH);
      if (!follows) throw new SequenceConflictError(r.chain, r.seq);
      if (this.state.byId.has(r.event.id) || ids.has(r.event.id)) throw new DuplicateIdError();
      ids.add(r.event.id);
      heads.set(r.chain, { seq: r.seq, hash: r.hash });
    }
    for (const r of records) {
      const stored: StoredRecord = copy({ ...r, position: this.state.records.length });
      this.state.records.push(stored);
      this.state.byId.set(r.event.id, stored);
      this.state.heads.set(r.chain, { seq: r.seq, hash: Buffer.from(r.hash) });
    }
  }

  refusesStoredIds(): boolean {
    return true;
  }

  async getById(id: string): Promise<StoredRecord | null> {
    const r = this.state.byId.get(id);
    return r ? copy(r) : null;
  }

  async query(q: EventQuery): Promise<EventPage> {
    const matches = this.state.records
      .filter((r) => this.matches(r, q) && (q.chain === undefined || r.chain === q.chain))
      .filter((r) => q.action === undefined || r.event.action.toLowerCase() === q.action.toLowerCase())
      .filter((r) => (q.outcome === undefined || r.event.outcome === q.outcome) && (q.integration === undefined || r.event.source.integration === q.integration))
      .filter((r) => !q.after || occurredMs(r) < q.after.occurredMs || (occurredMs(r) === q.after.occurredMs && r.position < q.after.position))
      .sort((a, b) => occurredMs(b) - occurredMs(a) || b.position - a.position);
    const page = matches.slice(0, q.limit);
    const last = page[page.length - 1];
    return { records: page.map(copy), next: matches.length > q.limit && last ? { occurredMs: occurredMs(last), position: last.position } : null };
  }

  async chains(): Promise<string[]> {
    return [...this.state.heads.keys()].sort();
  }

  async *readChain(chain: string, fromSeq: number, toSeq = Number.MAX_SAFE_INTEGER, pageSize = 5000): AsyncIterable<ChainRow[]> {
    const rows = this.state.records
      .filter((r) => r.chain === chain && r.seq >= fromSeq && r.seq <= toSeq)
      .sort((a, b) => a.seq - b.seq)
      .map((r): ChainRow => ({ seq: r.seq, receivedAt: r.receivedAt, eventJson: r.eventJson, prevHash: Buffer.from(r.prevHash), hash: Buffer.from(r.hash) }));
    for (let i = 0; i < rows.length; i += pageSize) yield rows.slice(i, i + pageSize);
  }

  async countChain(chain: string): Promise<number> {
    return this.state.records.filter((r) => r.chain === chain).length;
  }

  async *stream(q: EventStreamQuery): AsyncIterable<StoredRecord[]> {
    // A snapshot: what is stored now, nothing appended later.
    const matches = this.state.records
      .filter((r) => this.matches(r, q))
      .filter((r) => (!q.actions?.length || q.actions.includes(r.event.action)) && (!q.outcomes?.length || q.outcomes.includes(r.event.outcome)))
      .filter((r) => !q.breakGlass || r.event.action === 'break_glass' || (r.event.details as { breakGlass?: unknown } | undefined)?.breakGlass === true)
      .sort((a, b) => occurredMs(a) - occurredMs(b) || a.position - b.position);
    const size = q.pageSize ?? 1000;
    for (let i = 0; i < matches.length; i += size) yield matches.slice(i, i + size).map(copy);
  }

  async readSince(afterPosition: number, limit: number, range?: EventTimeRange): Promise<PositionedEvent[]> {
    return this.tail(afterPosition, limit, range).map((r) => ({ position: r.position, receivedAt: r.receivedAt, event: structuredClone(r.event) as AccessEvent }));
  }

  async lastPosition(): Promise<number> {
    const tail = this.state.records.filter((r) => r.chain !== ACCESS_LOG_CHAIN);
    return tail.length ? tail[tail.length - 1].position : -1;
  }

  async readIdsSince(afterPosition: number, limit: number): Promise<{ position: number; id: string }[]> {
    return this.tail(afterPosition, limit).map((r) => ({ position: r.position, id: r.event.id }));
  }

  async init(): Promise<void> {}

  isReady(): boolean {
    return !this.closed;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private tail(afterPosition: number, limit: number, range?: EventTimeRange): StoredRecord[] {
    return this.state.records
      .filter((r) => r.position > afterPosition && r.chain !== ACCESS_LOG_CHAIN)
      .filter((r) => (range?.fromMs === undefined || occurredMs(r) >= range.fromMs) && (range?.toMs === undefined || occurredMs(r) < range.toMs))
      .slice(0, limit);
  }

  /** The filters EventQuery and EventStreamQuery share. */
  private matches(r: StoredRecord, q: EventQuery | EventStreamQuery): boolean {
    const patient = r.event.patient?.id;
    if (q.patient !== undefined && patient !== q.patient) return false;
    if (q.patientToken !== undefined && (patient === undefined || this.patientToken(patient) !== q.patientToken)) return false;
    if (q.actor !== undefined && r.event.actor.id !== q.actor) return false;
    if (q.category !== undefined && r.event.category !== q.category) return false;
    if (q.excludeChain !== undefined && r.chain === q.excludeChain) return false;
    if (q.fromMs !== undefined && occurredMs(r) < q.fromMs) return false;
    if (q.toMs !== undefined && occurredMs(r) >= q.toMs) return false;
    return true;
  }
}
