/**
 * The delivery outbox and dispatcher over a real SQLite alert store, with a recording sender and a
 * controlled clock: an alert is queued in the transaction that stores it (a rolled-back store
 * queues nothing, a replayed alert is not queued twice); routing by rule, severity and reason; a
 * storm beyond the rate limit becomes one digest with the count; digest periods; exponential
 * back-off; dead letters after the configured age.
 */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DetectionAlert } from '../alert';
import { SqliteAlertStore } from '../service/sqlite-alert-store';
import { AlertDispatcher } from './alert-dispatcher';
import { DeliveryMessage } from './alert-message';
import { DeliveryOutbox } from './delivery-outbox';
import { Destination } from './destinations-config';
import { AlertSender, DeliveryError } from './webhook-sender';

function alert(n: number, fields: Partial<DetectionAlert> = {}): DetectionAlert {
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
    patient: `MRN-${n}`,
    ...fields,
  };
}

class Recorder implements AlertSender {
  sent: DeliveryMessage[] = [];
  attempts = 0;
  failWith: string | null = null;
  async send(m: DeliveryMessage): Promise<void> {
    this.attempts++;
    if (this.failWith) throw new DeliveryError(this.failWith);
    this.sent.push(m);
  }
  close(): void {}
}

function destination(name: string, extra: Partial<Destination> = {}): Destination {
  return { name, type: 'webhook', url: 'https://127.0.0.1/x', preset: 'generic', secret: 's', identifiers: 'tokens', retry: { initialMs: 1000, maxMs: 8000, deadLetterAfterMinutes: 60 }, timeoutMs: 1000, ...extra } as Destination;
}

function setup(dests: Destination[]) {
  const db = new Database(path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'audit-delivery-')), 'audit.db'));
  const store = new SqliteAlertStore(db);
  const outbox = new DeliveryOutbox(db, true);
  let now = Date.parse('2026-03-03T12:00:00Z');
  const senders = new Map(dests.map((d) => [d.name, new Recorder()]));
  const facts: { msg: string; fields: Record<string, unknown> }[] = [];
  const dispatcher = new AlertDispatcher(
    outbox,
    dests.map((d) => ({ d, sender: senders.get(d.name)! })),
    { token: (id) => `tok_${id.length}` },
    'https://console.example',
    { fact: (_level, msg, fields) => facts.push({ msg, fields }) },
    undefined,
    { now: () => now, random: () => 1 },
  );
  return {
    db,
    store,
    dispatcher,
    senders,
    facts,
    advance: (ms: number) => (now += ms),
    save: (alerts: DetectionAlert[]) => store.saveAll(alerts, new Date(now).toISOString()),
  };
}

describe('alert delivery outbox and dispatcher', () => {
  it('queues an alert in the transaction that stores it, once', async () => {
    const t = setup([destination('a')]);
    expect(() =>
      t.db.transaction(() => {
        t.store.insertAlerts([alert(1)], new Date().toISOString());
        throw new Error('crash before commit');
      })(),
    ).toThrow('crash before commit');
    expect(t.db.prepare('SELECT count(*) AS n FROM alert_delivery_queue').get()).toEqual({ n: 0 });
    await t.save([alert(1), alert(2)]);
    await t.save([alert(1)]); // a replay after a crash: already stored, not queued again
    expect(t.db.prepare('SELECT count(*) AS n FROM alert_delivery_queue').get()).toEqual({ n: 2 });
    await t.dispatcher.tick();
    const sent = t.senders.get('a')!.sent;
    expect(sent.map((m) => m.alerts[0].id)).toEqual([alert(1).id, alert(2).id]);
    // Minimum necessary: tokens, not identifiers.
    expect(sent[0].alerts[0]).toMatchObject({ actor: 'tok_3', patient: 'tok_5', link: `https://console.example/console/alerts/${alert(1).id}` });
    expect(t.facts.filter((f) => f.msg === 'alert raised')).toHaveLength(2);
    expect(t.facts.filter((f) => f.msg === 'alert delivered')).toHaveLength(2);
  });

  it('routes by rule, minimum severity and reason', async () => {
    const t = setup([
      destination('rules', { route: { rules: ['bulk-phi-read'] } }),
      destination('critical', { route: { minSeverity: 'critical' } }),
      destination('reason', { route: { reasons: ['after-hours', 'break-glass'] } }),
    ]);
    await t.save([alert(1), alert(2, { ruleId: 'bulk-phi-read', reasons: ['bulk-read'], severity: 'critical' })]);
    await t.dispatcher.tick();
    expect(t.senders.get('rules')!.sent.map((m) => m.alerts[0].id)).toEqual([alert(2).id]);
    expect(t.senders.get('critical')!.sent.map((m) => m.alerts[0].id)).toEqual([alert(2).id]);
    expect(t.senders.get('reason')!.sent.map((m) => m.alerts[0].id)).toEqual([alert(1).id]);
  });

  it('turns a storm beyond the rate limit into one digest with the count', async () => {
    const t = setup([destination('pager', { rateLimit: { max: 2, perMinutes: 1 } })]);
    await t.save(Array.from({ length: 7 }, (_, i) => alert(i + 1)));
    await t.dispatcher.tick();
    const pager = t.senders.get('pager')!;
    expect(pager.sent).toHaveLength(1);
    expect(pager.sent[0]).toMatchObject({ kind: 'digest', count: 7 });
    await t.save([alert(8)]);
    t.advance(1000);
    await t.dispatcher.tick();
    expect(pager.sent.map((m) => m.kind)).toEqual(['digest', 'alert']);
    await t.save([alert(9)]);
    t.advance(1000);
    await t.dispatcher.tick();
    expect(pager.sent).toHaveLength(2); // the window's two messages are spent
    t.advance(60_000);
    await t.dispatcher.tick();
    expect(pager.sent.map((m) => m.kind)).toEqual(['digest', 'alert', 'alert']);
    expect(t.dispatcher.status()[0]).toMatchObject({ queueDepth: 0, delivered: 9 });
  });

  it('sends a digest at most once per digest period', async () => {
    const t = setup([destination('mail', { digestMinutes: 10 })]);
    await t.save([alert(1)]);
    await t.dispatcher.tick();
    const mail = t.senders.get('mail')!;
    expect(mail.sent.map((m) => m.count)).toEqual([1]);
    await t.save([alert(2), alert(3), alert(4)]);
    t.advance(5 * 60_000);
    await t.dispatcher.tick();
    expect(mail.sent).toHaveLength(1);
    t.advance(5 * 60_000);
    await t.dispatcher.tick();
    expect(mail.sent.map((m) => m.count)).toEqual([1, 3]);
    expect(mail.sent[1].alerts.map((a) => a.id)).toEqual([alert(2).id, alert(3).id, alert(4).id]);
  });

  it('backs off exponentially up to the cap, keeps the delivery id, and dead-letters after the age', async () => {
    const t = setup([destination('hook')]);
    const hook = t.senders.get('hook')!;
    hook.failWith = 'HTTP 503';
    await t.save([alert(1)]);
    const attemptsAt: number[] = [];
    let clock = 0;
    for (let step = 0; step < 40_000; step += 250) {
      const before = hook.attempts;
      await t.dispatcher.tick();
      if (hook.attempts > before) attemptsAt.push(clock);
      t.advance(250);
      clock += 250;
    }
    const gaps = attemptsAt.slice(1).map((at, i) => at - attemptsAt[i]);
    // random() = 1: the full base, 1 s, 2 s, 4 s, then capped at 8 s.
    expect(gaps.slice(0, 5)).toEqual([1000, 2000, 4000, 8000, 8000]);
    const s = t.dispatcher.status()[0];
    expect(s).toMatchObject({ queueDepth: 1, delivered: 0, lastError: 'HTTP 503' });
    expect(s.failures).toBe(attemptsAt.length);
    t.advance(61 * 60_000);
    await t.dispatcher.tick();
    expect(t.dispatcher.status()[0]).toMatchObject({ queueDepth: 0, deadLetters: 1 });
    expect(t.facts.some((f) => f.msg === 'alert delivery dead-lettered')).toBe(true);
    const ids = new Set(t.facts.filter((f) => f.msg === 'alert delivery failed').map((f) => f.fields.deliveryId));
    expect(ids.size).toBe(1);
  });
});
