/** Port: where a report's integrity statement comes from (which checkpoints seal its records), and the checkpoint lookup that statement reads. */
import type { Checkpoint } from '@app/ledger';

/** The seq range of one chain that a report's rows came from. */
export interface ChainSpan {
  chain: string;
  fromSeq: number;
  toSeq: number;
  records: number;
}

export interface CheckpointEvidence {
  chain: string;
  treeSize: number;
  rootHash: string;
  lastHash: string;
  issuedAt: string;
  keyId: string;
  signature: string;
  /** The report's records this checkpoint seals (seq range; null when none of them). */
  seals: { fromSeq: number; toSeq: number } | null;
  verified: boolean;
  /** What failed, when not verified. */
  problem: string | null;
}

export type CheckpointStatement =
  | { available: false; reason: string }
  | {
      available: true;
      /**
       * True when every checkpoint listed verified, false when one did not, null when no checkpoint
       * seals any listed record yet (nothing to check; see `unsealed`).
       */
      verified: boolean | null;
      checks: string[];
      checkpoints: CheckpointEvidence[];
      /** Listed records that no checkpoint seals yet (issued after the chain's latest checkpoint). */
      unsealed: { chain: string; fromSeq: number; toSeq: number }[];
    };

export interface ReportIntegritySource {
  checkpointsFor(spans: readonly ChainSpan[]): Promise<CheckpointStatement>;
}

/** What the statement needs from a checkpoint store (the CheckpointStore port satisfies it). */
export interface CheckpointLookup {
  latest(chain: string): Promise<{ checkpoint: Checkpoint } | null>;
}
