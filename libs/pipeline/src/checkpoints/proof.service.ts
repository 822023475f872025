/**
 * Inclusion and consistency proofs against signed checkpoints (CONTRACT "Inclusion proof";
 * `GET /v1/events/{id}/proof`, `GET /v1/integrity/consistency`).
 *
 * A proof over a tree of n records reads the stored roots of the whole 1024-record Merkle blocks
 * and the record hashes of at most two blocks (the one the proof cuts through and the last,
 * partial one), never the whole chain. Every proof is checked against the checkpoint's signed
 * root before it is served: a proof that does not verify means the stored history no longer
 * matches what was signed, and is answered as an integrity error instead.
 */
import { canonicalEventId, ProblemError, Problems } from '@app/core';
import {
  Checkpoint,
  InclusionProofDocument,
  MERKLE_BLOCK_LEAVES,
  MerkleProver,
  frontierFromJSON,
  leafHash,
  verifyConsistency,
  verifyInclusion,
} from '@app/ledger';
import { CheckpointStore, EventStore } from '@app/storage';
import { CheckpointService } from './checkpoint.service';

/** `GET /v1/integrity/consistency`: the tree of size fromSize is a prefix of the tree of size toSize. */
export interface ConsistencyProofDocument {
  chain: string;
  fromSize: number;
  toSize: number;
  /** RFC 9162 section 2.1.4 consistency proof, hex, bottom up. */
  proof: string[];
  from: Checkpoint;
  to: Checkpoint;
}

function integrityError(detail: string): ProblemError {
  return new ProblemError(500, 'integrity-error', 'Stored history does not match its signed checkpoint', { detail });
}

export class ProofService {
  constructor(
    private readonly events: EventStore,
    private readonly checkpoints: CheckpointStore,
    private readonly sealer?: CheckpointService,
  ) {}

  /** The CONTRACT inclusion proof of one event against the latest checkpoint of its chain. */
  async inclusionProof(posted: string): Promise<InclusionProofDocument> {
    const eventId = canonicalEventId(posted);
    const receipt = (await this.events.findReceipts([eventId])).get(eventId);
    if (!receipt) throw Problems.notFound('No event with this id.');
    const { chain, seq } = receipt;
    await this.refuseIfPurged(chain, seq + 1, `record ${seq}`);
    let cp = await this.checkpoints.latest(chain);
    if (!cp || cp.checkpoint.treeSize <= seq) cp = (await this.sealer?.seal(chain, seq + 1)) ?? null;
    if (!cp || cp.checkpoint.treeSize <= seq) throw Problems.unavailable('No checkpoint covers this event yet; retry shortly.', 2);
    const n = cp.checkpoint.treeSize;
    const prover = await this.prover(chain, n, [Math.floor(seq / MERKLE_BLOCK_LEAVES)]);
    const path = prover.inclusionProof(seq, n);
    if (!verifyInclusion(seq, n, leafHash(receipt.hash), path, Buffer.from(cp.checkpoint.rootHash, 'hex'))) {
      throw integrityError(`The inclusion proof of record ${seq} of chain ${chain} does not lead to the signed root; run verification.`);
    }
    return {
      chain,
      seq,
      recordHash: receipt.hash.toString('hex'),
      leafIndex: seq,
      auditPath: path.map((h) => h.toString('hex')),
      checkpoint: cp.checkpoint,
    };
  }

  /** Consistency proof between two checkpoints of a chain, by tree size (`toSize` defaults to the latest). */
  async consistencyProof(chain: string, fromSize: number, toSize?: number): Promise<ConsistencyProofDocument> {
    const from = await this.checkpoints.findByTreeSize(chain, fromSize);
    if (!from) throw Problems.notFound('No checkpoint of this chain has that tree size (from).');
    const to = toSize === undefined ? await this.checkpoints.latest(chain) : await this.checkpoints.findByTreeSize(chain, toSize);
    if (!to) throw Problems.notFound('No checkpoint of this chain has that tree size (to).');
    const m = from.checkpoint.treeSize;
    const n = to.checkpoint.treeSize;
    if (m > n) throw Problems.badRequest('`from` must not be larger than `to`.', [{ pointer: '/query/from', message: 'must be at most to' }]);
    await this.refuseIfPurged(chain, m, `tree size ${m}`);
    const prover = await this.prover(chain, n, m % MERKLE_BLOCK_LEAVES === 0 ? [] : [Math.floor(m / MERKLE_BLOCK_LEAVES)]);
    const proof = prover.consistencyProof(m, n);
    if (!verifyConsistency(m, n, Buffer.from(from.checkpoint.rootHash, 'hex'), Buffer.from(to.checkpoint.rootHash, 'hex'), proof)) {
      throw integrityError(`Chain ${chain}: the stored records do not prove tree size ${m} a prefix of tree size ${n}; run verification.`);
    }
    return { chain, fromSize: m, toSize: n, proof: proof.map((h) => h.toString('hex')), from: from.checkpoint, to: to.checkpoint };
  }

  /** Records before a purged prefix cannot be proven any more (their leaves are gone). */
  private async refuseIfPurged(chain: string, size: number, what: string): Promise<void> {
    const purged = await this.checkpoints.purgedPrefix(chain);
    if (purged && size <= purged.size) {
      throw new ProblemError(410, 'purged', 'Gone', { detail: `The ${what} lies in the purged (retention) prefix of this chain; it can no longer be proven.` });
    }
  }

  /** A prover for the tree of size n: stored block roots, plus the record hashes of the blocks it must cut through. */
  private async prover(chain: string, n: number, cutBlocks: number[]): Promise<MerkleProver> {
    const B = MERKLE_BLOCK_LEAVES;
    const purged = await this.checkpoints.purgedPrefix(chain);
    const firstRetained = purged?.size ?? 0;
    const whole = Math.floor(n / B);
    const roots = await this.checkpoints.blockRoots(chain, 0, whole);
    const need = new Set(cutBlocks);
    for (let b = roots.length; b < whole; b++) need.add(b); // block roots not stored: compute them
    if (n % B !== 0) need.add(whole);
    const leaves = new Map<number, Buffer>();
    for (const b of need) {
      const first = Math.max(b * B, firstRetained);
      const last = Math.min((b + 1) * B, n) - 1;
      if (last < first) continue;
      for await (const page of this.events.readChain(chain, first, last)) for (const row of page) leaves.set(row.seq, leafHash(row.hash));
    }
    const prefix = purged ? frontierFromJSON(purged.frontier) : null;
    return new MerkleProver(
      (i: number) => {
        const leaf = leaves.get(i);
        if (!leaf) throw integrityError(`Record ${i} of chain ${chain} is missing; run verification.`);
        return leaf;
      },
      prefix,
      { maxCachedNodes: 0, subtreeSource: (start, width) => (width === B && start >= firstRetained ? roots[start / B] : undefined) },
    );
  }
}

