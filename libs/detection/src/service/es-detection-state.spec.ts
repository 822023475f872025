/**
 * Detection progress shared through Elasticsearch (the client's official test double, EsFake):
 * two instances, each with its own worker, lease and progress store, on one cluster and one
 * committed log. The lease lets one evaluate; when it dies part-way (no final snapshot), the other
 * takes the expired lease, resumes from the dead one's last snapshot (it does not re-read what
 * that snapshot covers) and every alert of the whole traffic exists exactly once. A former holder
 * that comes back cannot write its snapshot over its successor's: it is fenced and stops.
 */
import * as crypto from 'node:crypto';
import * as path from 'node:path';
import { AccessEvent } from '@app/core';
import { EsFake } from '@app/storage/elasticsearch/es-fake';
import { EsRequests } from '@app/storage/elasticsearch/es-requests';
import { SealedText } from '@app/storage/sqlite/sealed-fields';
import { PositionedEvent } from '@app/storage';
import { generateTraffic } from '@app/simulation';
import { DetectionAlert } from '../alert';
import { DetectionEngine, DetectionSnapshot } from '../detection-engine';
import { loadRules } from '../rule-loader';
import { DetectionLeadership } from './detection-leadership';
import type { CommittedEventSource } from './committed-event-source.port';
import { DetectionWorker } from './detection-worker';
import { ElasticsearchAlertStore } from './es-alert-store';
import { DetectionLease, ElasticsearchDetectionProgressStore } from './es-detection-state';

const ROOT = path.resolve(__dirname, '..', '..', '..', '..');
const rules = loadRules(path.join(ROOT, 'detection-rules'));
const createEngine = () => new DetectionEngine(rules, { allowedLateness: '2m', defaultTimeZone: 'UTC' });
const traffic = generateTraffic({ events: 3_000, seed: 7, day: new Date('2026-03-03T00:00:00Z') });
const key = crypto.createSecretKey(crypto.randomBytes(32));
const sealer = new SealedText({ current: () => ({ keyId: 'k1', key }), byId: (id) => (id === 'k1' ? key : undefined), lists: (id) => id === 'k1' });
const INDEX = 'audit-detection-state';
const LEASE_MS = 10_000;

/** The committed log every instance reads (positions with gaps, as commit positions are). */
class SharedLog {
  readonly log: PositionedEvent[] = [];
  commit(events: readonly AccessEvent[]): void {
    for (const event of events) this.log.push({ position: this.log.length * 3 + 2, receivedAt: event.occurredAt, event: structuredClone(event) });
  }
}

/** One instance's view of the log; `kill()` makes every later read fail (the process is gone). */
class InstanceSource implements CommittedEventSource {
  read = 0;
  dead = false;
  constructor(private readonly shared: SharedLog) {}
  async readSince(after: number, limit: number): Promise<PositionedEvent[]> {
    if (this.dead) throw new Error('instance killed');
    const page = this.shared.log.filter((r) => r.position > after).slice(0, limit);
    this.read += page.length;
    return page;
  }
  async readIdsSince(after: number, limit: number): Promise<{ position: number; id: string }[]> {
    if (this.dead) throw new Error('instance killed');
    return this.shared.log.filter((r) => r.position > after).slice(0, limit).map((r) => ({ position: r.position, id: r.event.id }));
  }
  async lastPosition(): Promise<number> {
    if (this.dead) throw new Error('instance killed');
    return this.shared.log.length ? this.shared.log[this.shared.log.length - 1].position : -1;
  }
}

function reference(events: readonly AccessEvent[]): DetectionAlert[] {
  const engine = createEngine();
  return events.flatMap((e, i) => [...engine.process(e, i * 3 + 2, e.occurredAt)]);
}

/** A killed process writes nothing more: its snapshot saves and lease writes fail from then on. */
class KillableProgress extends ElasticsearchDetectionProgressStore {
  dead = false;
  override saveSnapshot(snapshot: DetectionSnapshot, savedAt: string): Promise<void> {
    return this.dead ? Promise.reject(new Error('instance killed')) : super.saveSnapshot(snapshot, savedAt);
  }
  override async commit(alerts: readonly DetectionAlert[], createdAt: string, snapshot: DetectionSnapshot | null) {
    if (this.dead) throw new Error('instance killed');
    return super.commit(alerts, createdAt, snapshot);
  }
}
class KillableLease extends DetectionLease {
  dead = false;
  override async renew(): Promise<boolean> {
    if (this.dead) throw new Error('instance killed');
    return super.renew();
  }
  override async release(): Promise<void> {
    if (this.dead) throw new Error('instance killed');
    return super.release();
  }
}

function instance(fake: EsFake, log: SharedLog, name: string, clock: { now: number }) {
  const es = new EsRequests(fake.client(), { sleep: async () => undefined });
  const alerts = new ElasticsearchAlertStore(fake.client(), 'audit-alerts', sealer, { sleep: async () => undefined });
  const source = new InstanceSource(log);
  const progress = new KillableProgress(es, INDEX, alerts, sealer, name);
  const lease = new KillableLease(es, INDEX, name, LEASE_MS, 'engine', () => clock.now);
  const worker = new DetectionWorker(createEngine, source, progress, { sliceEvents: 200, snapshotEveryEvents: 500, snapshotEveryMs: 3_600_000, retryDelayMs: 5 });
  const leadership = new DetectionLeadership(lease, progress, worker, { leaseMs: LEASE_MS, pollMs: 20 });
  progress.onFenced = () => leadership.fenced();
  const kill = async () => {
    source.dead = progress.dead = lease.dead = true;
    await leadership.stop(); // its timers end with the process; nothing it tries to write lands
  };
  return { source, progress, lease, worker, leadership, kill };
}

async function storedAlertIds(fake: EsFake): Promise<string[]> {
  return [...(fake.indices.get('audit-alerts')?.keys() ?? [])].sort();
}

async function until(cond: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('detection progress in Elasticsearch', () => {
  it('a second instance takes the expired lease of a dead one and resumes from its snapshot: every alert once', async () => {
    const fake = new EsFake();
    const log = new SharedLog();
    const clock = { now: Date.parse('2026-03-04T08:00:00Z') };
    const a = instance(fake, log, 'instance-a', clock);
    const b = instance(fake, log, 'instance-b', clock);
    const expected = reference(traffic.events);
    expect(expected.length).toBeGreaterThan(5);

    await a.leadership.start();
    await b.leadership.start();
    expect([a.leadership.leader, b.leadership.leader]).toEqual([true, false]);

    // A evaluates the first 2,000 events (a snapshot after 500 at the earliest), then dies without a final snapshot.
    log.commit(traffic.events.slice(0, 2_000));
    await until(async () => (await a.worker.status()).position === log.log[1_999].position);
    await until(async () => ((await a.worker.status()).lastSnapshotPosition ?? -1) >= log.log[499].position && !a.worker['snapshotInFlight']);
    await a.kill();
    const snapshotAtDeath = fake.indices.get(INDEX)!.get('snapshot:engine')!.source.position as number;
    expect(snapshotAtDeath).toBeLessThan(log.log[1_999].position); // it died with evaluated events its snapshot does not cover
    expect(fake.indices.get(INDEX)!.get('lease:engine')!.source).toMatchObject({ holder: 'instance-a' });

    log.commit(traffic.events.slice(2_000));
    await b.leadership.step();
    expect(b.leadership.leader).toBe(false); // A's lease has not run out yet

    clock.now += LEASE_MS + 1;
    await b.leadership.step();
    expect(b.leadership.leader).toBe(true);
    await until(async () => (await b.worker.status()).position === log.log[log.log.length - 1].position);

    // B read only what A's last snapshot did not cover.
    expect(b.source.read).toBe(log.log.filter((r) => r.position > snapshotAtDeath).length);
    expect(b.source.read).toBeLessThan(log.log.length);
    // Every alert of the whole traffic exists once: none missed at the hand-over, none duplicated.
    expect(await storedAlertIds(fake)).toEqual([...new Set(expected.map((x) => x.id))].sort());

    await b.leadership.stop();
    const stored = fake.indices.get(INDEX)!;
    expect(stored.get('snapshot:engine')!.source).toMatchObject({ holder: 'instance-b', position: log.log[log.log.length - 1].position });
    // Released on a clean stop: another instance may take it at once.
    expect(stored.get('lease:engine')!.source).toMatchObject({ holder: 'instance-b', expiresAtMs: 0 });
    // The snapshot is sealed: no event content in the stored document.
    expect(JSON.stringify(stored.get('snapshot:engine')!.source)).not.toContain(traffic.events[0].actor.id);
  }, 60_000);

  it('a former holder that comes back after a pause is fenced: its snapshot is refused and it stops evaluating', async () => {
    const fake = new EsFake();
    const log = new SharedLog();
    const clock = { now: Date.parse('2026-03-04T08:00:00Z') };
    const a = instance(fake, log, 'instance-a', clock);
    const b = instance(fake, log, 'instance-b', clock);
    await a.leadership.start();
    log.commit(traffic.events.slice(0, 600));
    await until(async () => (await a.worker.status()).position === log.log[599].position);

    // A pauses past its lease (no renewal); B takes over and claims the snapshot.
    clock.now += LEASE_MS + 1;
    await b.leadership.start();
    expect(b.leadership.leader).toBe(true);
    const claimed = fake.indices.get(INDEX)!.get('snapshot:engine')!;
    expect(claimed.source.holder).toBe('instance-b');

    // A wakes up and tries to save a snapshot: refused (409), it steps down; B's snapshot stays.
    await expect(a.progress.saveSnapshot(a.worker['engine'].snapshot(), new Date(clock.now).toISOString())).rejects.toThrow('another instance took detection over');
    await until(() => !a.leadership.leader);
    expect(a.worker.running).toBe(false);
    expect(fake.indices.get(INDEX)!.get('snapshot:engine')!.source.holder).toBe('instance-b');
    // …and its lease renewal fails too: B holds it.
    expect(await a.lease.renew()).toBe(false);
    await b.leadership.stop();
    await a.leadership.stop();
  }, 30_000);

  it('an upgrade carries over the snapshot an earlier version kept in the instance database, once, when the cluster has none', async () => {
    const fake = new EsFake();
    const es = new EsRequests(fake.client(), { sleep: async () => undefined });
    const alerts = new ElasticsearchAlertStore(fake.client(), 'audit-alerts', sealer, { sleep: async () => undefined });
    const engine = createEngine();
    traffic.events.slice(0, 200).forEach((e, i) => engine.process(e, i * 3 + 2, e.occurredAt));
    const local = engine.snapshot();
    let asked = 0;
    const first = new ElasticsearchDetectionProgressStore(es, INDEX, alerts, sealer, 'instance-a', 'engine', () => (asked++, local));
    await first.prepare();
    expect(first.loadSnapshot()?.lastPosition).toBe(local.lastPosition);
    expect(fake.indices.get(INDEX)!.get('snapshot:engine')!.source).toMatchObject({ position: local.lastPosition, holder: 'instance-a' });
    // Another instance (or a restart) finds the cluster's snapshot and never reads its own file.
    const second = new ElasticsearchDetectionProgressStore(es, INDEX, alerts, sealer, 'instance-b', 'engine', () => (asked++, null));
    await second.prepare();
    expect(second.loadSnapshot()?.lastPosition).toBe(local.lastPosition);
    expect(asked).toBe(1);
  });

  it('the lease: one holder at a time, taken over only once expired or released', async () => {
    const fake = new EsFake();
    const clock = { now: 1_000_000 };
    const es = new EsRequests(fake.client(), { sleep: async () => undefined });
    const a = new DetectionLease(es, INDEX, 'a', 5_000, 'engine', () => clock.now);
    const b = new DetectionLease(es, INDEX, 'b', 5_000, 'engine', () => clock.now);
    expect(await a.acquire()).toBe(true);
    expect(await b.acquire()).toBe(false);
    clock.now += 4_000;
    expect(await a.renew()).toBe(true);
    clock.now += 4_000; // 8 s after the start, 4 s after the renewal: still A's
    expect(await b.acquire()).toBe(false);
    clock.now += 1_001;
    expect(await b.acquire()).toBe(true);
    expect(await a.renew()).toBe(false);
    await b.release();
    expect(await a.acquire()).toBe(true);
    expect(await a.current()).toEqual({ holder: 'a', expiresAt: new Date(clock.now + 5_000).toISOString() });
  });
});
