/**
 * Elasticsearch adapter of the CheckpointStore port (STORE=elasticsearch): signed checkpoints,
 * Merkle block roots and purged prefixes in three small indices with explicit mappings
 * (es-schema.ts), so proofs, checkpoint listings and verification work in scale-out mode.
 *
 * Append-only, like the embedded store's triggers:
 *   - a checkpoint is created with op_type=create on `_id` = `chain:index`: of two sealers racing
 *     for a chain's next checkpoint exactly one wins, the other gets CheckpointConflictError and
 *     reloads. Before creating it, the previous checkpoint is read realtime (mget) and must be the
 *     one `previous` names, with a smaller tree;
 *   - block roots are created once on `chain:block`. They are deterministic (the Merkle root of
 *     a fixed block of the one chain), so a 409 with the same root is a replay and fine; another
 *     root is a conflict. They are written before their checkpoint, so a checkpoint never refers to
 *     block roots that are not stored;
 *   - a purged prefix only grows: moved with if_seq_no/if_primary_term from the version read.
 * Writes use refresh=wait_for, so every instance's searches see a checkpoint once it is acknowledged.
 * Nothing here holds PHI.
 */
import { Client } from '@elastic/elasticsearch';
import type { Checkpoint } from '@app/ledger';
import {
  CheckpointConflictError,
  CheckpointPage,
  CheckpointPageQuery,
  CheckpointStore,
  NewCheckpoint,
  PurgedPrefix,
  StoredCheckpoint,
} from '../checkpoint-store.port';
import { StoreUnavailableError } from '../event-store.port';
import { EsBulkOp, EsRequestOptions, EsRequests } from './es-requests';

export interface ElasticsearchCheckpointIndices {
  checkpointsIndex: string;
  blocksIndex: string;
  purgedIndex: string;
}

interface CheckpointDoc {
  chain: string;
  index: number;
  treeSize: number;
  rootHash: string;
  lastHash: string;
  issuedAt: string;
  previous: string | null;
  keyId: string;
  signature: string;
  checkpointHash: string;
  frontier: string[];
}

interface BlockDoc {
  chain: string;
  block: number;
  root: string;
}

interface PurgedDoc {
  chain: string;
  size: number;
  lastHash: string;
  frontier: string[];
  checkpointIndex: number;
  purgedAt: string;
}

const PAGE = 1000;

export class ElasticsearchCheckpointStore implements CheckpointStore {
  private readonly es: EsRequests;

  constructor(
    client: Client,
    private readonly indices: ElasticsearchCheckpointIndices,
    options: EsRequestOptions = {},
  ) {
    this.es = new EsRequests(client, options);
  }

  async append(entry: NewCheckpoint): Promise<void> {
    const c = entry.checkpoint;
    if (entry.index > 0) {
      const prev = (await this.es.mget<CheckpointDoc>(this.indices.checkpointsIndex, [checkpointId(c.chain, entry.index - 1)])).get(checkpointId(c.chain, entry.index - 1));
      if (!prev || prev.source.checkpointHash !== c.previous || prev.source.treeSize >= c.treeSize) throw new CheckpointConflictError(c.chain);
    } else if (c.previous !== null) {
      throw new CheckpointConflictError(c.chain);
    }
    if (entry.blockRoots.length > 0) {
      const blocks = entry.blockRoots.map((root, i): BlockDoc => ({ chain: c.chain, block: entry.firstBlock + i, root: root.toString('hex') }));
      const items = await this.es.bulk(blocks.map((b) => ({ action: { create: { _index: this.indices.blocksIndex, _id: blockId(b.chain, b.block) } }, doc: b })));
      const taken = blocks.filter((_, i) => items[i].status === 409);
      items.forEach((item) => {
        if (item.status !== 409 && (item.status < 200 || item.status >= 300)) throw new StoreUnavailableError(`Merkle block write failed: ${item.error?.type ?? item.status}`);
      });
      if (taken.length > 0) {
        const stored = await this.es.mget<BlockDoc>(this.indices.blocksIndex, taken.map((b) => blockId(b.chain, b.block)));
        if (taken.some((b) => stored.get(blockId(b.chain, b.block))?.source.root !== b.root)) throw new CheckpointConflictError(c.chain);
      }
    }
    const doc: CheckpointDoc = {
      chain: c.chain,
      index: entry.index,
      treeSize: c.treeSize,
      rootHash: c.rootHash,
      lastHash: c.lastHash,
      issuedAt: c.issuedAt,
      previous: c.previous,
      keyId: c.keyId,
      signature: c.signature,
      checkpointHash: entry.checkpointHash,
      frontier: entry.frontier.hashes,
    };
    const [item] = await this.es.bulk([{ action: { create: { _index: this.indices.checkpointsIndex, _id: checkpointId(c.chain, entry.index) } }, doc }]);
    if (item.status === 409) throw new CheckpointConflictError(c.chain);
    if (item.status < 200 || item.status >= 300) throw new StoreUnavailableError(`checkpoint write failed: ${item.error?.type ?? item.status}`);
  }

  async latest(chain: string): Promise<StoredCheckpoint | null> {
    return this.one({ query: { term: { chain } }, sort: [{ index: { order: 'desc' } }] });
  }

  async list(chain: string): Promise<StoredCheckpoint[]> {
    const out: StoredCheckpoint[] = [];
    let after: unknown[] | undefined;
    for (;;) {
      const hits = await this.es.search<CheckpointDoc>(this.indices.checkpointsIndex, {
        size: PAGE,
        query: { term: { chain } },
        sort: [{ index: { order: 'asc' } }],
        ...(after ? { search_after: after } : {}),
      });
      out.push(...hits.map((h) => toStored(h.source)));
      if (hits.length < PAGE) return out;
      after = hits[hits.length - 1].sort;
    }
  }

  async page(q: CheckpointPageQuery): Promise<CheckpointPage> {
    const hits = await this.es.search<CheckpointDoc>(this.indices.checkpointsIndex, {
      size: q.limit + 1,
      query: q.chain !== undefined ? { term: { chain: q.chain } } : { match_all: {} },
      sort: [{ chain: { order: 'asc' } }, { index: { order: 'asc' } }],
      ...(q.after ? { search_after: [q.after.chain, q.after.index] } : {}),
    });
    const page = hits.slice(0, q.limit).map((h) => toStored(h.source));
    const last = page[page.length - 1];
    return { checkpoints: page, next: hits.length > q.limit && last ? { chain: last.checkpoint.chain, index: last.index } : null };
  }

  async findByTreeSize(chain: string, treeSize: number): Promise<StoredCheckpoint | null> {
    return this.one({ query: { bool: { filter: [{ term: { chain } }, { term: { treeSize } }] } } });
  }

  async latestAtOrBelow(chain: string, treeSize: number): Promise<StoredCheckpoint | null> {
    return this.one({ query: { bool: { filter: [{ term: { chain } }, { range: { treeSize: { lte: treeSize } } }] } }, sort: [{ treeSize: { order: 'desc' } }] });
  }

  async blockRoots(chain: string, fromBlock: number, toBlock: number): Promise<Buffer[]> {
    const out: Buffer[] = [];
    while (fromBlock + out.length < toBlock) {
      const from = fromBlock + out.length;
      const size = Math.min(PAGE, toBlock - from);
      const hits = await this.es.search<BlockDoc>(this.indices.blocksIndex, {
        size,
        query: { bool: { filter: [{ term: { chain } }, { range: { block: { gte: from, lt: toBlock } } }] } },
        sort: [{ block: { order: 'asc' } }],
      });
      for (const h of hits) {
        if (h.source.block !== fromBlock + out.length) return out; // stop at a gap: callers need a contiguous run
        out.push(Buffer.from(h.source.root, 'hex'));
      }
      if (hits.length < size) return out;
    }
    return out;
  }

  /** Every chain with a checkpoint has its first one (index 0): list those. */
  async chains(): Promise<string[]> {
    const out: string[] = [];
    let after: unknown[] | undefined;
    for (;;) {
      const hits = await this.es.search<CheckpointDoc>(this.indices.checkpointsIndex, {
        size: PAGE,
        query: { term: { index: 0 } },
        sort: [{ chain: { order: 'asc' } }],
        _source: ['chain'],
        ...(after ? { search_after: after } : {}),
      });
      out.push(...hits.map((h) => h.source.chain));
      if (hits.length < PAGE) return out;
      after = hits[hits.length - 1].sort;
    }
  }

  async purgedPrefix(chain: string): Promise<PurgedPrefix | null> {
    const doc = (await this.es.mget<PurgedDoc>(this.indices.purgedIndex, [chain])).get(chain);
    return doc ? toPurged(doc.source) : null;
  }

  async recordPurgedPrefix(p: PurgedPrefix): Promise<void> {
    const doc: PurgedDoc = { chain: p.chain, size: p.size, lastHash: p.lastHash, frontier: p.frontier.hashes, checkpointIndex: p.checkpointIndex, purgedAt: p.purgedAt };
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = (await this.es.mget<PurgedDoc>(this.indices.purgedIndex, [p.chain])).get(p.chain);
      if (current && p.size <= current.source.size) throw new Error('a purged prefix can only grow');
      const action: EsBulkOp['action'] = current
        ? { index: { _index: this.indices.purgedIndex, _id: p.chain, if_seq_no: current.seqNo, if_primary_term: current.primaryTerm } }
        : { create: { _index: this.indices.purgedIndex, _id: p.chain } };
      const [item] = await this.es.bulk([{ action, doc }]);
      if (item.status >= 200 && item.status < 300) return;
      if (item.status !== 409) throw new StoreUnavailableError(`purged prefix write failed: ${item.error?.type ?? item.status}`);
      // Another purge moved it meanwhile: read it again (it may now be at or past this size).
    }
    throw new StoreUnavailableError('purged prefix kept changing under this write');
  }

  private async one(body: Record<string, unknown>): Promise<StoredCheckpoint | null> {
    const [hit] = await this.es.search<CheckpointDoc>(this.indices.checkpointsIndex, { size: 1, ...body });
    return hit ? toStored(hit.source) : null;
  }
}

export function checkpointId(chain: string, index: number): string {
  return `${chain}:${index}`;
}

export function blockId(chain: string, block: number): string {
  return `${chain}:${block}`;
}

function toStored(d: CheckpointDoc): StoredCheckpoint {
  const checkpoint: Checkpoint = {
    chain: d.chain,
    treeSize: d.treeSize,
    rootHash: d.rootHash,
    lastHash: d.lastHash,
    issuedAt: d.issuedAt,
    previous: d.previous ?? null,
    keyId: d.keyId,
    signature: d.signature,
  };
  return { index: d.index, checkpoint, checkpointHash: d.checkpointHash, frontier: { size: d.treeSize, hashes: Array.isArray(d.frontier) ? d.frontier : [] } };
}

function toPurged(d: PurgedDoc): PurgedPrefix {
  return { chain: d.chain, size: d.size, lastHash: d.lastHash, frontier: { size: d.size, hashes: d.frontier ?? [] }, checkpointIndex: d.checkpointIndex, purgedAt: d.purgedAt };
}
