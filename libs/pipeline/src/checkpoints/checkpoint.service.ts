/**
 * Issues the signed checkpoints of every chain. It listens to the chain writer (every durable
 * group of records), feeds each chain's Merkle tree with the record hashes, and seals a checkpoint
 * every `everyRecords` records, when records have waited `intervalMs`, on demand (an inclusion
 * proof for an event no checkpoint covers yet) and on graceful shutdown. Checkpoints chain:
 * `previous` is the checkpointHash of the chain's last one.
 *
 * Crash safety: nothing here has to survive a crash. On start (and whenever a chain is first
 * touched) the state is rebuilt from the last stored checkpoint's frontier plus the records
 * stored after it, which are re-verified (hash and link) before they are ever signed; a chain
 * whose unsealed records do not verify gets no further checkpoint and an error is logged.
 * Another process sealing the same chain (auditctl export) is fenced by the store: the loser
 * reloads.
 *
 * Work per chain runs one step at a time (a promise queue), so commits, timers, on-demand seals
 * and shutdown never interleave within a chain. Logs name chains and sizes, never PHI.
 */
import {
  BlockedMerkleAccumulator,
  GENESIS_HASH,
  checkpointHash,
  frontierFromJSON,
  frontierRoot,
  frontierToJSON,
  recordHash,
  signCheckpoint,
} from '@app/ledger';
import type { KeyProvider } from '@app/security/key-provider.port';
import { CheckpointConflictError, CheckpointStore, ChainedRecord, EventStore, NewCheckpoint, StoredCheckpoint } from '@app/storage';

export interface CheckpointSettings {
  /** Seal after this many new records of a chain. */
  everyRecords: number;
  /** Seal records that have waited this long (ms) without reaching everyRecords. */
  intervalMs: number;
  /**
   * Least time (ms) between two on-demand seals of one chain (CHECKPOINT_ON_DEMAND_MIN_INTERVAL_MS):
   * checkpoints are kept forever, so a caller alternating post and proof must not mint one per
   * request. A proof arriving sooner waits, and every proof waiting on the chain shares one seal.
   */
  onDemandMinIntervalMs?: number;
}

export const DEFAULT_CHECKPOINT_EVERY_RECORDS = 10_000;
export const DEFAULT_CHECKPOINT_INTERVAL_SECONDS = 60;

export type CheckpointLog = (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, string | number | boolean | null>) => void;

export type SealReason = 'records' | 'interval' | 'on-demand' | 'shutdown' | 'resume';

interface ChainState {
  merkle: BlockedMerkleAccumulator;
  /** Hash of the last record fed (genesis for an empty chain). */
  lastHash: Buffer;
  last: StoredCheckpoint | null;
  /** Roots of blocks completed since the last checkpoint, the first with index firstPendingBlock. */
  pendingBlocks: Buffer[];
  firstPendingBlock: number;
  /** When the chain was last sealed (or loaded), epoch ms. */
  sealedAt: number;
  /** Unsealed records failed verification: sign nothing more for this chain. */
  broken: boolean;
}

export class CheckpointService {
  private readonly states = new Map<string, ChainState>();
  private readonly inbox = new Map<string, ChainedRecord[]>();
  private readonly queues = new Map<string, Promise<unknown>>();
  /** When each chain was last sealed on demand (epoch ms), for onDemandMinIntervalMs. */
  private readonly lastOnDemand = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly events: EventStore,
    private readonly checkpoints: CheckpointStore,
    private readonly keys: KeyProvider,
    private readonly settings: CheckpointSettings,
    private readonly log: CheckpointLog = () => undefined,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /** The ChainWriter commit hook: records just made durable, in sequence order per chain. */
  recordsCommitted(records: readonly ChainedRecord[]): void {
    if (this.stopped) return; // the next start resumes them from the store
    const touched = new Set<string>();
    for (const r of records) {
      let box = this.inbox.get(r.chain);
      if (!box) this.inbox.set(r.chain, (box = []));
      box.push(r);
      touched.add(r.chain);
    }
    for (const chain of touched) {
      this.enqueue(chain, () => this.absorb(chain)).catch((err: unknown) => this.log('error', 'checkpoint update failed', { chain, reason: errorName(err) }));
    }
  }

  /**
   * Starts the interval timer and, in the background (a long unsealed tail must not delay
   * start-up), loads every chain from its last checkpoint and the records after it and seals what
   * a crash left unsealed. Commits arriving meanwhile queue behind the load of their chain.
   */
  async start(): Promise<void> {
    this.stopped = false;
    const chains = new Set([...(await this.events.chains()), ...(await this.checkpoints.chains())]);
    for (const chain of chains) {
      this.enqueue(chain, async () => this.sealState(chain, await this.load(chain), 'resume')).catch((err: unknown) =>
        this.log('error', 'resuming checkpoints failed', { chain, reason: errorName(err) }),
      );
    }
    const period = Math.max(100, Math.min(this.settings.intervalMs, 1000));
    this.timer = setInterval(() => this.tick(), period);
    this.timer.unref();
  }

  /** Seals every chain with unsealed records (graceful shutdown, after the writer drained). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const chains = new Set([...this.states.keys(), ...this.inbox.keys()]);
    await Promise.all([...chains].map((chain) => this.enqueue(chain, async () => this.sealFresh(chain, 'shutdown')).catch(() => null)));
    this.stopped = true;
  }

  /**
   * Seals the chain, reloading and trying again when another process (`auditctl export`, a second
   * instance) sealed it first and this copy of the state went stale.
   */
  private async sealFresh(chain: string, reason: SealReason): Promise<StoredCheckpoint | null> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const st = await this.load(chain);
      const sealed = await this.sealState(chain, st, reason);
      if (sealed !== null || this.states.get(chain) === st) return sealed;
    }
    return null;
  }

  /**
   * A checkpoint of the chain covering at least `minTreeSize` records (sealing one now if the
   * latest does not), or null when the chain has fewer records or cannot be sealed.
   */
  async seal(chain: string, minTreeSize = 1): Promise<StoredCheckpoint | null> {
    const wait = (this.lastOnDemand.get(chain) ?? -Infinity) + (this.settings.onDemandMinIntervalMs ?? 0) - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    return this.enqueue(chain, async () => {
      for (let attempt = 0; attempt < 3; attempt++) {
        const st = await this.load(chain);
        if (st.last && st.last.checkpoint.treeSize >= minTreeSize) return st.last;
        if (st.merkle.size < minTreeSize) await this.catchUp(chain, st);
        if (st.merkle.size < minTreeSize || st.broken) return null;
        const sealed = await this.sealState(chain, st, 'on-demand');
        if (sealed) {
          this.lastOnDemand.set(chain, Date.now());
          return sealed;
        }
      }
      return null;
    });
  }

  /** Seals every chain that has unsealed records (auditctl export). */
  async sealAll(reason: SealReason = 'on-demand'): Promise<void> {
    const chains = new Set([...(await this.events.chains()), ...this.states.keys()]);
    await Promise.all([...chains].map((chain) => this.enqueue(chain, async () => this.sealState(chain, await this.load(chain), reason))));
  }

  private enqueue<T>(chain: string, step: () => Promise<T>): Promise<T> {
    const prev = this.queues.get(chain) ?? Promise.resolve();
    const run = prev.then(step, step);
    this.queues.set(
      chain,
      run.catch(() => undefined),
    );
    return run;
  }

  private tick(): void {
    const now = Date.now();
    for (const [chain, st] of this.states) {
      const sealed = st.last?.checkpoint.treeSize ?? 0;
      if (st.broken || st.merkle.size <= sealed || now - st.sealedAt < this.settings.intervalMs) continue;
      this.enqueue(chain, async () => {
        const current = this.states.get(chain);
        return current ? this.sealState(chain, current, 'interval') : null;
      }).catch((err: unknown) => this.log('error', 'interval checkpoint failed', { chain, reason: errorName(err) }));
    }
  }

  /** Feeds the records committed since the last step; seals each time everyRecords accumulate. */
  private async absorb(chain: string): Promise<void> {
    const st = await this.load(chain);
    const batch = this.inbox.get(chain) ?? [];
    this.inbox.delete(chain);
    for (const r of batch) {
      if (st.broken) return;
      if (r.seq < st.merkle.size) continue; // already read from the store while loading
      if (r.seq > st.merkle.size) await this.catchUp(chain, st, r.seq - 1);
      if (r.seq !== st.merkle.size || !r.prevHash.equals(st.lastHash)) {
        // Not the record the tree expects next: another writer, or the store changed under us.
        this.log('warn', 'chain moved unexpectedly; reloading its checkpoint state', { chain, seq: r.seq });
        if (this.states.get(chain) === st) this.states.delete(chain);
        return;
      }
      const sealing = this.feed(chain, st, r.hash);
      if (sealing) await sealing;
    }
  }

  /** Runs for every committed record: no promise of its own unless a checkpoint is due. */
  private feed(chain: string, st: ChainState, hash: Buffer): Promise<unknown> | undefined {
    const blockRoot = st.merkle.appendRecordHash(hash);
    if (blockRoot) st.pendingBlocks.push(blockRoot);
    st.lastHash = hash;
    if (st.merkle.size - (st.last?.checkpoint.treeSize ?? 0) >= this.settings.everyRecords) return this.sealState(chain, st, 'records');
    return undefined;
  }

  /** The chain's state: from memory, or rebuilt from its last checkpoint and the records after it. */
  private async load(chain: string): Promise<ChainState> {
    const known = this.states.get(chain);
    if (known) return known;
    const last = await this.checkpoints.latest(chain);
    let merkle = new BlockedMerkleAccumulator();
    let lastHash = GENESIS_HASH;
    let broken = false;
    if (last) {
      try {
        const frontier = frontierFromJSON(last.frontier);
        if (frontier.size !== last.checkpoint.treeSize || frontierRoot(frontier).toString('hex') !== last.checkpoint.rootHash) throw new Error('frontier mismatch');
        merkle = new BlockedMerkleAccumulator(frontier);
        lastHash = Buffer.from(last.checkpoint.lastHash, 'hex');
      } catch {
        broken = true;
        this.log('error', 'the stored frontier of the last checkpoint does not match it; no further checkpoints for this chain', { chain, treeSize: last.checkpoint.treeSize });
      }
    }
    const st: ChainState = {
      merkle,
      lastHash,
      last,
      pendingBlocks: [],
      firstPendingBlock: merkle.completeBlocks,
      sealedAt: Date.now(),
      broken,
    };
    this.states.set(chain, st);
    if (!broken) await this.catchUp(chain, st);
    return st;
  }

  /** Reads stored records after the tree's size (up to toSeq), re-verifying each before it is fed. */
  private async catchUp(chain: string, st: ChainState, toSeq?: number): Promise<void> {
    if (st.broken) return;
    for await (const page of this.events.readChain(chain, st.merkle.size, toSeq)) {
      for (const row of page) {
        if (st.broken) return;
        const expected = st.merkle.size;
        if (row.seq !== expected || !row.prevHash.equals(st.lastHash) || !recordHash(row.prevHash, chain, row.seq, row.receivedAt, row.eventJson).equals(row.hash)) {
          st.broken = true;
          this.log('error', 'unsealed records do not verify; no further checkpoints for this chain until it is repaired (run auditctl verify)', { chain, seq: expected });
          return;
        }
        const sealing = this.feed(chain, st, row.hash);
        if (sealing) await sealing;
      }
    }
  }

  /** Signs and stores a checkpoint of everything fed so far; the latest checkpoint when nothing is new. */
  private async sealState(chain: string, st: ChainState, reason: SealReason): Promise<StoredCheckpoint | null> {
    const sealedSize = st.last?.checkpoint.treeSize ?? 0;
    if (st.broken || st.merkle.size === sealedSize) return st.last;
    const key = this.keys.signingKey();
    const checkpoint = signCheckpoint(
      {
        chain,
        treeSize: st.merkle.size,
        rootHash: st.merkle.root().toString('hex'),
        lastHash: st.lastHash.toString('hex'),
        issuedAt: this.clock().toISOString(),
        previous: st.last?.checkpointHash ?? null,
      },
      key.privateKey,
      key.keyId,
    );
    const entry: NewCheckpoint = {
      index: (st.last?.index ?? -1) + 1,
      checkpoint,
      checkpointHash: checkpointHash(checkpoint),
      frontier: frontierToJSON(st.merkle.frontier()),
      blockRoots: st.pendingBlocks,
      firstBlock: st.firstPendingBlock,
    };
    try {
      await this.checkpoints.append(entry);
    } catch (err) {
      if (err instanceof CheckpointConflictError) {
        this.log('warn', 'another process sealed this chain first; reloading', { chain });
        if (this.states.get(chain) === st) this.states.delete(chain);
        st.broken = true; // this copy of the state is stale: the next step reloads a fresh one
        return null;
      }
      throw err;
    }
    const stored: StoredCheckpoint = { index: entry.index, checkpoint, checkpointHash: entry.checkpointHash, frontier: entry.frontier };
    st.last = stored;
    st.pendingBlocks = [];
    st.firstPendingBlock = st.merkle.completeBlocks;
    st.sealedAt = Date.now();
    this.log('info', 'checkpoint issued', { chain, treeSize: checkpoint.treeSize, index: entry.index, keyId: checkpoint.keyId, reason });
    return stored;
  }
}

function errorName(err: unknown): string {
  return err instanceof Error ? err.constructor.name : 'unknown';
}
