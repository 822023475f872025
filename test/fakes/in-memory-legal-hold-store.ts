/**
 * Test double of the LegalHoldStore port, in memory. It passes the same contract as the SQLite and
 * Elasticsearch adapters (test/contracts/legal-hold-store.contract.spec.ts).
 */
import {
  HoldCoverage,
  HoldRelease,
  LegalHold,
  LegalHoldAlreadyReleasedError,
  LegalHoldNotFoundError,
  LegalHoldStatus,
  LegalHoldStore,
} from '@app/retention';

export class InMemoryLegalHoldStore implements LegalHoldStore {
  constructor(
    /** Shared by several handles (`new InMemoryLegalHoldStore(same.holds)`: another instance). */
    readonly holds = new Map<string, LegalHold>(),
  ) {}

  async create(hold: LegalHold): Promise<void> {
    if (this.holds.has(hold.id)) throw new Error('a legal hold with this id exists');
    this.holds.set(hold.id, structuredClone(hold));
  }

  async get(id: string): Promise<LegalHold | null> {
    const h = this.holds.get(id);
    return h ? structuredClone(h) : null;
  }

  async list(status?: LegalHoldStatus): Promise<LegalHold[]> {
    return [...this.holds.values()]
      .filter((h) => status === undefined || h.status === status)
      .sort((a, b) => (a.createdAt === b.createdAt ? (a.id < b.id ? -1 : 1) : a.createdAt < b.createdAt ? 1 : -1))
      .map((h) => structuredClone(h));
  }

  async release(id: string, release: HoldRelease): Promise<LegalHold> {
    const h = this.holds.get(id);
    if (!h) throw new LegalHoldNotFoundError(id);
    if (h.status === 'released') throw new LegalHoldAlreadyReleasedError(id);
    const released: LegalHold = { ...h, status: 'released', ...release };
    this.holds.set(id, released);
    return structuredClone(released);
  }

  /** The embedded runner's chain-range question needs the events: this double has none (as the Elasticsearch store, it refuses). */
  async coverage(): Promise<HoldCoverage> {
    throw new Error('the in-memory legal hold store has no events to answer chain-range coverage');
  }
}
