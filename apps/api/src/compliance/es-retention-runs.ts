/**
 * Retention runs over HTTP and on the schedule with STORE=elasticsearch: the Elasticsearch retention
 * run (EsRetentionRunner: expired backing indices deleted after their chains' purged prefixes are
 * recorded) behind the same RetentionRunPort the embedded runner serves, so `POST /v1/retention/runs`
 * (dry runs too) and `GET /v1/retention/runs` answer the same shapes. Each chain's line says what
 * the run purged of it; `elasticsearch` lists the backing indices and the first one kept per class.
 *
 * Runs are recorded in this instance's memory only (the most recent 100, lost at restart); every
 * run is also logged (index names, chains and counts, never PHI).
 */
import { randomUUID } from 'node:crypto';
import type { EventCategory } from '@app/core';
import { RetentionPolicy, RetentionRunChain, RetentionRunOptions, RetentionRunPort, RetentionRunReport, retentionCutoffs } from '@app/retention';
import type { EsRetentionReport, EsRetentionRunner } from '@app/storage/scale-out-adapters';

const KEPT_RUNS = 100;

interface RecordedRun {
  report: RetentionRunReport;
  trigger: string;
}

export class EsRetentionRuns implements RetentionRunPort {
  private readonly recorded: RecordedRun[] = [];

  constructor(
    private readonly runner: EsRetentionRunner,
    private readonly policy: RetentionPolicy,
  ) {}

  async run(options: RetentionRunOptions): Promise<RetentionRunReport> {
    const startedAt = new Date().toISOString();
    const es = await this.runner.run({ now: options.now, dryRun: options.dryRun });
    const report: RetentionRunReport = {
      runId: options.dryRun ? null : randomUUID(),
      dryRun: options.dryRun,
      now: es.now,
      startedAt,
      finishedAt: new Date().toISOString(),
      deleted: es.records,
      warmed: 0,
      archived: 0,
      chains: this.chains(es, options.now),
      elasticsearch: { deleted: es.deleted, kept: es.kept },
    };
    if (!options.dryRun) {
      this.recorded.unshift({ report, trigger: options.trigger });
      this.recorded.length = Math.min(this.recorded.length, KEPT_RUNS);
    }
    return report;
  }

  runs(limit = 20): ReturnType<RetentionRunPort['runs']> {
    return this.recorded.slice(0, limit).map(({ report, trigger }) => ({
      id: report.runId!,
      startedAt: report.startedAt,
      finishedAt: report.finishedAt,
      now: report.now,
      trigger,
      status: 'completed',
      deleted: report.deleted,
    }));
  }

  runDetail(id: string): Record<string, unknown> | null {
    const found = this.recorded.find((r) => r.report.runId === id);
    if (!found) return null;
    const r = found.report;
    return { id, startedAt: r.startedAt, finishedAt: r.finishedAt, now: r.now, trigger: found.trigger, status: 'completed', deleted: r.deleted, summary: r };
  }

  /** One line per chain the run purged: from the first to the last index it deleted of the chain. */
  private chains(es: EsRetentionReport, now: number): RetentionRunChain[] {
    const byChain = new Map<string, RetentionRunChain>();
    for (const index of es.deleted) {
      for (const c of index.chains) {
        const line = byChain.get(c.chain);
        if (line) {
          line.toSeq = c.toSeq;
          line.count = c.toSeq - line.fromSeq;
          line.checkpointIndex = c.checkpointIndex;
          line.lastReceivedAt = index.newestReceivedAt;
          continue;
        }
        byChain.set(c.chain, {
          chain: c.chain,
          category: index.category,
          deleteIfReceivedBefore: new Date(retentionCutoffs(this.policy, index.category, now).deleteIfReceivedBefore).toISOString(),
          fromSeq: c.fromSeq,
          toSeq: c.toSeq,
          count: c.toSeq - c.fromSeq,
          firstReceivedAt: null,
          lastReceivedAt: index.newestReceivedAt,
          keptBecause: keptBecause(es, index.category),
          stopSeq: null,
          lastHash: null,
          checkpointIndex: c.checkpointIndex,
          heldRecords: 0,
          warm: null,
          cold: [],
          archivesDeleted: [],
          archivesHeld: 0,
        });
      }
    }
    return [...byChain.values()].sort((a, b) => (a.chain < b.chain ? -1 : a.chain > b.chain ? 1 : 0));
  }
}

/** Why the class's purge stopped where it did (`chain_end`: nothing past the window was kept). */
function keptBecause(es: EsRetentionReport, category: EventCategory): RetentionRunChain['keptBecause'] {
  const kept = es.kept.find((k) => k.category === category)?.because;
  if (kept === undefined) return 'chain_end';
  return kept;
}
