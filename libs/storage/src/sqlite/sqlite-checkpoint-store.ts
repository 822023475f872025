/**
 * Embedded CheckpointStore adapter on SQLite: the checkpoints, Merkle block roots and purged
 * prefixes live in the event database (one file to back up), written in their own fsync'd
 * transactions. It declares its tables itself (CREATE IF NOT EXISTS) on a writable connection,
 * so it can be added to any database the event store opened.
 */
import type Database from 'better-sqlite3';
import type { Checkpoint, FrontierJSON } from '@app/ledger';
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
import { CHECKPOINT_SCHEMA_SQL } from './sqlite-checkpoint-schema';
import { SqliteDb, writeWhenFree } from './sqlite-database';

interface CheckpointRow {
  chain: string;
  idx: number;
  tree_size: number;
  root_hash: string;
  last_hash: string;
  issued_at: string;
  previous: string | null;
  key_id: string;
  signature: string;
  checkpoint_hash: string;
  frontier: string;
}

const COLUMNS = 'chain, idx, tree_size, root_hash, last_hash, issued_at, previous, key_id, signature, checkpoint_hash, frontier';

/** True when the database has the checkpoint tables (an older or read-only database may not). */
function hasCheckpointTables(db: SqliteDb): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'checkpoints'").get() !== undefined;
}

export class SqliteCheckpointStore implements CheckpointStore {
  private readonly enabled: boolean;
  private readonly appendTx?: Database.Transaction<(entry: NewCheckpoint) => void>;

  constructor(private readonly db: SqliteDb) {
    if (!db.readonly) db.exec(CHECKPOINT_SCHEMA_SQL);
    this.enabled = hasCheckpointTables(db);
    if (!this.enabled || db.readonly) return;
    const insertCheckpoint = db.prepare(`INSERT INTO checkpoints (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    const insertBlock = db.prepare('INSERT INTO merkle_blocks (chain, block, root) VALUES (?, ?, ?)');
    this.appendTx = db.transaction((e: NewCheckpoint) => {
      const c = e.checkpoint;
      e.blockRoots.forEach((root, i) => insertBlock.run(c.chain, e.firstBlock + i, root));
      insertCheckpoint.run(c.chain, e.index, c.treeSize, c.rootHash, c.lastHash, c.issuedAt, c.previous, c.keyId, c.signature, e.checkpointHash, JSON.stringify(e.frontier.hashes));
    });
  }

  async append(entry: NewCheckpoint): Promise<void> {
    if (!this.appendTx) throw new StoreUnavailableError('the checkpoint store is read-only');
    const appendTx = this.appendTx;
    try {
      // The writer thread commits on its own connection: wait for its lock without holding the event loop.
      await writeWhenFree(this.db, () => appendTx.immediate(entry));
    } catch (err) {
      const e = err as { code?: string; message?: string };
      if (/checkpoint conflict/.test(e.message ?? '') || e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || e.code === 'SQLITE_CONSTRAINT_UNIQUE') {
        throw new CheckpointConflictError(entry.checkpoint.chain);
      }
      throw new StoreUnavailableError(`checkpoint append failed: ${e.code ?? 'unknown error'}`);
    }
  }

  async latest(chain: string): Promise<StoredCheckpoint | null> {
    return this.one(`SELECT ${COLUMNS} FROM checkpoints WHERE chain = ? ORDER BY idx DESC LIMIT 1`, chain);
  }

  async list(chain: string): Promise<StoredCheckpoint[]> {
    if (!this.enabled) return [];
    return (this.db.prepare(`SELECT ${COLUMNS} FROM checkpoints WHERE chain = ? ORDER BY idx`).all(chain) as CheckpointRow[]).map(toStored);
  }

  async page(q: CheckpointPageQuery): Promise<CheckpointPage> {
    if (!this.enabled) return { checkpoints: [], next: null };
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (q.chain !== undefined) (where.push('chain = ?'), params.push(q.chain));
    if (q.after) (where.push('(chain > ? OR (chain = ? AND idx > ?))'), params.push(q.after.chain, q.after.chain, q.after.index));
    const sql = `SELECT ${COLUMNS} FROM checkpoints${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY chain, idx LIMIT ?`;
    params.push(q.limit + 1);
    const rows = this.db.prepare(sql).all(...params) as CheckpointRow[];
    const page = rows.slice(0, q.limit).map(toStored);
    const last = page[page.length - 1];
    return { checkpoints: page, next: rows.length > q.limit && last ? { chain: last.checkpoint.chain, index: last.index } : null };
  }

  async findByTreeSize(chain: string, treeSize: number): Promise<StoredCheckpoint | null> {
    return this.one(`SELECT ${COLUMNS} FROM checkpoints WHERE chain = ? AND tree_size = ?`, chain, treeSize);
  }

  async latestAtOrBelow(chain: string, treeSize: number): Promise<StoredCheckpoint | null> {
    return this.one(`SELECT ${COLUMNS} FROM checkpoints WHERE chain = ? AND tree_size <= ? ORDER BY tree_size DESC LIMIT 1`, chain, treeSize);
  }

  async blockRoots(chain: string, fromBlock: number, toBlock: number): Promise<Buffer[]> {
    if (!this.enabled || toBlock <= fromBlock) return [];
    const rows = this.db.prepare('SELECT block, root FROM merkle_blocks WHERE chain = ? AND block >= ? AND block < ? ORDER BY block').all(chain, fromBlock, toBlock) as {
      block: number;
      root: Buffer;
    }[];
    const out: Buffer[] = [];
    for (const r of rows) {
      if (r.block !== fromBlock + out.length) break; // stop at a gap: callers need a contiguous run
      out.push(r.root);
    }
    return out;
  }

  async chains(): Promise<string[]> {
    if (!this.enabled) return [];
    return (this.db.prepare('SELECT DISTINCT chain FROM checkpoints ORDER BY chain').all() as { chain: string }[]).map((r) => r.chain);
  }

  async purgedPrefix(chain: string): Promise<PurgedPrefix | null> {
    if (!this.enabled) return null;
    const r = this.db.prepare('SELECT chain, size, last_hash, frontier, checkpoint_idx, purged_at FROM purged_prefixes WHERE chain = ?').get(chain) as
      | { chain: string; size: number; last_hash: string; frontier: string; checkpoint_idx: number; purged_at: string }
      | undefined;
    if (!r) return null;
    return {
      chain: r.chain,
      size: r.size,
      lastHash: r.last_hash,
      frontier: { size: r.size, hashes: JSON.parse(r.frontier) as string[] },
      checkpointIndex: r.checkpoint_idx,
      purgedAt: r.purged_at,
    };
  }

  async recordPurgedPrefix(p: PurgedPrefix): Promise<void> {
    if (!this.appendTx) throw new StoreUnavailableError('the checkpoint store is read-only');
    // The trigger refuses a shrinking prefix too; checking here as well names the error the same way
    // whatever the connection's trigger state.
    const current = this.db.prepare('SELECT size FROM purged_prefixes WHERE chain = ?').get(p.chain) as { size: number } | undefined;
    if (current && p.size <= current.size) throw new Error('a purged prefix can only grow');
    this.db
      .prepare(
        `INSERT INTO purged_prefixes (chain, size, last_hash, frontier, checkpoint_idx, purged_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (chain) DO UPDATE SET size = excluded.size, last_hash = excluded.last_hash, frontier = excluded.frontier,
           checkpoint_idx = excluded.checkpoint_idx, purged_at = excluded.purged_at`,
      )
      .run(p.chain, p.size, p.lastHash, JSON.stringify(p.frontier.hashes), p.checkpointIndex, p.purgedAt);
  }

  private one(sql: string, ...params: (string | number)[]): StoredCheckpoint | null {
    if (!this.enabled) return null;
    const row = this.db.prepare(sql).get(...params) as CheckpointRow | undefined;
    return row ? toStored(row) : null;
  }
}

function parseFrontier(size: number, text: string): FrontierJSON {
  try {
    const hashes = JSON.parse(text) as unknown;
    return { size, hashes: Array.isArray(hashes) ? hashes.filter((h): h is string => typeof h === 'string') : [] };
  } catch {
    return { size, hashes: [] }; // a damaged frontier is only a lost shortcut; verification checks it before use
  }
}

function toStored(r: CheckpointRow): StoredCheckpoint {
  const checkpoint: Checkpoint = {
    chain: r.chain,
    treeSize: r.tree_size,
    rootHash: r.root_hash,
    lastHash: r.last_hash,
    issuedAt: r.issued_at,
    previous: r.previous,
    keyId: r.key_id,
    signature: r.signature,
  };
  return { index: r.idx, checkpoint, checkpointHash: r.checkpoint_hash, frontier: parseFrontier(r.tree_size, r.frontier) };
}
