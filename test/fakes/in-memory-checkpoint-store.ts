/**
 * Test double of the CheckpointStore port, in memory. It passes the same contract as the SQLite and
 * Elasticsearch adapters (test/contracts/checkpoint-store.contract.spec.ts), so a spec that uses it
 * instead of a real store tests against the behaviour the adapters promise.
 */
import {
  CheckpointConflictError,
  CheckpointPage,
  CheckpointPageQuery,
  CheckpointStore,
  NewCheckpoint,
  PurgedPrefix,
  StoredCheckpoint,
} from '@app/storage';

/** What several handles share (`new InMemoryCheckpointStore(sameState)`: a second sealer on the same storage). */
export class InMemoryCheckpointState {
  readonly checkpoints = new Map<string, StoredCheckpoint[]>();
  readonly blocks = new Map<string, Buffer[]>();
  readonly purged = new Map<string, PurgedPrefix>();
}

const copy = (c: StoredCheckpoint): StoredCheckpoint => structuredClone(c);

export class InMemoryCheckpointStore implements CheckpointStore {
  constructor(readonly state = new InMemoryCheckpointState()) {}

  async append(entry: NewCheckpoint): Promise<void> {
    const c = entry.checkpoint;
    const list = this.state.checkpoints.get(c.chain) ?? [];
    const prev = list[list.length - 1];
    const next = prev ? prev.index + 1 : 0;
    if (entry.index !== next) throw new CheckpointConflictError(c.chain);
    if (c.previous !== (prev ? prev.checkpointHash : null)) throw new CheckpointConflictError(c.chain);
    if (prev && c.treeSize <= prev.checkpoint.treeSize) throw new CheckpointConflictError(c.chain);
    const blocks = [...(this.state.blocks.get(c.chain) ?? [])];
    // Block roots are deterministic: one already stored must be the same root; new ones come in order.
    for (const [i, root] of entry.blockRoots.entries()) {
      const at = entry.firstBlock + i;
      if (at < blocks.length ? !blocks[at].equals(root) : at !== blocks.length) throw new CheckpointConflictError(c.chain);
      if (at === blocks.length) blocks.push(Buffer.from(root));
    }
    this.state.blocks.set(c.chain, blocks);
    list.push(copy({ index: entry.index, checkpoint: c, checkpointHash: entry.checkpointHash, frontier: entry.frontier }));
    this.state.checkpoints.set(c.chain, list);
  }

  async latest(chain: string): Promise<StoredCheckpoint | null> {
    const list = this.state.checkpoints.get(chain) ?? [];
    return list.length ? copy(list[list.length - 1]) : null;
  }

  async list(chain: string): Promise<StoredCheckpoint[]> {
    return (this.state.checkpoints.get(chain) ?? []).map(copy);
  }

  async page(q: CheckpointPageQuery): Promise<CheckpointPage> {
    const all = [...this.state.checkpoints.keys()]
      .sort()
      .filter((chain) => q.chain === undefined || chain === q.chain)
      .flatMap((chain) => this.state.checkpoints.get(chain)!)
      .filter((c) => !q.after || c.checkpoint.chain > q.after.chain || (c.checkpoint.chain === q.after.chain && c.index > q.after.index));
    const page = all.slice(0, q.limit).map(copy);
    const last = page[page.length - 1];
    return { checkpoints: page, next: all.length > q.limit && last ? { chain: last.checkpoint.chain, index: last.index } : null };
  }

  async findByTreeSize(chain: string, treeSize: number): Promise<StoredCheckpoint | null> {
    const found = (this.state.checkpoints.get(chain) ?? []).find((c) => c.checkpoint.treeSize === treeSize);
    return found ? copy(found) : null;
  }

  async latestAtOrBelow(chain: string, treeSize: number): Promise<StoredCheckpoint | null> {
    const below = (this.state.checkpoints.get(chain) ?? []).filter((c) => c.checkpoint.treeSize <= treeSize);
    return below.length ? copy(below[below.length - 1]) : null;
  }

  async blockRoots(chain: string, fromBlock: number, toBlock: number): Promise<Buffer[]> {
    return (this.state.blocks.get(chain) ?? []).slice(fromBlock, Math.max(fromBlock, toBlock)).map((b) => Buffer.from(b));
  }

  async chains(): Promise<string[]> {
    return [...this.state.checkpoints.keys()].sort();
  }

  async purgedPrefix(chain: string): Promise<PurgedPrefix | null> {
    const p = this.state.purged.get(chain);
    return p ? structuredClone(p) : null;
  }

  async recordPurgedPrefix(prefix: PurgedPrefix): Promise<void> {
    const current = this.state.purged.get(prefix.chain);
    if (current && prefix.size <= current.size) throw new Error('a purged prefix can only grow');
    this.state.purged.set(prefix.chain, structuredClone(prefix));
  }
}
