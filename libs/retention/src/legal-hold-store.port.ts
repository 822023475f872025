/**
 * The LegalHoldStore port: where holds are kept (append-only; a release is the one allowed state
 * change), and the question the retention run asks before it deletes or archives a range of a
 * chain: "does any active hold cover records in chain C, seq a..b?". One adapter per engine
 * (embedded SQLite: sqlite-legal-hold-store.ts).
 */
import { LegalHold, LegalHoldStatus } from './legal-hold';

export interface HoldRelease {
  releasedAt: string;
  releasedBy: string;
  releasedByRole: string;
  releaseNote: string;
}

/** What active holds cover in a chain range. */
export interface HoldCoverage {
  chain: string;
  fromSeq: number;
  toSeq: number;
  /** True when at least one record of the range is held. */
  held: boolean;
  /** Held records in the range (each counted once, however many holds cover it). */
  heldRecords: number;
  /** Lowest and highest held sequence numbers (null when none): a prefix purge must stop before firstHeldSeq. */
  firstHeldSeq: number | null;
  lastHeldSeq: number | null;
  /** The active holds that cover at least one record of the range. */
  holdIds: string[];
}

export interface LegalHoldStore {
  /** Stores a new hold (its id must be new). */
  create(hold: LegalHold): Promise<void>;
  get(id: string): Promise<LegalHold | null>;
  /** Holds, newest first; only those with this status when given. */
  list(status?: LegalHoldStatus): Promise<LegalHold[]>;
  /**
   * Releases an active hold. Throws LegalHoldNotFoundError, or LegalHoldAlreadyReleasedError
   * when it was released before (a release is never overwritten).
   */
  release(id: string, release: HoldRelease): Promise<LegalHold>;
  /** Which records of `chain` with seq in [fromSeq, toSeq] active holds cover (see HoldCoverage). */
  coverage(chain: string, fromSeq: number, toSeq: number): Promise<HoldCoverage>;
}

export const LEGAL_HOLD_STORE = Symbol('LEGAL_HOLD_STORE');

export class LegalHoldNotFoundError extends Error {
  constructor(readonly id: string) {
    super('no legal hold with this id');
    this.name = 'LegalHoldNotFoundError';
  }
}

export class LegalHoldAlreadyReleasedError extends Error {
  constructor(readonly id: string) {
    super('this legal hold was already released');
    this.name = 'LegalHoldAlreadyReleasedError';
  }
}

/**
 * What a hold store protects held patient ids with: seals them at rest (AES-256-GCM, SealedText over
 * the data keys) and tokenizes them (both adapters take it).
 */
export interface HoldPatientProtection {
  token(patientId: string): string;
  seal(patientId: string): Buffer;
  open(sealed: Buffer): string;
}
