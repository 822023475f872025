/**
 * The Merkle state a chain writer keeps: the RFC 9162 tree over a chain's record hashes, cut into
 * fixed blocks of MERKLE_BLOCK_LEAVES leaves whose roots are kept (in storage, next to the
 * checkpoints). With the block roots, a proof over a tree of millions of leaves needs the leaves
 * of at most two blocks: the prover takes every whole aligned block from its stored root.
 *
 * Why the split is exact: for every tree size n > B (B = the block size, a power of two), the
 * RFC 9162 split point (largest power of two below n) is a multiple of B, so the tree over n
 * leaves is the RFC tree over the block roots with the last, possibly partial, block's root as
 * its last "leaf". Hence the frontier of size n is the frontier of the block roots (subtrees of
 * B leaves or more) followed by the frontier inside the partial block, and the accumulator here
 * hashes every leaf exactly once, like MerkleAccumulator.
 *
 * Pure: no I/O.
 */
import { Frontier, MerkleAccumulator, frontierRoot } from './merkle';

/** Leaves per stored block root (2^10). */
export const MERKLE_BLOCK_LEAVES = 1024;

function bitCount(n: number): number {
  let c = 0;
  for (let v = n; v > 0; v = Math.floor(v / 2)) c += v % 2;
  return c;
}

export class BlockedMerkleAccumulator {
  /** Tree over the roots of the complete blocks (each root taken as an already-hashed leaf). */
  private readonly blocks: MerkleAccumulator;
  /** Tree over the leaves of the current, incomplete block. */
  private partial: MerkleAccumulator;

  /** Resumes from the frontier of a tree of any size (e.g. the one stored with a checkpoint). */
  constructor(frontier?: Frontier) {
    if (!frontier || frontier.size === 0) {
      this.blocks = new MerkleAccumulator();
      this.partial = new MerkleAccumulator();
      return;
    }
    const whole = Math.floor(frontier.size / MERKLE_BLOCK_LEAVES);
    const rest = frontier.size % MERKLE_BLOCK_LEAVES;
    const upper = bitCount(whole);
    if (frontier.hashes.length !== upper + bitCount(rest)) throw new RangeError(`a frontier of size ${frontier.size} has ${upper + bitCount(rest)} subtree hashes`);
    this.blocks = new MerkleAccumulator({ size: whole, hashes: frontier.hashes.slice(0, upper) });
    this.partial = new MerkleAccumulator({ size: rest, hashes: frontier.hashes.slice(upper) });
  }

  /** Leaves appended so far, including those the starting frontier covers. */
  get size(): number {
    return this.blocks.size * MERKLE_BLOCK_LEAVES + this.partial.size;
  }

  /** Number of complete blocks (the index the next completed block will get). */
  get completeBlocks(): number {
    return this.blocks.size;
  }

  /**
   * Appends the leaf of one record hash. Returns the root of the block this leaf completes, or
   * null while the block is still open.
   */
  appendRecordHash(recordHash: Uint8Array): Buffer | null {
    this.partial.appendRecordHash(recordHash);
    if (this.partial.size < MERKLE_BLOCK_LEAVES) return null;
    const root = this.partial.root();
    this.blocks.appendLeafHash(root);
    this.partial = new MerkleAccumulator();
    return root;
  }

  frontier(): Frontier {
    const upper = this.blocks.frontier();
    const lower = this.partial.frontier();
    return { size: this.size, hashes: [...upper.hashes, ...lower.hashes] };
  }

  /** RFC 9162 tree head at the current size. */
  root(): Buffer {
    return frontierRoot(this.frontier());
  }
}
