/**
 * The CheckpointStore port: where the signed checkpoints of every chain are kept (forever: they
 * hold no PHI), with what makes them useful without re-reading whole chains:
 *   - the Merkle frontier of the tree at each checkpoint's size (unsigned; it folds to the signed
 *     root, so it is checkable), which lets verification start at any checkpoint;
 *   - the roots of the fixed 1024-record Merkle blocks, which keep proofs cheap on long chains;
 *   - the purged prefix of a chain (retention): the frontier and last hash of the records that
 *     were deleted, so what remains stays provable and verifiable (never the PHI itself).
 * Everything here is append-only; the embedded adapter enforces it with triggers.
 */
import { Checkpoint, FrontierJSON } from '@app/ledger';

export interface StoredCheckpoint {
  /** Position in the chain's checkpoint chain: 0 for the first. */
  index: number;
  checkpoint: Checkpoint;
  /** checkpointHash(checkpoint): what the next checkpoint's `previous` must be. */
  checkpointHash: string;
  /** Merkle frontier of the chain at checkpoint.treeSize (not signed). */
  frontier: FrontierJSON;
}

export interface NewCheckpoint extends StoredCheckpoint {
  /** Roots of the Merkle blocks completed since the previous checkpoint, the first at index `firstBlock`. */
  blockRoots: readonly Buffer[];
  firstBlock: number;
}

export interface CheckpointCursor {
  chain: string;
  index: number;
}

export interface CheckpointPageQuery {
  chain?: string;
  /** Continue after this checkpoint (the previous page's `next`). */
  after?: CheckpointCursor;
  limit: number;
}

export interface CheckpointPage {
  checkpoints: StoredCheckpoint[];
  next: CheckpointCursor | null;
}

/** The records [0, size) of a chain were purged; what is kept so the rest stays provable. */
export interface PurgedPrefix {
  chain: string;
  size: number;
  /** Hash of record size - 1: the first retained record links to it. */
  lastHash: string;
  /** Merkle frontier of [0, size). */
  frontier: FrontierJSON;
  /** Index of the checkpoint at tree size `size` that authenticates lastHash and frontier. */
  checkpointIndex: number;
  purgedAt: string;
}

export interface CheckpointStore {
  /**
   * Appends the chain's next checkpoint with the block roots completed since the last one,
   * atomically and durably. Fails with CheckpointConflictError when another sealer got there
   * first (wrong index, previous, size or block index): the loser re-reads and tries again.
   */
  append(entry: NewCheckpoint): Promise<void>;
  latest(chain: string): Promise<StoredCheckpoint | null>;
  /** Every checkpoint of a chain, in issue order. */
  list(chain: string): Promise<StoredCheckpoint[]>;
  page(query: CheckpointPageQuery): Promise<CheckpointPage>;
  findByTreeSize(chain: string, treeSize: number): Promise<StoredCheckpoint | null>;
  /** Latest checkpoint with treeSize <= the given size. */
  latestAtOrBelow(chain: string, treeSize: number): Promise<StoredCheckpoint | null>;
  /** Stored block roots [fromBlock, toBlock) of a chain (fewer when not all are stored yet). */
  blockRoots(chain: string, fromBlock: number, toBlock: number): Promise<Buffer[]>;
  /** Chains that have at least one checkpoint. */
  chains(): Promise<string[]>;
  purgedPrefix(chain: string): Promise<PurgedPrefix | null>;
  /** Records (or advances) a chain's purged prefix; for the retention purge. */
  recordPurgedPrefix(prefix: PurgedPrefix): Promise<void>;
}

export const CHECKPOINT_STORE = Symbol('CHECKPOINT_STORE');

/** Another sealer appended this chain's next checkpoint first. */
export class CheckpointConflictError extends Error {
  constructor(readonly chain: string) {
    super(`chain ${chain} already has a newer checkpoint`);
  }
}
