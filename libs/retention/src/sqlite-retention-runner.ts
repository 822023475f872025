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
 *
 * Tiers (when constructed with RetentionTierOptions): after deleting, each chain's prefix past its
 * category's warm window moves to a cold archive (cold-archive.ts: written, fsync'd and verified
 * offline BEFORE one transaction records it as a purged prefix referencing the archive and drops
 * the rows), and hot records past the hot window move to the warm table (warm_events; one
 * transaction per batch, rows copied then deleted: the events' delete trigger lets a record leave
 * hot only when warm holds the same chain, seq and hash). Archives whose records are all past the
 * retention window and under no legal hold are deleted. Every move is a retention_run_actions row.
 * `restore` brings archived records back into warm (restored = 1), verified against the archive's
 * signed checkpoints and the store's own.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AccessEvent, EVENT_CATEGORIES, categoryOfChain } from '@app/core';
import { FrontierJSON, MerkleAccumulator, frontierFromJSON } from '@app/ledger';
import {
  CHECKPOINT_SCHEMA_SQL,
  FieldProtection,
  RESTORED_POSITION_BASE,
  SealedFieldCodec,
  SqliteCheckpointStore,
  TieredSqliteEventStore,
  WARM_SCHEMA_SQL,
  chainExtentsOf,
  dropPartition,
  encodeWarmRecord,
  installPurgeAwareDeleteTriggers,
  isPartitioned,
  livePartitions,
  partitionChainRanges,
  type SqliteDb,
} from '@app/storage';
import type { EsRetentionReport } from '@app/storage/elasticsearch/es-retention-runner';
import { ArchiveVerificationError, PublicKeyEntry, archiveId, readArchiveRecords, verifyArchive, writeArchive } from './cold-archive';
import { holdMatcher } from './legal-hold';
import { LegalHoldStore } from './legal-hold-store.port';
import { ChainPurgePlan, PlannedRecord, RetentionPlan, planChainPurge } from './retention-plan';
import { RetentionPolicy, retentionCutoffs } from './retention-policy';

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

CREATE TABLE IF NOT EXISTS retention_archives (
  id                TEXT PRIMARY KEY,
  chain             TEXT    NOT NULL,
  from_seq          INTEGER NOT NULL,
  to_seq            INTEGER NOT NULL,
  count             INTEGER NOT NULL,
  first_received_at TEXT,
  last_received_at  TEXT,
  last_hash         TEXT    NOT NULL,
  checkpoint_idx    INTEGER NOT NULL,
  path              TEXT    NOT NULL,
  created_at        TEXT    NOT NULL,
  run_id            TEXT    NOT NULL,
  deleted_at        TEXT,
  deleted_by_run    TEXT
);

CREATE TABLE IF NOT EXISTS retention_run_actions (
  run_id            TEXT    NOT NULL,
  chain             TEXT    NOT NULL,
  action            TEXT    NOT NULL,
  from_seq          INTEGER NOT NULL,
  to_seq            INTEGER NOT NULL,
  count             INTEGER NOT NULL,
  first_received_at TEXT,
  last_received_at  TEXT,
  archive_id        TEXT,
  checkpoint_idx    INTEGER,
  at                TEXT    NOT NULL,
  PRIMARY KEY (run_id, chain, action, from_seq)
);

CREATE TRIGGER IF NOT EXISTS retention_archives_delete_once BEFORE UPDATE ON retention_archives
WHEN OLD.deleted_at IS NOT NULL OR NEW.deleted_at IS NULL OR NEW.id IS NOT OLD.id OR NEW.chain IS NOT OLD.chain
  OR NEW.from_seq IS NOT OLD.from_seq OR NEW.to_seq IS NOT OLD.to_seq OR NEW.count IS NOT OLD.count OR NEW.path IS NOT OLD.path
  OR NEW.last_hash IS NOT OLD.last_hash OR NEW.created_at IS NOT OLD.created_at OR NEW.run_id IS NOT OLD.run_id
BEGIN SELECT RAISE(ABORT, 'an archive record can only be marked deleted, once'); END;
CREATE TRIGGER IF NOT EXISTS retention_archives_never_deleted BEFORE DELETE ON retention_archives
BEGIN SELECT RAISE(ABORT, 'archive records cannot be deleted'); END;
CREATE TRIGGER IF NOT EXISTS retention_run_actions_immutable BEFORE UPDATE ON retention_run_actions
BEGIN SELECT RAISE(ABORT, 'retention audit records are immutable'); END;
CREATE TRIGGER IF NOT EXISTS retention_run_actions_never_deleted BEFORE DELETE ON retention_run_actions
BEGIN SELECT RAISE(ABORT, 'retention audit records cannot be deleted'); END;

CREATE TRIGGER IF NOT EXISTS warm_events_deleted_only_by_retention BEFORE DELETE ON warm_events
WHEN NOT EXISTS (
  SELECT 1 FROM retention_purge_authorizations a JOIN purged_prefixes p ON p.chain = a.chain
  WHERE a.chain = OLD.chain AND OLD.seq < a.below_seq AND OLD.seq < p.size
)
BEGIN SELECT RAISE(ABORT, 'audit events cannot be deleted'); END;
`;

/**
 * Creates the retention tables and installs the purge-aware delete trigger on every hot partition
 * (idempotent): the events' delete trigger with its two exceptions, an authorized purge of a
 * recorded prefix and a record leaving hot for warm (event-partitions.ts in libs/storage).
 */
export function applyRetentionSchema(db: SqliteDb): void {
  db.exec(CHECKPOINT_SCHEMA_SQL);
  db.exec(WARM_SCHEMA_SQL);
  db.exec(RETENTION_RUN_SCHEMA_SQL);
  if (isPartitioned(db)) installPurgeAwareDeleteTriggers(db);
  else {
    const row = db.prepare("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'events_are_never_deleted'").get() as { sql: string } | undefined;
    if (!row || !row.sql.includes('warm_events')) db.transaction(() => db.exec(LEGACY_PURGE_AWARE_DELETE_TRIGGER))();
  }
}

/** The same trigger on a database that was never migrated to partitions (read paths of tests). */
const LEGACY_PURGE_AWARE_DELETE_TRIGGER = `
DROP TRIGGER IF EXISTS events_are_never_deleted;
CREATE TRIGGER events_are_never_deleted BEFORE DELETE ON events
WHEN NOT EXISTS (
  SELECT 1 FROM retention_purge_authorizations a JOIN purged_prefixes p ON p.chain = a.chain
  WHERE a.chain = OLD.chain AND OLD.seq < a.below_seq AND OLD.seq < p.size
) AND NOT EXISTS (
  SELECT 1 FROM warm_events w WHERE w.chain = OLD.chain AND w.seq = OLD.seq AND w.hash = OLD.hash AND w.restored = 0
)
BEGIN SELECT RAISE(ABORT, 'audit events cannot be deleted'); END;
`;

/** What the runner needs for the warm and cold tiers (without it, records stay hot until deleted). */
export interface RetentionTierOptions {
  /** DATA_DIR: archives go to DATA_DIR/archive/<chain>/<archive id>. */
  dataDir: string;
  /** The store's field protection (warm rows keep sealed fields sealed, patients tokenized). */
  protection: FieldProtection;
  /** The store's public keys: archives carry them, and archives are verified against them. */
  publicKeys: () => readonly PublicKeyEntry[];
}

/** A range of a chain moved to a tier by a run. */
export interface TierMove {
  fromSeq: number;
  /** Exclusive. */
  toSeq: number;
  count: number;
  firstReceivedAt: string | null;
  lastReceivedAt: string | null;
}

export interface ColdMove extends TierMove {
  archiveId: string;
  /** Relative to DATA_DIR. */
  path: string;
  checkpointIndex: number;
}

export interface ArchiveSummary {
  id: string;
  chain: string;
  fromSeq: number;
  toSeq: number;
  count: number;
  firstReceivedAt: string | null;
  lastReceivedAt: string | null;
  checkpointIndex: number;
  path: string;
  createdAt: string;
  runId: string;
  deletedAt: string | null;
}

export interface RestoreReport {
  runId: string;
  chain: string;
  restored: number;
  archives: { archiveId: string; fromSeq: number; toSeq: number; restored: number }[];
}

export class RetentionRestoreError extends Error {}


export interface RetentionRunOptions {
  /** Epoch ms the run acts at. */
  now: number;
  dryRun: boolean;
  /** Who started it: `cli` or `schedule`. */
  trigger: string;
  /** Called after each chain's purge (or cold move, archive deletion) is committed, and after its warm move when that was all it did (progress; crash tests). */
  onChainPurged?: (chain: RetentionRunChain) => void;
  /**
   * Called at intermediate durable steps: `archive-written` (files in place, rows not yet dropped),
   * `warm-batch` (a batch of records moved), `warm-partition` (a whole hot partition, or a chunk of
   * one, moved; `chain` is then the partition's table) (crash tests). `transactionMs`: how long the
   * step's write transaction took (benches: how long appends could wait behind it).
   */
  onStep?: (step: 'archive-written' | 'warm-batch' | 'warm-partition', chain: string, transactionMs?: number) => void;
  /**
   * Move closed hot partitions past every hot window to warm whole (default true); false moves
   * every record one by one as before (benches and tests compare the two).
   */
  wholePartitions?: boolean;
  /** Rows a whole-partition move copies per write transaction (WHOLE_PARTITION_CHUNK_ROWS; tests and benches). */
  wholePartitionChunkRows?: number;
}

export interface RetentionRunChain extends ChainPurgePlan {
  /** Hash of the last purged record (the first retained record links to it); null when nothing was purged. */
  lastHash: string | null;
  /** Latest checkpoint at or below the new purged size (-1: none). */
  checkpointIndex: number | null;
  /** Records of the chain held by legal holds in the window (counted, never named). */
  heldRecords: number;
  /** Hot records moved to warm by this run (null: none). */
  warm: TierMove | null;
  /** Archives written by this run, one per checkpoint block (a legal hold then keeps only its blocks). */
  cold: ColdMove[];
  /** Archives deleted by this run (all their records past the window, none held). */
  archivesDeleted: (TierMove & { archiveId: string })[];
  /** Archives past the window kept because a legal hold covers some of their records. */
  archivesHeld: number;
}

export interface RetentionRunReport {
  runId: string | null;
  dryRun: boolean;
  now: string;
  startedAt: string;
  finishedAt: string;
  deleted: number;
  /** Records moved hot -> warm, and to cold archives. */
  warmed: number;
  archived: number;
  chains: RetentionRunChain[];
  /** STORE=elasticsearch: the backing indices deleted (or, dry run, to delete) and the first one kept per class, with why. */
  elasticsearch?: Pick<EsRetentionReport, 'deleted' | 'kept'>;
}

interface PurgedRow {
  size: number;
  last_hash: string;
  frontier: string;
}

export class SqliteRetentionRunner {
  private readonly codec: SealedFieldCodec | null;

  constructor(
    private readonly db: SqliteDb,
    private readonly policy: RetentionPolicy,
    private readonly holds: LegalHoldStore,
    private readonly tiers?: RetentionTierOptions,
  ) {
    applyRetentionSchema(db);
    this.codec = tiers ? new SealedFieldCodec(tiers.protection.dataKeys) : null;
    // The warm record of a hot row inside SQL (whole-partition moves): the same bytes encodeWarmRecord gives.
    db.function(WARM_RECORD_FUNCTION, { deterministic: true }, (event: unknown, sealed: unknown) => encodeWarmRecord(event as string, (sealed as Buffer | null) ?? null));
  }

  /** The plan at `now` (reads only). */
  async plan(now: number): Promise<{ plan: RetentionPlan; held: Map<string, number> }> {
    const heads = this.db.prepare('SELECT chain, seq FROM chain_heads ORDER BY chain').all() as { chain: string; seq: number }[];
    const held = new Map<string, number>();
    const chains: ChainPurgePlan[] = [];
    for (const h of heads) {
      const purgedSize = this.purged(h.chain)?.size ?? 0;
      // Every chain of a category (its shards, chain-id.ts) follows that category's window.
      const input = { chain: h.chain, category: categoryOfChain(h.chain) ?? h.chain, headSeq: h.seq, purgedSize };
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

  /** Plans and (unless dry-run) applies retention tier by tier; returns the audit record of the run. */
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
      this.sweepDeletedArchives();
    }
    const chains: RetentionRunChain[] = [];
    let deleted = 0;
    let warmed = 0;
    let archived = 0;
    // Hot partitions wholly inside the plan go with one DROP TABLE each; the chains' purges then
    // run together with the drops in one transaction (all or nothing, as each chain's alone).
    const purgedWithDrops = options.dryRun ? new Map<string, { lastHash: string; checkpointIndex: number; deleted: number }>() : this.purgeWithPartitionDrops(runId!, plan);
    // Pass 1, chain by chain: purge, expired archives, cold. Pass 2 (after whole partitions moved
    // to warm): what is left of each chain's warm move, record by record.
    const pending: { out: RetentionRunChain; warmCutoff: number; coldTo: number; reported: boolean }[] = [];
    for (const p of plan.chains) {
      const out: RetentionRunChain = { ...p, lastHash: null, checkpointIndex: null, heldRecords: held.get(p.chain) ?? 0, warm: null, cold: [], archivesDeleted: [], archivesHeld: 0 };
      if (p.count > 0) {
        const applied = options.dryRun ? this.describe(p) : (purgedWithDrops.get(p.chain) ?? this.purgeChain(runId!, p));
        out.lastHash = applied.lastHash;
        out.checkpointIndex = applied.checkpointIndex;
        if (!options.dryRun) deleted += applied.deleted;
        if (!options.dryRun && applied.deleted !== p.count) out.count = applied.deleted;
      }
      const category = categoryOfChain(p.chain);
      let warmCutoff = Number.NEGATIVE_INFINITY;
      let coldTo = 0;
      if (this.tiers && category) {
        const cut = retentionCutoffs(this.policy, category, options.now);
        warmCutoff = cut.warmIfReceivedBefore;
        const archives = await this.deleteExpiredArchives(runId, p.chain, cut.deleteIfReceivedBefore, options.dryRun);
        out.archivesDeleted = archives.deleted;
        out.archivesHeld = archives.held;
        if (!options.dryRun) deleted += archives.deleted.reduce((s, a) => s + a.count, 0);
        // Cold: from where the purge left off, up to the last checkpoint before the warm window ends.
        const coldFrom = options.dryRun ? p.toSeq : (this.purged(p.chain)?.size ?? 0);
        coldTo = this.sealedBoundary(p.chain, coldFrom, this.boundary(p.chain, coldFrom, cut.coldIfReceivedBefore, true));
        for (let from = coldFrom; from < coldTo; ) {
          const to = this.nextCheckpointSize(p.chain, from, coldTo);
          const move = options.dryRun
            ? { ...this.describeRange(p.chain, from, to), archiveId: archiveId(p.chain, from, to), path: '', checkpointIndex: this.checkpointAtOrBelow(p.chain, to) }
            : await this.archiveRange(runId!, p.chain, from, to, options.onStep);
          out.cold.push(move);
          if (!options.dryRun) archived += move.count;
          from = to;
        }
      }
      const reported = !options.dryRun && (out.count > 0 || out.cold.length > 0 || out.archivesDeleted.length > 0);
      if (reported) options.onChainPurged?.(out);
      pending.push({ out, warmCutoff, coldTo, reported });
    }
    // Warm, whole partitions first: each closed partition (oldest first) all of whose rows are past
    // their chain's hot window moves with one INSERT ... SELECT and one DROP TABLE.
    const byPartition =
      !options.dryRun && this.tiers && options.wholePartitions !== false ? this.moveWholePartitions(runId!, options.now, options.onStep, options.wholePartitionChunkRows) : new Map<string, TierMove>();
    for (const { out, warmCutoff, coldTo, reported } of pending) {
      const whole = byPartition.get(out.chain) ?? null;
      let rest: TierMove | null = null;
      if (warmCutoff > Number.NEGATIVE_INFINITY) {
        // Warm, record by record: hot records past the hot window that no whole partition took.
        const hotFrom = Math.max(this.hotStart(out.chain) ?? Number.MAX_SAFE_INTEGER, options.dryRun ? coldTo : 0);
        const warmTo = this.boundary(out.chain, hotFrom, warmCutoff, false);
        if (warmTo > hotFrom) rest = options.dryRun ? this.describeRange(out.chain, hotFrom, warmTo) : this.moveToWarm(runId!, out.chain, hotFrom, warmTo, options.onStep);
      }
      out.warm = joinMoves(whole, rest);
      if (!options.dryRun && out.warm) warmed += out.warm.count;
      if (!options.dryRun && out.warm && !reported) options.onChainPurged?.(out);
      chains.push(out);
    }
    const finishedAt = new Date().toISOString();
    const report: RetentionRunReport = { runId, dryRun: options.dryRun, now: plan.now, startedAt, finishedAt, deleted, warmed, archived, chains };
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

  /**
   * One recorded run with everything it did: the run's summary (counts, ranges, checkpoints,
   * archives) for a completed run, and for any run the committed audit rows (deletes and moves).
   */
  runDetail(id: string): Record<string, unknown> | null {
    const r = this.db.prepare('SELECT id, started_at, finished_at, now, trigger, status, deleted, summary FROM retention_runs WHERE id = ?').get(id) as
      | { id: string; started_at: string; finished_at: string | null; now: string; trigger: string; status: string; deleted: number; summary: string | null }
      | undefined;
    if (!r) return null;
    const purges = this.db
      .prepare('SELECT chain, from_seq, to_seq, deleted, first_received_at, last_received_at, last_hash, checkpoint_idx, kept_because, purged_at FROM retention_run_chains WHERE run_id = ? ORDER BY chain')
      .all(id) as Record<string, unknown>[];
    const actions = this.db
      .prepare('SELECT chain, action, from_seq, to_seq, count, first_received_at, last_received_at, archive_id, checkpoint_idx, at FROM retention_run_actions WHERE run_id = ? ORDER BY chain, action, from_seq')
      .all(id) as Record<string, unknown>[];
    const camel = (row: Record<string, unknown>) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()), v]));
    return {
      id: r.id,
      startedAt: r.started_at,
      finishedAt: r.finished_at,
      now: r.now,
      trigger: r.trigger,
      status: r.status,
      deleted: r.deleted,
      summary: r.summary ? (JSON.parse(r.summary) as unknown) : null,
      purges: purges.map(camel),
      actions: actions.map(camel),
    };
  }

  /** Cold archives of a chain (or all), oldest first. */
  archives(chain?: string): ArchiveSummary[] {
    const rows = this.db
      .prepare(
        `SELECT id, chain, from_seq, to_seq, count, first_received_at, last_received_at, checkpoint_idx, path, created_at, run_id, deleted_at FROM retention_archives
         ${chain ? 'WHERE chain = ?' : ''} ORDER BY chain, from_seq`,
      )
      .all(...(chain ? [chain] : [])) as {
      id: string;
      chain: string;
      from_seq: number;
      to_seq: number;
      count: number;
      first_received_at: string | null;
      last_received_at: string | null;
      checkpoint_idx: number;
      path: string;
      created_at: string;
      run_id: string;
      deleted_at: string | null;
    }[];
    return rows.map((a) => ({
      id: a.id,
      chain: a.chain,
      fromSeq: a.from_seq,
      toSeq: a.to_seq,
      count: a.count,
      firstReceivedAt: a.first_received_at,
      lastReceivedAt: a.last_received_at,
      checkpointIndex: a.checkpoint_idx,
      path: a.path,
      createdAt: a.created_at,
      runId: a.run_id,
      deletedAt: a.deleted_at,
    }));
  }

  /**
   * Brings archived records of a chain back into the warm tier (queryable again), by archive id
   * or by seq range [fromSeq, toSeq] (inclusive): each archive is verified offline against the
   * store's public keys, its last checkpoint must be the one the store signed, and every record is
   * re-hashed into the chain before it is accepted. Idempotent (a restored record stays once).
   */
  async restore(opts: { chain: string; archiveId?: string; fromSeq?: number; toSeq?: number; trigger?: string }): Promise<RestoreReport> {
    const tiers = this.requireTiers();
    const lo = opts.fromSeq ?? 0;
    const hi = opts.toSeq ?? Number.MAX_SAFE_INTEGER;
    const chosen = this.archives(opts.chain).filter((a) => a.deletedAt === null && (opts.archiveId ? a.id === opts.archiveId : a.toSeq - 1 >= lo && a.fromSeq <= hi));
    if (chosen.length === 0) throw new RetentionRestoreError(opts.archiveId ? `no archive ${opts.archiveId} of chain ${opts.chain}` : `no archive of chain ${opts.chain} holds seq ${lo}..${hi === Number.MAX_SAFE_INTEGER ? 'end' : hi}`);
    const runId = randomUUID();
    const startedAt = new Date().toISOString();
    this.db.prepare("INSERT INTO retention_runs (id, started_at, now, trigger, status) VALUES (?, ?, ?, ?, 'running')").run(runId, startedAt, startedAt, opts.trigger ?? 'restore');
    const report: RestoreReport = { runId, chain: opts.chain, restored: 0, archives: [] };
    for (const a of chosen) {
      const dir = path.join(tiers.dataDir, a.path);
      const manifest = await verifyArchive(dir, tiers.publicKeys(), { fromSeq: a.fromSeq, toSeq: a.toSeq - 1 });
      const signed = JSON.parse(fs.readFileSync(path.join(dir, manifest.checkpoints.file), 'utf8')) as { treeSize: number; rootHash: string }[];
      const ours = this.db.prepare('SELECT root_hash FROM checkpoints WHERE chain = ? AND tree_size = ?').get(a.chain, a.toSeq) as { root_hash: string } | undefined;
      const theirs = signed.find((c) => c.treeSize === a.toSeq);
      if (!ours || !theirs || ours.root_hash !== theirs.rootHash) throw new ArchiveVerificationError(`archive ${a.id} is not sealed by the store's checkpoint at size ${a.toSeq}`);
      const rows: { seq: number; receivedAt: string; eventJson: string; prevHash: Buffer; hash: Buffer }[] = [];
      for await (const r of readArchiveRecords(dir, manifest)) if (r.seq >= lo && r.seq <= hi) rows.push(r);
      const insert = this.warmInsert();
      const restored = this.db.transaction(() => {
        // Positions of their own, far above any hot position (cursors order by them, never reuse them).
        let pos = (this.db.prepare('SELECT MAX(pos) AS p FROM warm_events WHERE pos >= ?').get(RESTORED_POSITION_BASE) as { p: number | null }).p ?? RESTORED_POSITION_BASE;
        let n = 0;
        for (const r of rows) {
          const event = JSON.parse(r.eventJson) as AccessEvent;
          const { storedJson, sealed } = this.codec!.seal(event, r.eventJson);
          n += insert.run(
            ++pos, a.chain, r.seq, event.id, r.receivedAt, Date.parse(event.occurredAt), event.category, event.action, event.outcome, event.actor.id,
            event.patient ? tiers.protection.patientToken(event.patient.id) : null, encodeWarmRecord(storedJson, sealed), r.prevHash, r.hash, 1, a.id,
          ).changes;
        }
        if (rows.length > 0) this.action(runId, a.chain, 'restore', rows[0].seq, rows[rows.length - 1].seq + 1, n, rows[0].receivedAt, rows[rows.length - 1].receivedAt, a.id, a.checkpointIndex);
        return n;
      }).immediate(); // write lock first: it reads before it writes (other connections may commit)
      report.restored += restored;
      report.archives.push({ archiveId: a.id, fromSeq: rows[0]?.seq ?? a.fromSeq, toSeq: (rows[rows.length - 1]?.seq ?? a.fromSeq - 1) + 1, restored });
    }
    this.db.prepare("UPDATE retention_runs SET status = 'completed', finished_at = ?, summary = ? WHERE id = ?").run(new Date().toISOString(), JSON.stringify(report), runId);
    return report;
  }

  private requireTiers(): RetentionTierOptions {
    if (!this.tiers) throw new RetentionRestoreError('tiers are not configured for this runner');
    return this.tiers;
  }

  private warmInsert() {
    return this.db.prepare(
      `INSERT OR IGNORE INTO warm_events (pos, chain, seq, id, received_at, occurred_ms, category, action, outcome, actor_id, patient_id, record, prev_hash, hash, restored, archive_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
  }

  private action(runId: string, chain: string, action: string, fromSeq: number, toSeq: number, count: number, first: string | null, last: string | null, archiveId: string | null, checkpointIdx: number | null): void {
    this.db
      .prepare(
        `INSERT INTO retention_run_actions (run_id, chain, action, from_seq, to_seq, count, first_received_at, last_received_at, archive_id, checkpoint_idx, at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(runId, chain, action, fromSeq, toSeq, count, first, last, archiveId, checkpointIdx, new Date().toISOString());
  }

  private purged(chain: string): PurgedRow | undefined {
    return this.db.prepare('SELECT size, last_hash, frontier FROM purged_prefixes WHERE chain = ?').get(chain) as PurgedRow | undefined;
  }

  /** Rows of a chain in both live tiers (warm, not restored copies; then hot), in seq order. */
  private chainRows(chain: string, fromSeq: number, toSeq: number, columns: 'seq, received_at' | 'seq, hash' | 'seq, received_at, hash'): Iterable<Record<string, unknown>> {
    return this.db
      .prepare(`SELECT ${columns} FROM events WHERE chain = ? AND seq >= ? AND seq < ? UNION ALL SELECT ${columns} FROM warm_events WHERE chain = ? AND seq >= ? AND seq < ? AND restored = 0 ORDER BY seq`)
      .iterate(chain, fromSeq, toSeq, chain, fromSeq, toSeq) as Iterable<Record<string, unknown>>;
  }

  private rowAt(chain: string, seq: number): { received_at: string; hash: Buffer } | undefined {
    for (const r of this.chainRows(chain, seq, seq + 1, 'seq, received_at, hash')) return r as { received_at: string; hash: Buffer };
    return undefined;
  }

  private *records(chain: string, fromSeq: number, held?: (seq: number) => boolean): Generator<PlannedRecord> {
    for (const r of this.chainRows(chain, fromSeq, Number.MAX_SAFE_INTEGER, 'seq, received_at') as Iterable<{ seq: number; received_at: string }>) {
      yield { seq: r.seq, receivedAt: r.received_at, held: held ? held(r.seq) : false };
    }
  }

  /** First seq at or after fromSeq received at or after `cutoff` (receive times grow along a chain), or where the rows stop. */
  private boundary(chain: string, fromSeq: number, cutoff: number, bothTiers: boolean): number {
    let expected = fromSeq;
    const rows = bothTiers
      ? (this.chainRows(chain, fromSeq, Number.MAX_SAFE_INTEGER, 'seq, received_at') as Iterable<{ seq: number; received_at: string }>)
      : (this.db.prepare('SELECT seq, received_at FROM events WHERE chain = ? AND seq >= ? ORDER BY seq').iterate(chain, fromSeq) as Iterable<{ seq: number; received_at: string }>);
    for (const r of rows) {
      if (r.seq !== expected || !(Date.parse(r.received_at) < cutoff)) break;
      expected++;
    }
    return expected;
  }

  /** The largest signed checkpoint size in (fromSeq, toSeq], or fromSeq when none: archives end at a checkpoint. */
  private sealedBoundary(chain: string, fromSeq: number, toSeq: number): number {
    if (toSeq <= fromSeq) return fromSeq;
    const cp = this.db
      .prepare('SELECT tree_size FROM checkpoints WHERE chain = ? AND tree_size > ? AND tree_size <= ? ORDER BY tree_size DESC LIMIT 1')
      .get(chain, fromSeq, toSeq) as { tree_size: number } | undefined;
    return cp ? cp.tree_size : fromSeq;
  }

  /** The smallest signed checkpoint size in (fromSeq, toSeq] (toSeq itself is one). */
  private nextCheckpointSize(chain: string, fromSeq: number, toSeq: number): number {
    const cp = this.db.prepare('SELECT MIN(tree_size) AS s FROM checkpoints WHERE chain = ? AND tree_size > ? AND tree_size <= ?').get(chain, fromSeq, toSeq) as { s: number | null };
    return cp.s ?? toSeq;
  }

  private hotStart(chain: string): number | null {
    // ORDER BY … LIMIT 1: one seek per partition (MIN() over the view would read the chain's rows).
    return (this.db.prepare('SELECT seq AS s FROM events WHERE chain = ? ORDER BY seq LIMIT 1').get(chain) as { s: number } | undefined)?.s ?? null;
  }

  private describeRange(chain: string, fromSeq: number, toSeq: number): TierMove {
    const first = this.rowAt(chain, fromSeq);
    const last = this.rowAt(chain, toSeq - 1);
    return { fromSeq, toSeq, count: toSeq - fromSeq, firstReceivedAt: first?.received_at ?? null, lastReceivedAt: last?.received_at ?? null };
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
    const last = this.rowAt(p.chain, cp.tree_size - 1)!;
    return { ...p, toSeq: cp.tree_size, count: cp.tree_size - p.fromSeq, lastReceivedAt: last.received_at, keptBecause: 'unsealed', stopSeq: cp.tree_size };
  }

  private checkpointAtOrBelow(chain: string, size: number): number {
    const r = this.db.prepare('SELECT MAX(idx) AS idx FROM checkpoints WHERE chain = ? AND tree_size <= ?').get(chain, size) as { idx: number | null };
    return r.idx ?? -1;
  }

  private describe(p: ChainPurgePlan): { lastHash: string; checkpointIndex: number; deleted: number } {
    const last = this.rowAt(p.chain, p.toSeq - 1);
    return { lastHash: last ? last.hash.toString('hex') : '', checkpointIndex: this.checkpointAtOrBelow(p.chain, p.toSeq), deleted: 0 };
  }

  /**
   * Inside a transaction: advances the chain's purged prefix from `fromSeq` to `toSeq` (frontier and
   * last hash over the records in between, read from both live tiers) and authorizes deleting them.
   */
  private advancePrefix(chain: string, fromSeq: number, toSeq: number, runId: string): { lastHex: string; checkpointIndex: number; at: string } {
    const prior = this.purged(chain);
    const priorSize = prior?.size ?? 0;
    if (priorSize !== fromSeq) throw new Error(`retention: chain ${chain} changed while planning; rerun`);
    const startFrontier: FrontierJSON = prior ? { size: prior.size, hashes: JSON.parse(prior.frontier) as string[] } : { size: 0, hashes: [] };
    const acc = new MerkleAccumulator(frontierFromJSON(startFrontier));
    let lastHash: Buffer | null = null;
    let expected = fromSeq;
    for (const r of this.chainRows(chain, fromSeq, toSeq, 'seq, hash') as Iterable<{ seq: number; hash: Buffer }>) {
      if (r.seq !== expected) throw new Error(`retention: chain ${chain} has no record at seq ${expected}; run verification`);
      acc.appendRecordHash(r.hash);
      lastHash = r.hash;
      expected++;
    }
    if (expected !== toSeq || !lastHash) throw new Error(`retention: chain ${chain} has no record at seq ${expected}; run verification`);
    const frontier = acc.toJSON();
    const checkpointIndex = this.checkpointAtOrBelow(chain, toSeq);
    const at = new Date().toISOString();
    const lastHex = lastHash.toString('hex');
    this.db
      .prepare(
        `INSERT INTO purged_prefixes (chain, size, last_hash, frontier, checkpoint_idx, purged_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (chain) DO UPDATE SET size = excluded.size, last_hash = excluded.last_hash, frontier = excluded.frontier,
           checkpoint_idx = excluded.checkpoint_idx, purged_at = excluded.purged_at`,
      )
      .run(chain, toSeq, lastHex, JSON.stringify(frontier.hashes), checkpointIndex, at);
    this.db.prepare('INSERT OR REPLACE INTO retention_purge_authorizations (chain, below_seq, run_id) VALUES (?, ?, ?)').run(chain, toSeq, runId);
    return { lastHex, checkpointIndex, at };
  }

  /**
   * Deletes what advancePrefix authorized (both live tiers) and withdraws the authorization. Hot
   * rows are deleted partition by partition (`skip`: partitions the caller drops whole).
   */
  private dropAuthorized(chain: string, toSeq: number, skip: ReadonlySet<number> = new Set()): number {
    let hot = 0;
    for (const table of this.hotTables(skip)) hot += this.db.prepare(`DELETE FROM ${table} WHERE chain = ? AND seq < ?`).run(chain, toSeq).changes;
    const warm = this.db.prepare('DELETE FROM warm_events WHERE chain = ? AND seq < ? AND restored = 0').run(chain, toSeq).changes;
    this.db.prepare('DELETE FROM retention_purge_authorizations WHERE chain = ?').run(chain);
    return hot + warm;
  }

  /** The hot store's tables: its live partitions (but `skip`), or `events` on the previous layout. */
  private hotTables(skip: ReadonlySet<number> = new Set()): string[] {
    if (!isPartitioned(this.db)) return ['events'];
    return livePartitions(this.db)
      .filter((p) => !skip.has(p.n))
      .map((p) => p.table);
  }

  /** One chain, one transaction: frontier and last hash, audit row, authorized delete. */
  private purgeChain(runId: string, p: ChainPurgePlan): { lastHash: string; checkpointIndex: number; deleted: number } {
    return this.db.transaction(() => this.purgeChainInTransaction(runId, p)).immediate();
  }

  private purgeChainInTransaction(runId: string, p: ChainPurgePlan, dropped: ReadonlyMap<number, string> = new Map()): { lastHash: string; checkpointIndex: number; deleted: number } {
    const { lastHex, checkpointIndex, at } = this.advancePrefix(p.chain, p.fromSeq, p.toSeq, runId);
    this.db
      .prepare(
        `INSERT INTO retention_run_chains (run_id, chain, from_seq, to_seq, deleted, first_received_at, last_received_at, last_hash, checkpoint_idx, kept_because, purged_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(runId, p.chain, p.fromSeq, p.toSeq, p.count, p.firstReceivedAt, p.lastReceivedAt, lastHex, checkpointIndex, p.keptBecause, at);
    // Rows of partitions dropped whole are counted here (their DROP TABLE follows in this transaction).
    let inDropped = 0;
    for (const table of dropped.values()) inDropped += this.db.prepare(`SELECT COUNT(*) FROM ${table} WHERE chain = ? AND seq < ?`).pluck().get(p.chain, p.toSeq) as number;
    const deleted = this.dropAuthorized(p.chain, p.toSeq, new Set(dropped.keys())) + inDropped;
    return { lastHash: lastHex, checkpointIndex, deleted };
  }

  /**
   * The closed hot partitions every row of which lies below its chain's purge end (the plan's, or
   * the purged prefix already recorded): checked against the catalog's seq ranges, then counted.
   */
  private droppablePartitions(plan: RetentionPlan): Map<number, string> {
    const out = new Map<number, string>();
    if (!isPartitioned(this.db)) return out;
    const end = new Map(plan.chains.map((p) => [p.chain, p.count > 0 ? p.toSeq : (this.purged(p.chain)?.size ?? 0)]));
    const ranges = partitionChainRanges(this.db);
    for (const part of livePartitions(this.db)) {
      if (part.state !== 'closed') continue;
      const chains = ranges.get(part.n) ?? [];
      if (chains.length === 0 || !chains.every((r) => r.lastSeq < (end.get(r.chain) ?? 0))) continue;
      // The catalog is what appends recorded: the table itself must hold nothing else.
      const covered = chains.reduce((sum, r) => sum + (this.db.prepare(`SELECT COUNT(*) FROM ${part.table} WHERE chain = ? AND seq < ?`).pluck().get(r.chain, end.get(r.chain)) as number), 0);
      const total = this.db.prepare(`SELECT COUNT(*) FROM ${part.table}`).pluck().get() as number;
      if (covered === total) out.set(part.n, part.table);
    }
    return out;
  }

  /**
   * When hot partitions lie wholly inside the plan: every chain's purge (prefix, audit row, the
   * narrow deletes outside those partitions) and the DROP TABLE of each, in one transaction.
   * Returns what each chain's purge did (empty: no partition to drop, chains purge one by one).
   */
  private purgeWithPartitionDrops(runId: string, plan: RetentionPlan): Map<string, { lastHash: string; checkpointIndex: number; deleted: number }> {
    const out = new Map<string, { lastHash: string; checkpointIndex: number; deleted: number }>();
    if (!isPartitioned(this.db)) return out;
    this.db
      .transaction(() => {
        const drops = this.droppablePartitions(plan);
        if (drops.size === 0) return;
        for (const p of plan.chains) if (p.count > 0) out.set(p.chain, this.purgeChainInTransaction(runId, p, drops));
        for (const n of drops.keys()) dropPartition(this.db, n);
      })
      .immediate();
    return out;
  }

  /** Deletes hot rows [fromSeq, toSeq) of a chain in every partition (the delete trigger lets them go once warm holds them). */
  private deleteHot(chain: string, fromSeq: number, toSeq: number): number {
    let n = 0;
    for (const table of this.hotTables()) n += this.db.prepare(`DELETE FROM ${table} WHERE chain = ? AND seq >= ? AND seq < ?`).run(chain, fromSeq, toSeq).changes;
    return n;
  }

  /**
   * Cold: writes the archive of [fromSeq, toSeq) (or finds the one an interrupted run left, after
   * re-verifying it), then in one transaction records it, advances the purged prefix to it and
   * drops its rows. A crash before the commit leaves the rows in place and the archive reusable.
   */
  private async archiveRange(runId: string, chain: string, fromSeq: number, toSeq: number, onStep?: RetentionRunOptions['onStep']): Promise<ColdMove> {
    const tiers = this.tiers!;
    const events = new TieredSqliteEventStore(this.db, tiers.protection);
    const range = this.describeRange(chain, fromSeq, toSeq);
    const written = await writeArchive(events, new SqliteCheckpointStore(this.db), { dataDir: tiers.dataDir, chain, fromSeq, toSeqExclusive: toSeq, publicKeys: tiers.publicKeys() });
    const rel = path.relative(tiers.dataDir, written.dir);
    onStep?.('archive-written', chain);
    const tx = this.db.transaction(() => {
      const { lastHex, checkpointIndex, at } = this.advancePrefix(chain, fromSeq, toSeq, runId);
      this.db
        .prepare(
          `INSERT INTO retention_archives (id, chain, from_seq, to_seq, count, first_received_at, last_received_at, last_hash, checkpoint_idx, path, created_at, run_id)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(written.id, chain, fromSeq, toSeq, range.count, range.firstReceivedAt, range.lastReceivedAt, lastHex, checkpointIndex, rel, at, runId);
      this.action(runId, chain, 'cold', fromSeq, toSeq, range.count, range.firstReceivedAt, range.lastReceivedAt, written.id, checkpointIndex);
      const dropped = this.dropAuthorized(chain, toSeq);
      if (dropped !== range.count) throw new Error(`retention: chain ${chain} changed while archiving; rerun`);
      return checkpointIndex;
    });
    const checkpointIndex = tx.immediate();
    return { ...range, archiveId: written.id, path: rel, checkpointIndex };
  }

  /**
   * Warm, whole partitions (oldest live partition first, stopping at the first that does not
   * qualify): a closed partition moves when, for every chain with rows in it, its rows there are
   * the chain's oldest hot ones (the first seq is the chain's hot start, so warm stays a prefix of
   * the chain below hot), hold no gap (the seq spans add up to the table's row count) and its last
   * one there was received before the chain's warm cutoff (receive times grow along a chain, as
   * `boundary` assumes). A chain of no category (the access log: no policy moves or deletes it)
   * follows the longest hot window of the policy.
   *
   * The records are compressed first, outside any write transaction: `INSERT INTO temp.warm_stage
   * ... SELECT ... audit_warm_record(event, sealed)` (a TEMP table is this connection's own: writing
   * it takes no lock on the database, appends go on). Then one write transaction copies the staged
   * rows into warm_events, writes one `warm` action row per chain and drops the partition
   * (dropPartition: DROP TABLE, no row delete, no trigger per row). A partition of more than
   * `chunkRows` rows goes in chunks of that many by position, so no transaction holds the write lock
   * for long: each but the last deletes its rows from the partition (a position prefix of it: each
   * chain's oldest hot rows, so a crash between chunks leaves a state a rerun continues from), the
   * last drops the partition. What does not qualify is left to the record by record move. Returns
   * per chain what moved.
   */
  private moveWholePartitions(runId: string, now: number, onStep?: RetentionRunOptions['onStep'], chunkRows = WHOLE_PARTITION_CHUNK_ROWS): Map<string, TierMove> {
    const moved = new Map<string, TierMove>();
    if (!isPartitioned(this.db)) return moved;
    const cutoffs = new Map(EVENT_CATEGORIES.map((c) => [c as string, retentionCutoffs(this.policy, c, now).warmIfReceivedBefore]));
    const longest = Math.min(...cutoffs.values());
    const cutoffOf = (chain: string) => cutoffs.get(categoryOfChain(chain) ?? '') ?? longest;
    this.db.exec(`CREATE TEMP TABLE IF NOT EXISTS warm_stage (${WARM_STAGE_COLUMNS.join(', ')})`);
    const cols = WARM_STAGE_COLUMNS.join(', ');
    for (;;) {
      const oldest = livePartitions(this.db)[0];
      if (!oldest || oldest.state !== 'closed' || !this.qualifiesWhole(oldest.table, cutoffOf)) break;
      const table = oldest.table;
      for (let after = -1; ; ) {
        this.db.exec('DELETE FROM temp.warm_stage');
        const staged = this.db
          .prepare(
            `INSERT INTO temp.warm_stage (${cols})
             SELECT pos, chain, seq, id, received_at, occurred_ms, category, action, outcome, actor_id, patient_id, ${WARM_RECORD_FUNCTION}(event, sealed), prev_hash, hash, 0, NULL
             FROM ${table} WHERE pos > ? ORDER BY pos LIMIT ?`,
          )
          .run(after, chunkRows).changes;
        const range = this.db.prepare('SELECT MIN(pos) AS lo, MAX(pos) AS hi FROM temp.warm_stage').get() as { lo: number | null; hi: number | null };
        const started = performance.now();
        const chunk = this.db
          .transaction(() => {
            const left = this.db.prepare(`SELECT COUNT(*) FROM ${table}`).pluck().get() as number;
            const inChunk = range.lo === null ? 0 : (this.db.prepare(`SELECT COUNT(*) FROM ${table} WHERE pos >= ? AND pos <= ?`).pluck().get(range.lo, range.hi) as number);
            if (inChunk !== staged) throw new Error(`retention: partition ${table} changed while moving to warm; rerun`);
            const copied = this.db.prepare(`INSERT INTO warm_events (${cols}) SELECT ${cols} FROM temp.warm_stage ORDER BY pos`).run().changes;
            if (copied !== staged) throw new Error(`retention: partition ${table} changed while moving to warm; rerun`);
            const rows = this.db
              .prepare('SELECT chain, MIN(seq) AS fromSeq, MAX(seq) + 1 AS toSeq, COUNT(*) AS count, MIN(received_at) AS first, MAX(received_at) AS last FROM temp.warm_stage GROUP BY chain ORDER BY chain')
              .all() as { chain: string; fromSeq: number; toSeq: number; count: number; first: string; last: string }[];
            for (const r of rows) this.action(runId, r.chain, 'warm', r.fromSeq, r.toSeq, r.count, r.first, r.last, null, null);
            const last = left === staged;
            // The last chunk drops the partition; an earlier one deletes its rows (warm holds them now).
            if (last) dropPartition(this.db, oldest.n);
            else if (this.db.prepare(`DELETE FROM ${table} WHERE pos >= ? AND pos <= ?`).run(range.lo, range.hi).changes !== staged) {
              throw new Error(`retention: partition ${table} changed while moving to warm; rerun`);
            }
            return { rows, last };
          })
          .immediate();
        for (const r of chunk.rows) {
          moved.set(r.chain, joinMoves(moved.get(r.chain) ?? null, { fromSeq: r.fromSeq, toSeq: r.toSeq, count: r.count, firstReceivedAt: r.first, lastReceivedAt: r.last })!);
        }
        onStep?.('warm-partition', table, performance.now() - started);
        if (chunk.last) break;
        after = range.hi!;
      }
    }
    this.db.exec('DELETE FROM temp.warm_stage');
    return moved;
  }

  /** Whether a closed partition may move to warm whole (see moveWholePartitions). */
  private qualifiesWhole(table: string, cutoffOf: (chain: string) => number): boolean {
    return this.db
      .transaction(() => {
        const edge = this.db.prepare(`SELECT received_at FROM ${table} WHERE chain = ? AND seq = ?`).pluck();
        let span = 0;
        for (const c of chainExtentsOf(this.db, table)) {
          if (this.hotStart(c.chain) !== c.firstSeq) return false;
          if (!(Date.parse(edge.get(c.chain, c.lastSeq) as string) < cutoffOf(c.chain))) return false;
          span += c.lastSeq - c.firstSeq + 1;
        }
        return span === (this.db.prepare(`SELECT COUNT(*) FROM ${table}`).pluck().get() as number);
      })
      .deferred();
  }

  /** Warm: copies hot rows into warm_events and deletes them from hot, one transaction per batch. */
  private moveToWarm(runId: string, chain: string, fromSeq: number, toSeq: number, onStep?: RetentionRunOptions['onStep']): TierMove {
    const insert = this.warmInsert();
    const select = this.db.prepare(
      'SELECT pos, seq, id, received_at, occurred_ms, category, action, outcome, actor_id, patient_id, event, sealed, prev_hash, hash FROM events WHERE chain = ? AND seq >= ? AND seq < ? ORDER BY seq',
    );

    const BATCH = 2000;
    const move: TierMove = { fromSeq, toSeq: fromSeq, count: 0, firstReceivedAt: null, lastReceivedAt: null };
    for (let lo = fromSeq; lo < toSeq; lo += BATCH) {
      const hi = Math.min(toSeq, lo + BATCH);
      const started = performance.now();
      this.db.transaction(() => {
        const rows = select.all(chain, lo, hi) as {
          pos: number; seq: number; id: string; received_at: string; occurred_ms: number; category: string; action: string; outcome: string;
          actor_id: string; patient_id: string | null; event: string; sealed: Buffer | null; prev_hash: Buffer; hash: Buffer;
        }[];
        if (rows.length !== hi - lo) throw new Error(`retention: chain ${chain} has no record at some seq in ${lo}..${hi - 1}; run verification`);
        for (const r of rows) {
          // Stored text and sealed blob as hot keeps them: nothing is decrypted on the way.
          insert.run(r.pos, chain, r.seq, r.id, r.received_at, r.occurred_ms, r.category, r.action, r.outcome, r.actor_id, r.patient_id, encodeWarmRecord(r.event, r.sealed), r.prev_hash, r.hash, 0, null);
        }
        const deleted = this.deleteHot(chain, lo, hi);
        if (deleted !== rows.length) throw new Error(`retention: chain ${chain} changed while moving to warm; rerun`);
        this.action(runId, chain, 'warm', lo, hi, rows.length, rows[0].received_at, rows[rows.length - 1].received_at, null, null);
        if (move.firstReceivedAt === null) move.firstReceivedAt = rows[0].received_at;
        move.lastReceivedAt = rows[rows.length - 1].received_at;
        move.count += rows.length;
        move.toSeq = hi;
      }).immediate();
      onStep?.('warm-batch', chain, performance.now() - started);
    }
    return move;
  }

  /**
   * Deletes the chain's archives whose every record is past the retention window, unless a legal
   * hold covers one of them (checked against the archive's own records), with their restored copies.
   */
  private async deleteExpiredArchives(runId: string | null, chain: string, cutoff: number, dryRun: boolean): Promise<{ deleted: (TierMove & { archiveId: string })[]; held: number }> {
    const out: { deleted: (TierMove & { archiveId: string })[]; held: number } = { deleted: [], held: 0 };
    const expired = this.archives(chain).filter((a) => a.deletedAt === null && a.lastReceivedAt !== null && Date.parse(a.lastReceivedAt) < cutoff);
    if (expired.length === 0) return out;
    const tiers = this.tiers!;
    const matcher = holdMatcher(await this.holds.list('active'));
    for (const a of expired) {
      const dir = path.join(tiers.dataDir, a.path);
      const manifest = await verifyArchive(dir, tiers.publicKeys(), { fromSeq: a.fromSeq, toSeq: a.toSeq - 1 }).catch((err: unknown) => {
        // An archive that no longer verifies is evidence: never delete it silently.
        throw new ArchiveVerificationError(`retention: ${(err as Error).message}; not deleting it`);
      });
      let held = false;
      for await (const r of readArchiveRecords(dir, manifest)) {
        const event = JSON.parse(r.eventJson) as AccessEvent;
        // A hold names the patient by id; match the token too, in case a store only had that.
        if (matcher(event) || (event.patient !== undefined && matcher({ ...event, patient: { id: tiers.protection.patientToken(event.patient.id) } }))) {
          held = true;
          break;
        }
      }
      if (held) {
        out.held++;
        continue;
      }
      const move = { archiveId: a.id, fromSeq: a.fromSeq, toSeq: a.toSeq, count: a.count, firstReceivedAt: a.firstReceivedAt, lastReceivedAt: a.lastReceivedAt };
      if (!dryRun) {
        this.db.transaction(() => {
          const at = new Date().toISOString();
          this.db.prepare('UPDATE retention_archives SET deleted_at = ?, deleted_by_run = ? WHERE id = ?').run(at, runId, a.id);
          this.action(runId!, chain, 'delete_archive', a.fromSeq, a.toSeq, a.count, a.firstReceivedAt, a.lastReceivedAt, a.id, a.checkpointIndex);
          this.db.prepare('INSERT OR REPLACE INTO retention_purge_authorizations (chain, below_seq, run_id) VALUES (?, ?, ?)').run(chain, a.toSeq, runId);
          this.db.prepare('DELETE FROM warm_events WHERE chain = ? AND seq >= ? AND seq < ? AND restored = 1').run(chain, a.fromSeq, a.toSeq);
          this.db.prepare('DELETE FROM retention_purge_authorizations WHERE chain = ?').run(chain);
        }).immediate();
        fs.rmSync(dir, { recursive: true, force: true });
      }
      out.deleted.push(move);
    }
    return out;
  }

  /** Removes the files of archives recorded as deleted whose removal a crash interrupted. */
  private sweepDeletedArchives(): void {
    if (!this.tiers) return;
    for (const a of this.archives()) if (a.deletedAt !== null) fs.rmSync(path.join(this.tiers.dataDir, a.path), { recursive: true, force: true });
  }
}

/** The SQL function the runner registers on its connection: a hot row's (event, sealed) as its warm record blob. */
const WARM_RECORD_FUNCTION = 'audit_warm_record';

/** warm_events' columns, in the order the staging table has them. */
const WARM_STAGE_COLUMNS = ['pos', 'chain', 'seq', 'id', 'received_at', 'occurred_ms', 'category', 'action', 'outcome', 'actor_id', 'patient_id', 'record', 'prev_hash', 'hash', 'restored', 'archive_id'];

/**
 * Rows a whole-partition move copies in one write transaction. The transaction's time is the copy
 * into warm_events' indexes (~8 µs of CPU a row) and the commit of what it wrote to the WAL:
 * measured 16-19 s for 100,000 rows on a loaded machine (docs/benchmarks.md stop 29),
 * where appends wait at most 5 s (busy timeout). A larger partition goes in chunks; every chunk
 * but the last deletes its rows, so a smaller bound costs row deletes (~10 µs a row).
 */
export const WHOLE_PARTITION_CHUNK_ROWS = 50_000;

/** Two moves of one chain, the second starting where the first ends, as one (either may be null). */
function joinMoves(a: TierMove | null, b: TierMove | null): TierMove | null {
  if (!a || !b) return a ?? b;
  return { fromSeq: a.fromSeq, toSeq: b.toSeq, count: a.count + b.count, firstReceivedAt: a.firstReceivedAt, lastReceivedAt: b.lastReceivedAt };
}
