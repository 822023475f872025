/**
 * The integrity statement of a report: which signed checkpoints seal the records it lists, and
 * whether they verified. Checkpoints seal chain prefixes (seq 0 .. treeSize-1), so the latest
 * checkpoint of each chain covers every listed record with a smaller seq; records after it are
 * stated as not sealed yet. Checks made on each checkpoint, named in the report:
 *   - `signature`: its Ed25519 signature verifies under the service key its keyId names;
 *   - `head-matches-store`: the stored record at seq treeSize-1 has exactly the sealed lastHash
 *     (the log the report was read from is the log that was sealed).
 * When this deployment has no checkpoint store, the report says so instead of claiming anything.
 */
import { Checkpoint, PublicKeysById, checkpointShapeError, verifyCheckpointSignature } from '@app/ledger';
import type { ChainSpan, CheckpointEvidence, CheckpointLookup, CheckpointStatement, ReportIntegritySource } from './report-integrity-source.port';

export const REPORT_INTEGRITY_CHECKS = ['signature', 'head-matches-store'] as const;

/** For deployments without checkpoints: says so. */
export class UnavailableIntegritySource implements ReportIntegritySource {
  constructor(private readonly reason = 'this deployment does not keep signed checkpoints') {}

  async checkpointsFor(): Promise<CheckpointStatement> {
    return { available: false, reason: this.reason };
  }
}

export class CheckpointIntegritySource implements ReportIntegritySource {
  constructor(
    private readonly checkpoints: CheckpointLookup,
    private readonly publicKeys: () => PublicKeysById,
    /** Stored hash of record (chain, seq), or null when there is none. */
    private readonly recordHash: (chain: string, seq: number) => Promise<Buffer | null>,
  ) {}

  async checkpointsFor(spans: readonly ChainSpan[]): Promise<CheckpointStatement> {
    const keys = this.publicKeys();
    const evidence: CheckpointEvidence[] = [];
    const unsealed: { chain: string; fromSeq: number; toSeq: number }[] = [];
    for (const span of spans) {
      const latest = (await this.checkpoints.latest(span.chain))?.checkpoint ?? null;
      if (!latest || latest.treeSize <= span.fromSeq) {
        unsealed.push({ chain: span.chain, fromSeq: span.fromSeq, toSeq: span.toSeq });
        continue;
      }
      const sealedTo = Math.min(span.toSeq, latest.treeSize - 1);
      if (sealedTo < span.toSeq) unsealed.push({ chain: span.chain, fromSeq: latest.treeSize, toSeq: span.toSeq });
      evidence.push({ ...(await this.check(latest, keys)), seals: { fromSeq: span.fromSeq, toSeq: sealedTo } });
    }
    return { available: true, verified: evidence.length === 0 ? null : evidence.every((e) => e.verified), checks: [...REPORT_INTEGRITY_CHECKS], checkpoints: evidence, unsealed };
  }

  private async check(cp: Checkpoint, keys: PublicKeysById): Promise<Omit<CheckpointEvidence, 'seals'>> {
    const base = { chain: cp.chain, treeSize: cp.treeSize, rootHash: cp.rootHash, lastHash: cp.lastHash, issuedAt: cp.issuedAt, keyId: cp.keyId, signature: cp.signature };
    const fail = (problem: string) => ({ ...base, verified: false, problem });
    const shape = checkpointShapeError(cp);
    if (shape) return fail(`malformed checkpoint: ${shape}`);
    const key = keys instanceof Map ? keys.get(cp.keyId) : (keys as Record<string, string>)[cp.keyId];
    if (key === undefined) return fail(`no public key with id ${cp.keyId}`);
    if (!verifyCheckpointSignature(cp, key)) return fail('the checkpoint signature does not verify');
    const stored = await this.recordHash(cp.chain, cp.treeSize - 1);
    if (!stored) return fail(`the store has no record at seq ${cp.treeSize - 1} (purged or missing)`);
    if (stored.toString('hex') !== cp.lastHash) return fail(`the stored record at seq ${cp.treeSize - 1} differs from the sealed one`);
    return { ...base, verified: true, problem: null };
  }
}
