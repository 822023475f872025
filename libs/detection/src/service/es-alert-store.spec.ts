/**
 * The Elasticsearch AlertStore against the client's official test double (EsFake over
 * @elastic/elasticsearch-mock): exact write requests (op_type=create on the alert id, sealed
 * record, refresh=wait_for), the search a list sends, and lifecycle transitions fenced with
 * if_seq_no/if_primary_term so two analysts never lose a change. What every AlertStore does
 * (idempotent saves, filters and cursors, transitions, cases) is the contract in
 * test/contracts/alert-store.contract.ts, run on this adapter too.
 */
import * as crypto from 'node:crypto';
import { EsFake } from '@app/storage/elasticsearch/es-fake';
import { SealedText } from '@app/storage/sqlite/sealed-fields';
import { caseIdFor } from '../alert-cases';
import { ElasticsearchAlertStore } from './es-alert-store';
import { detectionAlert as alert } from '../../../../test/contracts/alert-store.contract';


const key = crypto.createSecretKey(crypto.randomBytes(32));
const sealer = new SealedText({ current: () => ({ keyId: 'k1', key }), byId: (id) => (id === 'k1' ? key : undefined), lists: (id) => id === 'k1' });

function store(fake = new EsFake()) {
  return { fake, alerts: new ElasticsearchAlertStore(fake.client(), 'audit-alerts', sealer, { sleep: async () => undefined }) };
}

describe('ElasticsearchAlertStore', () => {
  it('creates each alert once on its id, with the record sealed and only the list columns in clear', async () => {
    const { fake, alerts } = store();
    const [result] = await alerts.saveAll([alert(1)], '2026-03-03T10:05:00.000Z');
    expect(result.created).toBe(true);
    expect(fake.requests.find((r) => r.path === '/_bulk')!.querystring).toEqual({ refresh: 'wait_for' });
    const [[op]] = fake.bulks();
    expect(op.action).toEqual({ create: { _index: 'audit-alerts', _id: alert(1).id } });
    expect(op.doc).toEqual({
      id: alert(1).id,
      ruleId: 'bulk-phi-read',
      severity: 'high',
      status: 'open',
      windowEndMs: Date.parse(alert(1).windowEnd),
      position: 1,
      createdAt: '2026-03-03T10:05:00.000Z',
      updatedAt: '2026-03-03T10:05:00.000Z',
      record: expect.any(String),
      // Case work: the user (actor ids are list columns, as in the event index) and the case.
      actorId: 'u-1',
      caseId: caseIdFor(alert(1).id),
    });
    // The stored record is ciphertext: no patient id in what Elasticsearch holds.
    expect(JSON.stringify(op.doc)).not.toContain('MRN-1');
    expect(Buffer.from(op.doc.record as string, 'base64').toString('latin1')).not.toContain('MRN-1');
    expect(await alerts.get(alert(1).id)).toEqual(result.record);
    expect(result.record.groupKey['patient.id']).toBe('MRN-1');
    // Reasons, actor and patient are part of the stored (sealed) record and come back with it.
    const withPatient = await alerts.save(alert(3, { patient: 'MRN-3', reasons: ['same-surname', 'vip-record'] }), '2026-03-03T10:05:00.000Z');
    expect(await alerts.get(alert(3).id)).toMatchObject({ reasons: ['same-surname', 'vip-record'], actor: 'u-3', patient: 'MRN-3' });
    expect(withPatient.record.reasons).toEqual(['same-surname', 'vip-record']);
  });

  it('a replay is refused by the cluster itself (create on the alert id answered 409): one document per alert', async () => {
    const { fake, alerts } = store();
    await alerts.saveAll([alert(1), alert(2)], '2026-03-03T10:05:00.000Z');
    expect((await alerts.save(alert(1, { count: 99 }), '2026-03-03T11:00:00.000Z')).created).toBe(false);
    expect(fake.indices.get('audit-alerts')!.size).toBe(2);
    expect(fake.conflicts.get('audit-alerts')).toBe(1);
  });

  it('lists with one search: filters as terms and a window range, newest first', async () => {
    const { fake, alerts } = store();
    await alerts.saveAll(Array.from({ length: 10 }, (_, i) => alert(i + 1)), '2026-03-03T12:00:00.000Z');
    fake.requests.length = 0;
    const bulk = await alerts.list({ limit: 100, rule: 'bulk-phi-read', severity: 'high', status: 'open', from: alert(5).windowEnd, to: alert(8).windowEnd });
    expect(fake.requests[0].path).toBe('/audit-alerts/_search');
    expect(fake.requests[0].body).toEqual({
      track_total_hits: false,
      size: 101,
      query: {
        bool: {
          filter: [
            { term: { status: 'open' } },
            { term: { ruleId: 'bulk-phi-read' } },
            { term: { severity: 'high' } },
            { range: { windowEndMs: { gte: Date.parse(alert(5).windowEnd), lt: Date.parse(alert(8).windowEnd) } } },
          ],
        },
      },
      sort: [{ windowEndMs: { order: 'desc' } }, { id: { order: 'desc' } }],
    });
    expect(bulk.alerts.map((a) => a.position)).toEqual([7, 5]);
  });

  it('writes a transition with if_seq_no/if_primary_term of the version it read, list columns updated', async () => {
    const { fake, alerts } = store();
    await alerts.save(alert(1), '2026-03-03T12:00:00.000Z');
    await alerts.transition(alert(1).id, { action: 'acknowledge', by: 'jane', note: 'on it', at: '2026-03-03T12:01:00.000Z' });
    const update = fake.bulks().at(-1)![0];
    expect(update.action).toEqual({ index: { _index: 'audit-alerts', _id: alert(1).id, if_seq_no: expect.any(Number), if_primary_term: 1 } });
    expect(update.doc).toMatchObject({ status: 'acknowledged', updatedAt: '2026-03-03T12:01:00.000Z', ruleId: 'bulk-phi-read', windowEndMs: Date.parse(alert(1).windowEnd) });
  });

  it('two analysts on two instances: the one whose version went stale re-reads and is judged against the winner', async () => {
    const fake = new EsFake();
    const a = store(fake).alerts;
    await a.save(alert(1), '2026-03-03T12:00:00.000Z');
    // Instance B has read the open alert; before its write lands, A acknowledges it.
    const clientB = fake.client();
    const bulk = clientB.bulk.bind(clientB);
    let raced = false;
    clientB.bulk = (async (params: never) => {
      if (!raced) {
        raced = true;
        await a.transition(alert(1).id, { action: 'acknowledge', by: 'jane', at: '2026-03-03T12:01:00.000Z' });
      }
      return bulk(params);
    }) as never;
    const b = new ElasticsearchAlertStore(clientB, 'audit-alerts', sealer);
    const resolved = await b.transition(alert(1).id, { action: 'resolve', by: 'raj', note: 'benign', at: '2026-03-03T12:01:01.000Z' });
    expect(fake.conflicts.get('audit-alerts')).toBe(1); // B's first write was refused
    expect(resolved.history.map((h) => `${h.from}->${h.to}:${h.by}`)).toEqual(['open->acknowledged:jane', 'acknowledged->resolved:raj']);
    expect(await a.get(alert(1).id)).toEqual(resolved);

    // Acknowledging again from a stale read is refused once the stored status is known.
    await expect(b.transition(alert(1).id, { action: 'acknowledge', by: 'raj', at: '2026-03-03T12:02:00.000Z' })).rejects.toMatchObject({ reason: 'not-allowed' });
  });

  it('answers StoreUnavailableError when the cluster is down', async () => {
    const { fake, alerts } = store();
    fake.down = true;
    await expect(alerts.save(alert(1), '2026-03-03T12:00:00.000Z')).rejects.toThrow(/Elasticsearch request failed/);
    await expect(alerts.list({ limit: 10 })).rejects.toThrow(/Elasticsearch request failed/);
  });

  describe('case work', () => {
    const indexing = { patientToken: (id: string) => `ptk_${crypto.createHash('sha256').update(id).digest('hex').slice(0, 16)}` };
    const withIndexing = (fake = new EsFake()) => ({ fake, alerts: new ElasticsearchAlertStore(fake.client(), 'audit-alerts', sealer, { sleep: async () => undefined }, indexing) });
    const about = (n: number, actor: string, patient: string) => alert(n, { actor, groupKey: { 'actor.id': actor, 'patient.id': patient } });

    it('indexes the actor and the patient tokens, never patient ids', async () => {
      const { fake, alerts } = withIndexing();
      await alerts.saveAll([about(1, 'nurse-a', 'MRN-1'), about(2, 'nurse-b', 'MRN-2'), about(3, 'nurse-a', 'MRN-3')], '2026-03-03T10:05:00.000Z');
      expect(JSON.stringify(fake.bulks())).not.toContain('MRN-');
      expect(fake.bulks()[0].map((op) => op.doc.actorId)).toEqual(['nurse-a', 'nurse-b', 'nurse-a']);
    });
  });
});
