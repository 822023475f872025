/**
 * The queue header's counts with STORE=elasticsearch, on the client's official test double
 * (EsFake): alerts stored through the Elasticsearch alert store are counted by severity (in
 * severity order) and by rule, for one status or all, from the shared index.
 */
import * as crypto from 'node:crypto';
import { EsFake } from '@app/storage/elasticsearch/es-fake';
import { SealedText } from '@app/storage/sqlite/sealed-fields';
import { DetectionAlert } from '@app/detection';
import { ElasticsearchAlertStore } from '@app/detection/service/es-alert-store';
import { AlertCounts } from './alert-counts';

const key = crypto.createSecretKey(crypto.randomBytes(32));
const sealer = new SealedText({ current: () => ({ keyId: 'k1', key }), byId: (id) => (id === 'k1' ? key : undefined), lists: (id) => id === 'k1' });

function alert(n: number, ruleId: string, severity: DetectionAlert['severity']): DetectionAlert {
  const end = new Date(Date.parse('2026-03-03T10:00:00Z') + n * 60_000).toISOString();
  const id = `00000000-0000-8000-8000-${String(n).padStart(12, '0')}`;
  return {
    id, ruleId, title: ruleId, severity, kind: 'match', runbook: 'r', tags: [], groupKey: { 'actor.id': `u-${n}` }, windowStart: end, windowEnd: end, count: 1,
    evidence: { eventIds: [id], firstEventId: id, lastEventId: id, total: 1, truncated: false },
    summary: { eventCount: 1, firstEventAt: end, lastEventAt: end, spanMs: 0, distinctPatients: 0, topPatients: [], distinctActors: 1, actors: [], distinctSourceIps: 0, sourceIps: [], sourceSystems: [], integrations: [] },
    position: n, reasons: [], actor: `u-${n}`,
  } as DetectionAlert;
}

describe('alert counts from Elasticsearch', () => {
  it('counts the shared index by severity and rule, for a status or all', async () => {
    const fake = new EsFake();
    const store = new ElasticsearchAlertStore(fake.client(), 'audit-alerts', sealer, { sleep: async () => undefined });
    await store.saveAll([alert(1, 'break-glass-access', 'high'), alert(2, 'break-glass-access', 'high'), alert(3, 'bulk-phi-read', 'critical'), alert(4, 'after-hours', 'low')], '2026-03-03T12:00:00.000Z');
    await store.transition(alert(4, 'after-hours', 'low').id, { action: 'resolve', by: 'analyst', note: 'ok', at: '2026-03-03T12:05:00.000Z' });
    const counts = new AlertCounts(null, { client: fake.client(), index: 'audit-alerts' });
    expect(await counts.counts()).toEqual({
      bySeverity: [{ severity: 'critical', count: 1 }, { severity: 'high', count: 2 }, { severity: 'low', count: 1 }],
      byRule: [{ rule: 'break-glass-access', count: 2 }, { rule: 'after-hours', count: 1 }, { rule: 'bulk-phi-read', count: 1 }],
      total: 4,
    });
    expect((await counts.counts('open'))?.total).toBe(3);
    expect((await counts.counts('resolved'))?.byRule).toEqual([{ rule: 'after-hours', count: 1 }]);
  });
});
