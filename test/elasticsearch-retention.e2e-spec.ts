/**
 * Retention with STORE=elasticsearch through the service (issue 17), on the store's Elasticsearch
 * double served over HTTP: an admin's dry run (POST /v1/retention/runs) says what would go and
 * deletes nothing; the scheduled retention run (the RETENTION_CRON job's Elasticsearch step) deletes the backing index whose records are past their window only after recording its
 * chain's purged prefix, and afterwards, over HTTP: verification passes and says how many records
 * were purged, a kept event's inclusion proof still checks against the signed checkpoint, and a
 * purged event answers 404 by id. The run is recorded in the cluster (`<prefix>-retention-runs`): a
 * second instance started afterwards lists it and shows its report. Not run against a real
 * Elasticsearch (none can be installed here).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfig } from '@app/core';
import { InclusionProofDocument, verifyInclusionProofDocument } from '@app/ledger';
import { parsePublicKeysText } from '@app/ledger/portable-verifier';
import { RetentionScheduler } from '../apps/api/src/compliance/retention-schedule.module';
import { readyOnElasticsearch } from './support/es-instances';
import { EsFakeServer, startEsFakeServer } from './support/es-fake-server';
import { accessEvent } from './support/events';
import { TestApp, startTestApp, tempDataDir } from './support/test-app';

describe('retention on Elasticsearch through the service', () => {
  let es: EsFakeServer;
  let t: TestApp;
  let runId: string | null = null;
  beforeAll(async () => {
    es = await startEsFakeServer();
    t = await startTestApp({ scaleOut: loadConfig({ STORE: 'elasticsearch', ELASTICSEARCH_URL: es.url }).scaleOut!, compliance: { reportPageSize: 1000, retentionAllowTimeTravel: true } });
    await readyOnElasticsearch(t);
  });
  afterAll(async () => {
    await t.close();
    await es.close();
  });

  it('deletes an expired backing index after recording the purged prefix: verify passes and reports it, kept events still prove, purged ones are gone', async () => {
    const integration = await t.client('integration', 'sample-ehr');
    const auditor = await t.client('auditor');
    const old = [accessEvent({ patient: { id: 'MRN-RET-1' } }), accessEvent({ patient: { id: 'MRN-RET-2' } }), accessEvent({ patient: { id: 'MRN-RET-3' } })];
    expect((await integration.request('POST', '/v1/events', { events: old })).status).toBe(202);
    // A proof seals a checkpoint over the records it needs: the old index's records are sealed.
    expect((await auditor.request('GET', `/v1/events/${old[2].id}/proof`)).status).toBe(200);
    es.fake.rollover();
    const kept = accessEvent({ patient: { id: 'MRN-RET-4' } });
    expect((await integration.request('POST', '/v1/events', kept)).status).toBe(202);

    // Seven years on (data_access keeps six by default). An admin's dry run over HTTP says what would go and deletes nothing.
    const sevenYears = Date.now() + 7 * 366 * 86_400_000;
    const admin = await t.client('admin', 'u-admin-es-ret');
    const dry = await admin.request('POST', '/v1/retention/runs', { dryRun: true, now: new Date(sevenYears).toISOString() });
    expect(dry.status).toBe(200);
    const dryReport = JSON.parse(dry.body) as { runId: null; deleted: number; chains: { chain: string; count: number }[]; elasticsearch: { deleted: { index: string }[] } };
    expect(dryReport).toMatchObject({ runId: null, dryRun: true, deleted: 3 });
    expect(dryReport.elasticsearch.deleted.map((d) => d.index)).toContain('.ds-audit-events-data_access-0');
    expect(dryReport.chains.find((c) => c.chain === 'data_access')).toMatchObject({ fromSeq: 0, toSeq: 3, count: 3 });
    expect(es.fake.indexDeletes).toEqual([]);
    const compliance = await t.client('compliance_officer');
    expect((await compliance.request('GET', `/v1/events/${old[0].id}`)).status).toBe(200);

    // The scheduled run (the RETENTION_CRON job's Elasticsearch step) deletes it.
    const report = await t.app.get(RetentionScheduler).runElasticsearchNow(sevenYears);
    expect(report?.elasticsearch?.deleted.find((d) => d.index === '.ds-audit-events-data_access-0')).toMatchObject({ records: 3, idsDeleted: 3, chains: [{ chain: 'data_access', fromSeq: 0, toSeq: 3 }] });
    expect(report?.chains.find((c) => c.chain === 'data_access')).toMatchObject({ fromSeq: 0, toSeq: 3, count: 3 });
    expect(es.fake.indexDeletes).toContain('.ds-audit-events-data_access-0');
    expect(t.logLines.some((l) => l.includes('retention run') && l.includes('.ds-audit-events-data_access-0'))).toBe(true);
    const runs = JSON.parse((await admin.request('GET', '/v1/retention/runs')).body) as { runs: { id: string; trigger: string; deleted: number }[] };
    expect(runs.runs[0]).toMatchObject({ id: report!.runId, trigger: 'schedule', deleted: report!.deleted });
    runId = report!.runId;

    const verified = await auditor.request('GET', '/v1/integrity/verify?chain=data_access');
    expect(verified.status).toBe(200);
    const body = JSON.parse(verified.body) as { ok: boolean; chains: { chain: string; purged: number; verified: number }[] };
    expect(body.ok).toBe(true);
    expect(body.chains).toEqual([expect.objectContaining({ chain: 'data_access', purged: 3, verified: 1 })]);

    const proof = await auditor.request('GET', `/v1/events/${kept.id}/proof`);
    expect(proof.status).toBe(200);
    const doc = JSON.parse(proof.body) as InclusionProofDocument;
    // The public keys as a verifier gets them (the checkpoints listing carries them).
    const listing = await auditor.request('GET', '/v1/integrity/checkpoints');
    const key = parsePublicKeysText(listing.body).find((k) => k.keyId === doc.checkpoint.keyId)!;
    expect(verifyInclusionProofDocument(doc, key.publicKeyPem)).toEqual({ ok: true, reason: null });

    expect((await compliance.request('GET', `/v1/events/${old[0].id}`)).status).toBe(404);
    expect((await compliance.request('GET', `/v1/events/${old[0].id}/proof`)).status).toBe(404);
    expect((await compliance.request('GET', `/v1/events/${kept.id}`)).status).toBe(200);
  });

  it('another instance lists the run and shows its report: the record is in the cluster, not in the memory of the instance that ran it', async () => {
    expect(runId).not.toBeNull();
    const dirB = tempDataDir('audit-es-ret-b-');
    fs.cpSync(path.join(t.dataDir, 'keys'), path.join(dirB, 'keys'), { recursive: true });
    const b = await startTestApp({ dataDir: dirB, scaleOut: loadConfig({ STORE: 'elasticsearch', ELASTICSEARCH_URL: es.url }).scaleOut! });
    try {
      await readyOnElasticsearch(b);
      const admin = await b.client('admin', 'u-admin-es-ret-b');
      const listed = JSON.parse((await admin.request('GET', '/v1/retention/runs')).body) as { runs: { id: string; trigger: string; deleted: number; status: string }[] };
      expect(listed.runs).toEqual([expect.objectContaining({ id: runId, trigger: 'schedule', deleted: 3, status: 'completed' })]);
      const detail = await admin.request('GET', `/v1/retention/runs/${runId}`);
      expect(detail.status).toBe(200);
      const summary = (JSON.parse(detail.body) as { summary: { chains: { chain: string; count: number }[]; elasticsearch: { deleted: { index: string }[] } } }).summary;
      expect(summary.chains.find((c) => c.chain === 'data_access')).toMatchObject({ count: 3 });
      expect(summary.elasticsearch.deleted.map((d) => d.index)).toContain('.ds-audit-events-data_access-0');
      // One document per run, created at start with its mapping.
      expect([...(es.fake.indices.get('audit-retention-runs')?.keys() ?? [])]).toEqual([runId]);
    } finally {
      await b.close();
    }
  }, 60_000);
});
