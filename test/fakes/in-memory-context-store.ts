/**
 * Test double of the ContextStore port, in memory (the embedded kind: othersSince is always empty). It passes the
 * same contract as the SQLite and Elasticsearch adapters (test/contracts/context-store.contract.spec.ts).
 */
import { ContextStore, ContextVersion } from '@app/context';

export class InMemoryContextStore implements ContextStore {
  constructor(
    /** Shared by several handles (`new InMemoryContextStore(same.versions)`: another instance). */
    readonly versions: ContextVersion[] = [],
  ) {}

  async init(): Promise<void> {}

  async append(versions: readonly ContextVersion[]): Promise<void> {
    this.versions.push(...versions.map((v) => structuredClone(v)));
  }

  async scan(onBatch: (versions: ContextVersion[]) => void, batchSize = 1000): Promise<void> {
    const all = this.versions.map((v) => structuredClone(v));
    for (let i = 0; i < all.length; i += batchSize) onBatch(all.slice(i, i + batchSize));
  }

  /** The embedded kind: one writer, so nobody else's versions. */
  async othersSince(): Promise<ContextVersion[]> {
    return [];
  }
}
