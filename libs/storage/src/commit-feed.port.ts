/**
 * The CommitFeed port: which records just became durable, told right after each group commit to
 * whoever follows the store (streaming detection wakes on it instead of polling). The chain writer
 * implements it; followers inject it by COMMIT_FEED and never depend on the writer itself.
 */
import type { ChainedRecord } from './event-store.port';

/**
 * Called with every group of records right after it became durable; `firstPosition`, when the store
 * told it (EventStore.append's result), is the global position of records[0], records[i] being at
 * firstPosition + i (followers then need not read positions back).
 */
export type CommitListener = (records: readonly ChainedRecord[], firstPosition?: number) => void;

export interface CommitFeed {
  onCommit(listener: CommitListener): void;
}

export const COMMIT_FEED = Symbol('COMMIT_FEED');
