/**
 * Retention runs over HTTP and on the schedule with STORE=elasticsearch: the Elasticsearch retention
 * run (EsRetentionRunner: expired backing indices deleted after their chains' purged prefixes are
 * recorded) behind the same RetentionRunPort the embedded runner serves, so `POST /v1/retention/runs`
 * (dry runs too) and `GET /v1/retention/runs` answer the same shapes. Each chain's line says what
 * the run purged of it; `elasticsearch` lists the backing indices and the first one kept per class.
 *
 * Runs are recorded in the cluster (RetentionRunRecords: `<prefix>-retention-runs`), so every
 * instance lists the runs any instance made, also after a restart; every run is also logged (index
 * names, chains and counts, never PHI).
 */
import { randomUUID } from 'node:crypto';
import type { EventCategory } from '@app/core';
import { RetentionPolicy, RetentionRunChain, RetentionRunListing, RetentionRunOptions, RetentionRunPort, RetentionRunRecords, RetentionRunReport, retentionCutoffs, retentionRunListing } from '@app/retention';
import type { EsRetentionReport, EsRetentionRunner } from '@app/storage/scale-out-adapters';

export class EsRetentionRuns implements RetentionRunPort {
  constructor(
    private readonly runner: EsRetentionRunner,
    private readonly policy: RetentionPolicy,
    private readonly records: RetentionRunRecords,
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
    if (!options.dryRun) await this.records.add({ report, trigger: options.trigger });
    return report;
  }

  async runs(limit = 20): Promise<RetentionRunListing[]> {
    return (await this.records.recent(limit)).map(retentionRunListing);
  }

  async runDetail(id: string): Promise<Record<string, unknown> | null> {
    const found = await this.records.byId(id);
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
