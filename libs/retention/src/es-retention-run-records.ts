/**
 * Retention-run records in Elasticsearch (STORE=elasticsearch; the RetentionRunRecords port): one
 * document per run in `<prefix>-retention-runs` (RETENTION_RUN_MAPPINGS, created at start with the
 * other small indices), `_id` the run id, created with op_type=create and refresh=wait_for, so a
 * run is listed by every instance once it returns. The list fields are indexed; the full report is
 * kept as stored JSON. Not exported from the library index: it loads @elastic/elasticsearch; import
 * it lazily (`@app/retention/es-retention-run-records`).
 */
import type { Client } from '@elastic/elasticsearch';
import { EsRequestOptions, EsRequests } from '@app/storage/elasticsearch/es-requests';
import { StoreUnavailableError } from '@app/storage';
import { RetentionRunRecord, RetentionRunRecords } from './retention-run-records.port';

interface RunDoc {
  id: string;
  startedAt: string;
  finishedAt: string;
  now: string;
  trigger: string;
  status: string;
  deleted: number;
  report: string;
}

export class EsRetentionRunRecords implements RetentionRunRecords {
  private readonly es: EsRequests;

  constructor(
    client: Client,
    private readonly index: string,
    options: EsRequestOptions = {},
  ) {
    this.es = new EsRequests(client, options);
  }

  async add({ report, trigger }: RetentionRunRecord): Promise<void> {
    if (!report.runId) throw new Error('a dry run is not recorded');
    const doc: RunDoc = {
      id: report.runId,
      startedAt: report.startedAt,
      finishedAt: report.finishedAt,
      now: report.now,
      trigger,
      status: 'completed',
      deleted: report.deleted,
      report: JSON.stringify(report),
    };
    const [item] = await this.es.bulk([{ action: { create: { _index: this.index, _id: doc.id } }, doc }]);
    if (item.status !== 409 && (item.status < 200 || item.status >= 300)) throw new StoreUnavailableError(`retention run record write failed: ${item.error?.type ?? item.status}`);
  }

  async recent(limit: number): Promise<RetentionRunRecord[]> {
    const hits = await this.es.search<RunDoc>(this.index, { size: limit, query: { match_all: {} }, sort: [{ startedAt: { order: 'desc' } }, { id: { order: 'desc' } }] });
    return hits.map((h) => toRecord(h.source));
  }

  async byId(id: string): Promise<RetentionRunRecord | null> {
    const doc = (await this.es.mget<RunDoc>(this.index, [id])).get(id);
    return doc ? toRecord(doc.source) : null;
  }
}

function toRecord(d: RunDoc): RetentionRunRecord {
  return { report: JSON.parse(d.report) as RetentionRunRecord['report'], trigger: d.trigger };
}
