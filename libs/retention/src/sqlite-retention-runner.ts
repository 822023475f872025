/**
 * Retention enforcement on the embedded store: plans each chain with the pure planner
 * (retention-plan.ts; legal holds through LegalHoldStore.coverage) and applies the plan, one chain
 * per transaction: the purged-prefix frontier and last hash (purged_prefixes, the checkpoint
 * store's table) so verification starts at the first retained record, the audit row of what was
 * deleted (retention_run_chains: counts, seq and receive-time ranges, checkpoint; never PHI),
 * then the DELETE itself through the one narrow exception to the events' immutability trigger:
 * only records of a chain below an authorization row written in the same transaction, and only
 * inside that chain's recorded purged prefix.
 *
 * Crash-safe and resumable: a chain is either purged with its records or untouched; a rerun
 * re-plans from the recorded prefix and reaches the same result. Runs are recorded in
 * retention_runs (a run killed mid-way stays `running` and is marked `interrupted` by the next).
 * A purge ends exactly at a signed checkpoint (clampToCheckpoint): records not yet sealed wait.
 * Warm/cold tiers are not implemented here: records stay hot until deleted.
 */
import { randomUUID } from 'node:crypto';
import { FrontierJSON, MerkleAccumulator, frontierFromJSON } from '@app/ledger';
import { CHECKPOINT_SCHEMA_SQL, type SqliteDb } from '@app/storage';
import { LegalHoldStore } from './legal-hold-store.port';
import { ChainPurgePlan, PlannedRecord, RetentionPlan, planChainPurge } from './retention-plan';
import { RetentionPolicy } from './retention-policy';

export const RETENTION_RUN_SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS retention_purge_authorizations (
  chain     TEXT PRIMARY KEY,
  below_seq INTEGER NOT NULL,
  run_id    TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS retention_runs (
  id          TEXT PRIMARY KEY,
  started_at  TEXT NOT NULL,
  finished_at TEXT,
  now         TEXT NOT NULL,
  trigger     TEXT NOT NULL,
  status      TEXT NOT NULL,
  deleted     INTEGER NOT NULL DEFAULT 0,
  summary     TEXT
);

CREATE TABLE IF NOT EXISTS retention_run_chains (
  run_id            TEXT NOT NULL,
  chain             TEXT NOT NULL,
  from_seq          INTEGER NOT NULL,
  to_seq            INTEGER NOT NULL,
  deleted           INTEGER NOT NULL,
  first_received_at TEXT,
  last_received_at  TEXT,
  last_hash         TEXT NOT NULL,
  checkpoint_idx    INTEGER NOT NULL,
  kept_because      TEXT NOT NULL,
  purged_at         TEXT NOT NULL,
  PRIMARY KEY (run_id, chain)
);

CREATE TRIGGER IF NOT EXISTS retention_run_chains_immutable BEFORE UPDATE ON retention_run_chains
BEGIN SELECT RAISE(ABORT, 'retention audit records are immutable'); END;
CREATE TRIGGER IF NOT EXISTS retention_run_chains_never_deleted BEFORE DELETE ON retention_run_chains
BEGIN SELECT RAISE(ABORT, 'retention audit records cannot be deleted'); END;
CREATE TRIGGER IF NOT EXISTS retention_runs_never_deleted BEFORE DELETE ON retention_runs
BEGIN SELECT RAISE(ABORT, 'retention runs cannot be deleted'); END;
`;

/** The events' delete trigger with its one exception: an authorized purge of a recorded prefix. */
const PURGE_AWARE_DELETE_TRIGGER = `
DROP TRIGGER IF EXISTS events_are_never_deleted;
CREATE TRIGGER events_are_never_deleted BEFORE DELETE ON events
WHEN NOT EXISTS (
  SELECT 1 FROM retention_purge_authorizations a JOIN purged_prefixes p ON p.chain = a.chain
  WHERE a.chain = OLD.chain AND OLD.seq < a.below_seq AND OLD.seq < p.size
)
BEGIN SELECT RAISE(ABORT, 'audit events cannot be deleted'); END;
`;

/** Creates the retention tables and installs the purge-aware delete trigger (idempotent). */
export function applyRetentionSchema(db: SqliteDb): void {
  db.exec(CHECKPOINT_SCHEMA_SQL);
  db.exec(RETENTION_RUN_SCHEMA_SQL);
  const row = db.prepare("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'events_are_never_deleted'").get() as { sql: string } | undefined;
  if (!row || !row.sql.includes('retention_purge_authorizations')) db.transaction(() => db.exec(PURGE_AWARE_DELETE_TRIGGER))();
}

export interface RetentionRunOptions {
  /** Epoch ms the run acts at. */
  now: number;
  dryRun: boolean;
  /** Who started it: `cli` or `schedule`. */
  trigger: string;
  /** Called after each chain's purge is committed (progress; crash tests). */
  onChainPurged?: (chain: RetentionRunChain) => void;
}

export interface RetentionRunChain extends ChainPurgePlan {
  /** Hash of the last purged record (the first retained record links to it); null when nothing was purged. */
  lastHash: string | null;
  /** Latest checkpoint at or below the new purged size (-1: none). */
  checkpointIndex: number | null;
  /** Records of the chain held by legal holds in the window (counted, never named). */
  heldRecords: number;
}

export interface RetentionRunReport {
  runId: string | null;
  dryRun: boolean;
  now: string;
  startedAt: string;
  finishedAt: string;
  deleted: number;
  chains: RetentionRunChain[];
}

interface PurgedRow {
  size: number;
  last_hash: string;
  frontier: string;
}

export class SqliteRetentionRunner {
  constructor(
    private readonly db: SqliteDb,
    private readonly policy: RetentionPolicy,
    private readonly holds: LegalHoldStore,
  ) {
    applyRetentionSchema(db);
  }

  /** The plan at `now` (reads only). */
  async plan(now: number): Promise<{ plan: RetentionPlan; held: Map<string, number> }> {
    const heads = this.db.prepare('SELECT chain, seq FROM chain_heads ORDER BY chain').all() as { chain: string; seq: number }[];
    const held = new Map<string, number>();
    const chains: ChainPurgePlan[] = [];
    for (const h of heads) {
      const purgedSize = this.purged(h.chain)?.size ?? 0;
      const input = { chain: h.chain, category: h.chain, headSeq: h.seq, purgedSize };
      // Pass 1: how far the window alone reaches. Pass 2: stop at the first held record in it.
      const byAge = planChainPurge({ ...input, records: this.records(h.chain, purgedSize) }, this.policy, now, () => false);
      let plan = byAge;
      held.set(h.chain, 0);
      if (byAge.count > 0) {
        const cover = await this.holds.coverage(h.chain, byAge.fromSeq, byAge.toSeq - 1);
        held.set(h.chain, cover.heldRecords);
        if (cover.firstHeldSeq !== null) {
          const first = cover.firstHeldSeq;
          plan = planChainPurge({ ...input, records: this.records(h.chain, purgedSize, (seq) => seq === first) }, this.policy, now, (r) => r.held === true);
        }
      }
      chains.push(this.clampToCheckpoint(plan));
    }
    return { plan: { now: new Date(now).toISOString(), chains, total: chains.reduce((s, c) => s + c.count, 0) }, held };
  }

  /** Plans and (unless dry-run) applies retention; returns the audit record of the run. */
  async run(options: RetentionRunOptions): Promise<RetentionRunReport> {
    const startedAt = new Date().toISOString();
    const { plan, held } = await this.plan(options.now);
    let runId: string | null = null;
    if (!options.dryRun) {
      runId = randomUUID();
      this.db.prepare("UPDATE retention_runs SET status = 'interrupted' WHERE status = 'running'").run();
      this.db
        .prepare("INSERT INTO retention_runs (id, started_at, now, trigger, status) VALUES (?, ?, ?, ?, 'running')")
        .run(runId, startedAt, plan.now, options.trigger);
    }
    const chains: RetentionRunChain[] = [];
    let deleted = 0;
    for (const p of plan.chains) {
      const out: RetentionRunChain = { ...p, lastHash: null, checkpointIndex: null, heldRecords: held.get(p.chain) ?? 0 };
      if (p.count > 0) {
        const applied = options.dryRun ? this.describe(p) : this.purgeChain(runId!, p);
        out.lastHash = applied.lastHash;
        out.checkpointIndex = applied.checkpointIndex;
        if (!options.dryRun) deleted += applied.deleted;
        if (!options.dryRun && applied.deleted !== p.count) out.count = applied.deleted;
        if (!options.dryRun) options.onChainPurged?.(out);
      }
      chains.push(out);
    }
    const finishedAt = new Date().toISOString();
    const report: RetentionRunReport = { runId, dryRun: options.dryRun, now: plan.now, startedAt, finishedAt, deleted, chains };
    if (runId) {
      this.db
        .prepare("UPDATE retention_runs SET status = 'completed', finished_at = ?, deleted = ?, summary = ? WHERE id = ?")
        .run(finishedAt, deleted, JSON.stringify(report), runId);
    }
    return report;
  }

  /** Recorded runs, newest first (the audit trail; no PHI). */
  runs(limit = 20): { id: string; startedAt: string; finishedAt: string | null; now: string; trigger: string; status: string; deleted: number }[] {
    return (
      this.db.prepare('SELECT id, started_at, finished_at, now, trigger, status, deleted FROM retention_runs ORDER BY started_at DESC LIMIT ?').all(limit) as {
        id: string;
        started_at: string;
        finished_at: string | null;
        now: string;
        trigger: string;
        status: string;
        deleted: number;
      }[]
    ).map((r) => ({ id: r.id, startedAt: r.started_at, finishedAt: r.finished_at, now: r.now, trigger: r.trigger, status: r.status, deleted: r.deleted }));
  }

  private purged(chain: string): PurgedRow | undefined {
    return this.db.prepare('SELECT size, last_hash, frontier FROM purged_prefixes WHERE chain = ?').get(chain) as PurgedRow | undefined;
  }

  private *records(chain: string, fromSeq: number, held?: (seq: number) => boolean): Generator<PlannedRecord> {
    const stmt = this.db.prepare('SELECT seq, received_at FROM events WHERE chain = ? AND seq >= ? ORDER BY seq');
    for (const r of stmt.iterate(chain, fromSeq) as Iterable<{ seq: number; received_at: string }>) {
      yield { seq: r.seq, receivedAt: r.received_at, held: held ? held(r.seq) : false };
    }
  }

  /**
   * Ends the purge exactly at the last signed checkpoint within it, so the purged prefix's
   * frontier and last hash are those the checkpoint signed (verification checks them there).
   */
  private clampToCheckpoint(p: ChainPurgePlan): ChainPurgePlan {
    if (p.count === 0) return p;
    const cp = this.db
      .prepare('SELECT tree_size FROM checkpoints WHERE chain = ? AND tree_size > ? AND tree_size <= ? ORDER BY tree_size DESC LIMIT 1')
      .get(p.chain, p.fromSeq, p.toSeq) as { tree_size: number } | undefined;
    if (cp && cp.tree_size === p.toSeq) return p;
    if (!cp) return { ...p, toSeq: p.fromSeq, count: 0, firstReceivedAt: null, lastReceivedAt: null, keptBecause: 'unsealed', stopSeq: p.fromSeq };
    const last = this.db.prepare('SELECT received_at FROM events WHERE chain = ? AND seq = ?').get(p.chain, cp.tree_size - 1) as { received_at: string };
    return { ...p, toSeq: cp.tree_size, count: cp.tree_size - p.fromSeq, lastReceivedAt: last.received_at, keptBecause: 'unsealed', stopSeq: cp.tree_size };
  }

  private checkpointAtOrBelow(chain: string, size: number): number {
    const r = this.db.prepare('SELECT MAX(idx) AS idx FROM checkpoints WHERE chain = ? AND tree_size <= ?').get(chain, size) as { idx: number | null };
    return r.idx ?? -1;
  }

  private describe(p: ChainPurgePlan): { lastHash: string; checkpointIndex: number; deleted: number } {
    const last = this.db.prepare('SELECT hash FROM events WHERE chain = ? AND seq = ?').get(p.chain, p.toSeq - 1) as { hash: Buffer } | undefined;
    return { lastHash: last ? last.hash.toString('hex') : '', checkpointIndex: this.checkpointAtOrBelow(p.chain, p.toSeq), deleted: 0 };
  }

  /** One chain, one transaction: frontier and last hash, audit row, authorized delete. */
  private purgeChain(runId: string, p: ChainPurgePlan): { lastHash: string; checkpointIndex: number; deleted: number } {
    const tx = this.db.transaction(() => {
      const prior = this.purged(p.chain);
      const priorSize = prior?.size ?? 0;
      if (priorSize !== p.fromSeq) throw new Error(`retention: chain ${p.chain} changed while planning; rerun`);
      const startFrontier: FrontierJSON = prior ? { size: prior.size, hashes: JSON.parse(prior.frontier) as string[] } : { size: 0, hashes: [] };
      const acc = new MerkleAccumulator(frontierFromJSON(startFrontier));
      let lastHash: Buffer | null = null;
      let expected = p.fromSeq;
      const rows = this.db.prepare('SELECT seq, hash FROM events WHERE chain = ? AND seq >= ? AND seq < ? ORDER BY seq').iterate(p.chain, p.fromSeq, p.toSeq) as Iterable<{
        seq: number;
        hash: Buffer;
      }>;
      for (const r of rows) {
        if (r.seq !== expected) throw new Error(`retention: chain ${p.chain} has no record at seq ${expected}; run verification`);
        acc.appendRecordHash(r.hash);
        lastHash = r.hash;
        expected++;
      }
      if (expected !== p.toSeq || !lastHash) throw new Error(`retention: chain ${p.chain} has no record at seq ${expected}; run verification`);
      const frontier = acc.toJSON();
      const checkpointIndex = this.checkpointAtOrBelow(p.chain, p.toSeq);
      const purgedAt = new Date().toISOString();
      const lastHex = lastHash.toString('hex');
      this.db
        .prepare(
          `INSERT INTO purged_prefixes (chain, size, last_hash, frontier, checkpoint_idx, purged_at) VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (chain) DO UPDATE SET size = excluded.size, last_hash = excluded.last_hash, frontier = excluded.frontier,
             checkpoint_idx = excluded.checkpoint_idx, purged_at = excluded.purged_at`,
        )
        .run(p.chain, p.toSeq, lastHex, JSON.stringify(frontier.hashes), checkpointIndex, purgedAt);
      this.db
        .prepare(
          `INSERT INTO retention_run_chains (run_id, chain, from_seq, to_seq, deleted, first_received_at, last_received_at, last_hash, checkpoint_idx, kept_because, purged_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(runId, p.chain, p.fromSeq, p.toSeq, p.count, p.firstReceivedAt, p.lastReceivedAt, lastHex, checkpointIndex, p.keptBecause, purgedAt);
      this.db.prepare('INSERT OR REPLACE INTO retention_purge_authorizations (chain, below_seq, run_id) VALUES (?, ?, ?)').run(p.chain, p.toSeq, runId);
      const deleted = this.db.prepare('DELETE FROM events WHERE chain = ? AND seq < ?').run(p.chain, p.toSeq).changes;
      this.db.prepare('DELETE FROM retention_purge_authorizations WHERE chain = ?').run(p.chain);
      return { lastHash: lastHex, checkpointIndex, deleted };
    });
    return tx.immediate();
  }
}
