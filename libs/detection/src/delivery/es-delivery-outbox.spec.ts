/**
 * The shared alert delivery outbox in Elasticsearch (the client's official test double, EsFake),
 * with two instances' dispatchers, recording senders and a controlled clock: an alert stored by
 * one instance is queued with it and delivered once by whichever dispatcher claims it; two
 * dispatchers passing at the same time send each delivery once; a delivery claimed by an instance
 * that dies before recording the outcome is sent by the other once the claim lapses (same delivery
 * id: at least once); a replayed alert is not queued again; counts come from the cluster.
 */
import * as crypto from 'node:crypto';
import { EsFake } from '@app/storage/elasticsearch/es-fake';
import { EsRequests } from '@app/storage/elasticsearch/es-requests';
import { SealedText } from '@app/storage/sqlite/sealed-fields';
import { DetectionAlert } from '../alert';
import { ElasticsearchAlertStore } from '../service/es-alert-store';
import { AlertDispatcher } from './alert-dispatcher';
import { DeliveryMessage } from './alert-message';
import { Destination } from './destinations-config';
import { ElasticsearchDeliveryOutbox } from './es-delivery-outbox';
import { AlertSender } from './webhook-sender';

const key = crypto.createSecretKey(crypto.randomBytes(32));
const sealer = new SealedText({ current: () => ({ keyId: 'k1', key }), byId: (id) => (id === 'k1' ? key : undefined), lists: (id) => id === 'k1' });
const CLAIM_MS = 30_000;

function alert(n: number): DetectionAlert {
  const end = new Date(Date.parse('2026-03-03T10:00:00Z') + n * 60_000).toISOString();
  const id = `00000000-0000-8000-8000-${String(n).padStart(12, '0')}`;
  return {
    id,
    ruleId: 'break-glass-access',
    title: 'Break-glass',
    severity: 'high',
    kind: 'match',
    runbook: 'r',
    tags: [],
    groupKey: { 'actor.id': `u-${n}` },
    windowStart: end,
    windowEnd: end,
    count: 1,
    evidence: { eventIds: [id], firstEventId: id, lastEventId: id, total: 1, truncated: false },
    summary: { eventCount: 1, firstEventAt: end, lastEventAt: end, spanMs: 0, distinctPatients: 0, topPatients: [], distinctActors: 1, actors: [], distinctSourceIps: 0, sourceIps: [], sourceSystems: [], integrations: [] },
    position: n,
    reasons: ['break-glass'],
    actor: `u-${n}`,
    patient: `MRN-ESOUTBOX-${n}`,
  };
}

class Recorder implements AlertSender {
  sent: DeliveryMessage[] = [];
  /** While set, a send never finishes (the process dies holding it). */
  hang = false;
  async send(m: DeliveryMessage): Promise<void> {
    if (this.hang) return new Promise(() => undefined);
    this.sent.push(m);
  }
  close(): void {}
}

const destination = { name: 'soc', type: 'webhook', url: 'https://127.0.0.1/x', preset: 'generic', secret: 's', identifiers: 'tokens', retry: { initialMs: 1000, maxMs: 8000, deadLetterAfterMinutes: 60 }, timeoutMs: 1000 } as Destination;

function cluster() {
  const fake = new EsFake();
  const clock = { now: Date.parse('2026-03-03T12:00:00Z') };
  const alerts = new ElasticsearchAlertStore(fake.client(), 'audit-alerts', sealer, { sleep: async () => undefined }, undefined, 'audit-alert-delivery-queue');
  const instance = (name: string) => {
    const outbox = new ElasticsearchDeliveryOutbox(
      new EsRequests(fake.client(), { sleep: async () => undefined }),
      { alertsIndex: 'audit-alerts', queueIndex: 'audit-alert-delivery-queue', deliveriesIndex: 'audit-alert-deliveries', holder: name, claimMs: CLAIM_MS, countsMaxAgeMs: 0 },
      () => clock.now,
    );
    const sender = new Recorder();
    const facts: string[] = [];
    const dispatcher = new AlertDispatcher(outbox, [{ d: destination, sender }], { token: (id) => `tok_${id.length}` }, 'https://console.example', { fact: (_l, msg) => facts.push(msg) }, sealer, {
      now: () => clock.now,
      random: () => 1,
    });
    return { outbox, sender, dispatcher, facts };
  };
  return { fake, clock, alerts, a: instance('instance-a'), b: instance('instance-b') };
}

const deliveryDocs = (fake: EsFake) => [...(fake.indices.get('audit-alert-deliveries')?.values() ?? [])].map((d) => d.source);

describe('alert delivery outbox in Elasticsearch', () => {
  it('queues each stored alert with it; two dispatchers passing at once send each delivery once', async () => {
    const { fake, alerts, a, b } = cluster();
    await alerts.saveAll([alert(1), alert(2), alert(3)], '2026-03-03T12:00:00.000Z');
    expect(fake.indices.get('audit-alert-delivery-queue')!.size).toBe(3);

    await Promise.all([a.dispatcher.tick(), b.dispatcher.tick(), a.dispatcher.tick(), b.dispatcher.tick()]);
    const sent = [...a.sender.sent, ...b.sender.sent];
    expect(sent.map((m) => m.alerts[0].id).sort()).toEqual([alert(1).id, alert(2).id, alert(3).id]);
    expect(new Set(sent.map((m) => m.deliveryId)).size).toBe(3);
    expect(deliveryDocs(fake).map((d) => d.state)).toEqual(['delivered', 'delivered', 'delivered']);
    // The patient is sealed in the alert record and never in the outbox's documents.
    for (const index of ['audit-alert-deliveries', 'audit-alert-delivery-queue']) expect(JSON.stringify([...fake.indices.get(index)!.values()])).not.toContain('MRN-ESOUTBOX');

    // A replay of the same alerts (a detection restart) queues nothing new and sends nothing again.
    await alerts.saveAll([alert(1), alert(2)], '2026-03-03T12:05:00.000Z');
    await a.dispatcher.tick();
    await b.dispatcher.tick();
    expect(a.sender.sent.length + b.sender.sent.length).toBe(3);
    await a.outbox.refreshCounts(['soc'], true);
    expect(a.outbox.countsFor('soc')).toMatchObject({ pending: 0, delivered: 3, dead: 0, oldestPendingMs: null });
  });

  it('an alert stored through one instance whose dispatcher dies mid-send is delivered by the other once the claim lapses', async () => {
    const { fake, clock, alerts, a, b } = cluster();
    await alerts.saveAll([alert(7)], '2026-03-03T12:00:00.000Z');
    a.sender.hang = true;
    void a.dispatcher.tick(); // A fans out, claims the delivery and hangs sending it: then the process dies.
    await new Promise((r) => setTimeout(r, 50));
    expect(deliveryDocs(fake)).toEqual([expect.objectContaining({ state: 'pending', claimedBy: 'instance-a', attempts: 0 })]);

    await b.dispatcher.tick();
    expect(b.sender.sent).toEqual([]); // claimed by A: not B's to send yet

    clock.now += CLAIM_MS + 1;
    await b.dispatcher.tick();
    expect(b.sender.sent.map((m) => m.alerts[0].id)).toEqual([alert(7).id]);
    expect(deliveryDocs(fake)).toEqual([expect.objectContaining({ state: 'delivered', claimedBy: 'instance-b', attempts: 1 })]);
    await b.outbox.refreshCounts(['soc'], true);
    expect(b.outbox.countsFor('soc')).toMatchObject({ pending: 0, delivered: 1 });
  });

  it('after a failed round, the deliveries the pass did not reach are handed back for the back-off, not held for the claim', async () => {
    const { fake, clock, alerts, a, b } = cluster();
    await alerts.saveAll(Array.from({ length: 10 }, (_, i) => alert(20 + i)), '2026-03-03T12:00:00.000Z');
    a.sender.send = async () => {
      throw new Error('connection refused');
    };
    await a.dispatcher.tick(); // 8 in parallel fail; the other 2 are not tried
    const docs = deliveryDocs(fake);
    expect(docs.filter((d) => d.attempts === 1)).toHaveLength(8);
    const untried = docs.filter((d) => d.attempts === 0);
    expect(untried).toHaveLength(2);
    for (const d of untried) {
      expect(d.claimedBy).toBeUndefined();
      expect(d.nextAttemptMs as number).toBeLessThan(clock.now + CLAIM_MS);
    }
    // Once the back-off has passed, the other instance sends all ten.
    clock.now += 1_001;
    await b.dispatcher.tick();
    expect(b.sender.sent).toHaveLength(10);
  });

  it('a failed send backs off in the shared document, and a pending delivery past the dead-letter age becomes a dead letter', async () => {
    const { fake, clock, alerts, a, b } = cluster();
    await alerts.saveAll([alert(9)], '2026-03-03T12:00:00.000Z');
    a.sender.send = async () => {
      throw new Error('connection refused');
    };
    await a.dispatcher.tick();
    const [failed] = deliveryDocs(fake);
    expect(failed).toMatchObject({ state: 'pending', attempts: 1, lastError: 'Error' });
    expect(failed.nextAttemptMs as number).toBeGreaterThan(clock.now);
    await b.outbox.refreshCounts(['soc'], true);
    expect(b.outbox.countsFor('soc')).toMatchObject({ pending: 1, oldestPendingMs: clock.now });

    clock.now += 61 * 60_000;
    await b.dispatcher.tick();
    expect(b.sender.sent).toEqual([]);
    expect(deliveryDocs(fake)).toEqual([expect.objectContaining({ state: 'dead' })]);
    expect(b.facts).toContain('alert delivery dead-lettered');
  });

  it('a count answered by only some shards fails the read and keeps the last true counts, never a partial figure', async () => {
    const { fake, alerts, a } = cluster();
    await alerts.saveAll([alert(11), alert(12)], '2026-03-03T12:00:00.000Z');
    await a.dispatcher.tick();
    await a.outbox.refreshCounts(['soc'], true);
    expect(a.outbox.countsFor('soc')).toMatchObject({ pending: 0, delivered: 2, dead: 0 });

    // The deliveries' shard fails the counts (its documents left out, `_shards.failed: 1`) while searches still answer.
    fake.failingCountIndices.add('audit-alert-deliveries');
    await expect(a.outbox.refreshCounts(['soc'], true)).rejects.toThrow(/count of audit-alert-deliveries from only part of the data: 1 of 1 shards failed/);
    expect(a.outbox.countsFor('soc')).toMatchObject({ pending: 0, delivered: 2, dead: 0 });
    // The dispatcher's pass fails loudly once (a warning), then works again when the shard is back.
    await new Promise<void>((resolve) => {
      a.dispatcher.wake();
      setTimeout(resolve, 50);
    });
    expect(a.facts).toContain('alert delivery pass failed');
    fake.failingCountIndices.clear();
    await a.outbox.refreshCounts(['soc'], true);
    expect(a.outbox.countsFor('soc')).toMatchObject({ delivered: 2 });
  });
});
