/**
 * ChainReader (chain-reader.port.ts) over any EventStore's own `readChain` and `chainHeads`: how
 * verification reads the Elasticsearch store (and the in-memory store of the contract tests), in
 * the verifying thread, through the client the process already holds. No snapshot: a range at a
 * chain's tail is read up to the head the plan was made with.
 */
import type { ChainHead, ChainRow, CheckedRun } from '@app/ledger';
import type { ChainReader, ChainReaderSource } from './chain-reader.port';
import type { EventStore } from './event-store.port';

/** Rows per page asked of the store. */
const PAGE_ROWS = 5000;

class EventStoreChainReader implements ChainReader {
  constructor(private readonly store: EventStore) {}

  snapshot<T>(read: () => Promise<T>): Promise<T> {
    return read();
  }

  async head(chain: string): Promise<ChainHead | null> {
    return (await this.store.chainHeads()).get(chain) ?? null;
  }

  readChainRuns(chain: string, fromSeq: number, toSeq?: number): AsyncIterable<(ChainRow | CheckedRun)[]> {
    return this.store.readChain(chain, fromSeq, toSeq, PAGE_ROWS);
  }

  /** The store belongs to whoever opened it: nothing to close here. */
  async close(): Promise<void> {}
}

/** Readers of `store` in this thread only (its client cannot be handed to a worker thread). */
export function eventStoreChainReaders(store: EventStore): ChainReaderSource {
  return { open: () => new EventStoreChainReader(store), worker: null, snapshots: false, path: () => "JavaScript (the store's own readChain)" };
}
