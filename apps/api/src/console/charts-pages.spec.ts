/**
 * The alert-volume chart with STORE=elasticsearch, on the Elasticsearch double (EsFake): alerts stored
 * through the Elasticsearch alert store are counted per day (or hour) and severity from the shared
 * index, the window ending on the newest alert's day unless `to` is given.
 */
import * as crypto from 'node:crypto';
import { EsFake } from '@app/storage/elasticsearch/es-fake';
import { SealedText } from '@app/storage/sqlite/sealed-fields';
import { DetectionAlert } from '@app/detection';
import { ElasticsearchAlertStore } from '@app/detection/service/es-alert-store';
import { ChartsPagesService } from './charts-pages.service';

const key = crypto.createSecretKey(crypto.randomBytes(32));
const sealer = new SealedText({ current: () => ({ keyId: 'k1', key }), byId: (id) => (id === 'k1' ? key : undefined), lists: (id) => id === 'k1' });

function alert(n: number, end: string, severity: DetectionAlert['severity']): DetectionAlert {
  const id = `00000000-0000-8000-8000-${String(n).padStart(12, '0')}`;
  return {
    id, ruleId: 'r', title: 'r', severity, kind: 'match', runbook: 'r', tags: [], groupKey: { 'actor.id': `u-${n}` }, windowStart: end, windowEnd: end, count: 1,
    evidence: { eventIds: [id], firstEventId: id, lastEventId: id, total: 1, truncated: false },
    summary: { eventCount: 1, firstEventAt: end, lastEventAt: end, spanMs: 0, distinctPatients: 0, topPatients: [], distinctActors: 1, actors: [], distinctSourceIps: 0, sourceIps: [], sourceSystems: [], integrations: [] },
    position: n, reasons: [], actor: `u-${n}`,
  } as DetectionAlert;
}

type Volume = { available: boolean; to?: string; chart?: { table: { rows: string[][] } } };

describe('alert volume from Elasticsearch', () => {
  it('counts the shared index per day and hour by severity', async () => {
    const fake = new EsFake();
    const store = new ElasticsearchAlertStore(fake.client(), 'audit-alerts', sealer, { sleep: async () => undefined });
    await store.saveAll(
      [
        alert(1, '2026-03-01T23:59:59.999Z', 'high'),
        alert(2, '2026-03-03T00:00:00.000Z', 'high'),
        alert(3, '2026-03-03T10:15:00.000Z', 'critical'),
        alert(4, '2026-03-03T10:45:00.000Z', 'high'),
        alert(5, '2026-03-03T23:00:00.000Z', 'low'),
        alert(6, '2026-02-20T12:00:00.000Z', 'medium'), // before a 7-day window ending 2026-03-03
      ],
      '2026-03-04T00:00:00.000Z',
    );
    const charts = new ChartsPagesService(null, { client: fake.client(), index: 'audit-alerts' });

    // Period, Low, Medium, High, Critical, Total; ends on the newest alert's day.
    const week = (await charts.alertVolume({ days: '7' })) as Volume;
    expect(week.available).toBe(true);
    expect(week.to).toBe('2026-03-03');
    expect(week.chart!.table.rows).toEqual([
      ['2026-02-25', '0', '0', '0', '0', '0'],
      ['2026-02-26', '0', '0', '0', '0', '0'],
      ['2026-02-27', '0', '0', '0', '0', '0'],
      ['2026-02-28', '0', '0', '0', '0', '0'],
      ['2026-03-01', '0', '0', '1', '0', '1'],
      ['2026-03-02', '0', '0', '0', '0', '0'],
      ['2026-03-03', '1', '0', '2', '1', '4'],
    ]);

    const month = (await charts.alertVolume({ days: '30', to: '2026-03-03' })) as Volume;
    expect(month.chart!.table.rows.find((r) => r[0] === '2026-02-20')).toEqual(['2026-02-20', '0', '1', '0', '0', '1']);

    // Hours: the 10h bucket holds the critical and the high of 10:45.
    const hours = (await charts.alertVolume({ days: '2' })) as Volume;
    expect(hours.chart!.table.rows).toHaveLength(48);
    expect(hours.chart!.table.rows.filter((r) => r[5] !== '0')).toEqual([
      ['03-03 00h', '0', '0', '1', '0', '1'],
      ['03-03 10h', '0', '0', '1', '1', '2'],
      ['03-03 23h', '1', '0', '0', '0', '1'],
    ]);
  });

  it('says no chart when neither store is there', async () => {
    expect(((await new ChartsPagesService(null).alertVolume({})) as Volume).available).toBe(false);
  });
});
