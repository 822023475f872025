/**
 * The streaming worker with the default rules, the seed traffic, and the real SQLite alert and
 * progress stores (a temp database); the committed-event source is an in-memory list. Checks that
 * every event is evaluated once, that crashes at any slice (with or without a snapshot) and failed
 * commits neither lose nor duplicate alerts, and that stop() leaves a snapshot at the last position.
 */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AccessEvent } from '@app/core';
import { PositionedEvent } from '@app/storage';
import { generateTraffic } from '@app/simulation';
import { DetectionAlert } from '../alert';
import { DetectionEngine } from '../detection-engine';
import { loadRules } from '../rule-loader';
import type { CommittedEventSource } from './committed-event-source.port';
import { DetectionWorker } from './detection-worker';
import { SqliteAlertStore } from './sqlite-alert-store';
import type { DetectionProgressStore } from './detection-progress-store.port';
import { SqliteDetectionProgressStore } from './sqlite-detection-state';

const ROOT = path.resolve(__dirname, '..', '..', '..', '..');
const rules = loadRules(path.join(ROOT, 'detection-rules'));
const engineOptions = { allowedLateness: '2m', defaultTimeZone: 'UTC' };
const createEngine = () => new DetectionEngine(rules, engineOptions);
const traffic = generateTraffic({ events: 3_000, seed: 42, day: new Date('2026-03-03T00:00:00Z') });

/** The committed log: positions with gaps (as after a failed commit), receive time = event time. */
class MemorySource implements CommittedEventSource {
  readonly log: PositionedEvent[] = [];
  reads = 0;
  fullReads = 0;
  private next = 1;
  commit(events: AccessEvent[]): PositionedEvent[] {
    const added = events.map((event) => ({ position: 0, receivedAt: event.occurredAt, event: structuredClone(event) }));
    for (const r of added) {
      r.position = this.next;
      this.next += 2;
      this.log.push(r);
    }
    return added;
  }
  /** Positions taken by records detection does not evaluate (the access log's): none of them is read back. */
  skip(n: number): { first: number; last: number } {
    const first = this.next;
    this.next += n;
    return { first, last: first + n - 1 };
  }
  async readSince(after: number, limit: number): Promise<PositionedEvent[]> {
    this.reads++;
    const page = this.log.filter((r) => r.position > after).slice(0, limit);
    this.fullReads += page.length;
    return page;
  }
  async readIdsSince(after: number, limit: number): Promise<{ position: number; id: string }[]> {
    this.reads++;
    return this.log.filter((r) => r.position > after).slice(0, limit).map((r) => ({ position: r.position, id: r.event.id }));
  }
  async lastPosition(): Promise<number> {
    return this.log.length ? this.log[this.log.length - 1].position : -1;
  }
}

function reference(events: readonly AccessEvent[]): DetectionAlert[] {
  const engine = createEngine();
  return events.flatMap((e, i) => [...engine.process(e, i * 2 + 1, e.occurredAt)]);
}

function tempDb(): Database.Database {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'audit-detect-'));
  const db = new Database(path.join(dir, 'audit.db'));
  db.pragma('journal_mode = WAL');
  return db;
}

const options = { sliceEvents: 250, snapshotEveryEvents: 700, snapshotEveryMs: 3_600_000 };

describe('DetectionWorker', () => {
  const expected = reference(traffic.events);

  it('evaluates every committed event once and stores each alert once', async () => {
    const db = tempDb();
    const alerts = new SqliteAlertStore(db);
    const source = new MemorySource();
    const worker = new DetectionWorker(createEngine, source, new SqliteDetectionProgressStore(db, alerts), options);
    worker.start();
    for (let i = 0; i < traffic.events.length; i += 400) {
      source.commit(traffic.events.slice(i, i + 400));
      worker.wake();
    }
    await worker.caughtUp();
    const status = await worker.status();
    expect(status).toMatchObject({ evaluated: traffic.events.length, lagEvents: 0, alertsStored: expected.length });
    expect(alerts.count()).toBe(expected.length);
    expect(expected.length).toBe(traffic.planted.length);
    const stored = (await alerts.list({ limit: 1000 })).alerts.map((a) => a.id).sort();
    expect(stored).toEqual(expected.map((a) => a.id).sort());
    await worker.stop();
  });

  it('takes commits that arrive while a snapshot is being built in turns after it, losing and failing nothing', async () => {
    const db = tempDb();
    const alerts = new SqliteAlertStore(db);
    const progress = new SqliteDetectionProgressStore(db, alerts);
    const source = new MemorySource();
    const warnings: string[] = [];
    const log = { info: () => undefined, warn: (msg: string) => void warnings.push(msg) };
    let next = 0;
    let committedDuringSnapshots = 0;
    const commitNext = () => {
      source.commit(traffic.events.slice(next, next + 400));
      next += 400;
      worker.wake();
    };
    // Every snapshot (after a slice, or while idle) sees the next events committed, and the worker woken, while it is being built.
    const engineCommittingMeanwhile = () => {
      const engine = createEngine();
      const build = engine.snapshotInTurns.bind(engine);
      engine.snapshotInTurns = (turnMs?: number) => {
        const building = build(turnMs);
        if (next < traffic.events.length) {
          committedDuringSnapshots++;
          commitNext();
        }
        return building;
      };
      return engine;
    };
    // A snapshot after every slice and, while idle, after 1 ms; each built one step per turn of the loop.
    const worker = new DetectionWorker(engineCommittingMeanwhile, source, progress, { sliceEvents: 100, snapshotEveryEvents: 100, snapshotEveryMs: 1, snapshotTurnMs: 0 }, undefined, log);
    worker.start();
    commitNext();
    while (next < traffic.events.length) await new Promise((r) => setTimeout(r, 5));
    await worker.caughtUp();
    await worker.stop();
    expect(committedDuringSnapshots).toBeGreaterThanOrEqual(7);
    expect(warnings).toEqual([]);
    expect(alerts.count()).toBe(expected.length);
    expect((await alerts.list({ limit: 1000 })).alerts.map((a) => a.id).sort()).toEqual(expected.map((a) => a.id).sort());
    expect(progress.loadSnapshot()?.lastPosition).toBe(await source.lastPosition());
  });

  it.each([1, 3, 5, 8, 11])('loses and duplicates nothing when killed after slice %i and restarted', async (crashAfter) => {
    const db = tempDb();
    const alerts = new SqliteAlertStore(db);
    const progress = new SqliteDetectionProgressStore(db, alerts);
    const source = new MemorySource();
    source.commit(traffic.events);
    // "Kill": stop reading after `crashAfter` slices, without stop() (no final snapshot).
    let slices = 0;
    const crashing: CommittedEventSource = {
      readSince: (after, limit) => (++slices > crashAfter ? new Promise(() => undefined) : source.readSince(after, limit)),
      readIdsSince: (after, limit) => (slices > crashAfter ? new Promise(() => undefined) : source.readIdsSince(after, limit)),
      lastPosition: () => source.lastPosition(),
    };
    const first = new DetectionWorker(createEngine, crashing, progress, options);
    first.start();
    await new Promise((r) => setTimeout(r, 200));
    const savedBefore = progress.loadSnapshot()?.lastPosition ?? -1;

    const second = new DetectionWorker(createEngine, source, new SqliteDetectionProgressStore(db, alerts), options);
    const report = second.start();
    if (savedBefore >= 0) expect(report?.restored.length).toBe(rules.length);
    await second.caughtUp();
    expect(alerts.count()).toBe(expected.length);
    expect((await alerts.list({ limit: 1000 })).alerts.map((a) => a.id).sort()).toEqual(expected.map((a) => a.id).sort());
    await second.stop();
  });

  it('rebuilds from the last snapshot when a commit fails, then stores everything once', async () => {
    const db = tempDb();
    const alerts = new SqliteAlertStore(db);
    const real = new SqliteDetectionProgressStore(db, alerts);
    let failures = 0;
    const failSometimes = (a: readonly unknown[]) => {
      if (a.length > 0 && failures < 2) {
        failures++;
        throw Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR' });
      }
    };
    const flaky: DetectionProgressStore = {
      loadSnapshot: () => real.loadSnapshot(),
      commit: (a, at, snapshot) => (failSometimes(a), real.commit(a, at, snapshot)),
      commitWhenFree: async (a, at) => (failSometimes(a), real.commitWhenFree(a, at)),
      saveSnapshot: (snapshot, at) => real.saveSnapshot(snapshot, at),
      close: () => real.close(),
    };
    const source = new MemorySource();
    source.commit(traffic.events);
    const warnings: { msg: string; fields?: Record<string, unknown> }[] = [];
    const infos: { msg: string; fields?: Record<string, unknown> }[] = [];
    const worker = new DetectionWorker(createEngine, source, flaky, { ...options, retryDelayMs: 10 }, undefined, {
      info: (msg, fields) => infos.push({ msg, fields }),
      warn: (msg, fields) => warnings.push({ msg, fields }),
    });
    worker.start();
    await worker.caughtUp();
    expect(failures).toBe(2);
    // Each failure says why (class and code, never content); slices without alerts succeeded in between.
    expect(warnings).toHaveLength(2);
    for (const w of warnings) expect(w).toEqual({ msg: 'detection slice failed; retrying from the last snapshot', fields: { errorClass: 'Error', code: 'SQLITE_IOERR', retryMs: 10 } });
    expect(infos.filter((i) => i.msg === 'detection resumed')).toHaveLength(2);
    expect(alerts.count()).toBe(expected.length);
    await worker.stop();
  });

  it('logs a failure that repeats (a full disk) once with its code, then that it resumed', async () => {
    const db = tempDb();
    const alerts = new SqliteAlertStore(db);
    const real = new SqliteDetectionProgressStore(db, alerts);
    let failures = 0;
    const failFirst = () => {
      if (failures < 5) {
        failures++;
        throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
      }
    };
    const full: DetectionProgressStore = {
      loadSnapshot: () => real.loadSnapshot(),
      commit: (a, at, snapshot) => (failFirst(), real.commit(a, at, snapshot)),
      commitWhenFree: async (a, at) => (failFirst(), real.commitWhenFree(a, at)),
      saveSnapshot: (snapshot, at) => real.saveSnapshot(snapshot, at),
      close: () => real.close(),
    };
    const source = new MemorySource();
    source.commit(traffic.events);
    const lines: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
    const worker = new DetectionWorker(createEngine, source, full, { ...options, retryDelayMs: 10 }, undefined, {
      info: (msg, fields) => lines.push({ level: 'info', msg, fields }),
      warn: (msg, fields) => lines.push({ level: 'warn', msg, fields }),
    });
    worker.start();
    await worker.caughtUp();
    expect(failures).toBe(5);
    const about = lines.filter((l) => /slice failed|resumed/.test(l.msg));
    expect(about).toEqual([
      { level: 'warn', msg: 'detection slice failed; retrying from the last snapshot', fields: { errorClass: 'Error', code: 'SQLITE_FULL', retryMs: 10 } },
      { level: 'info', msg: 'detection resumed', fields: { failedAttempts: 5, errorClass: 'Error', code: 'SQLITE_FULL' } },
    ]);
    expect(alerts.count()).toBe(expected.length);
    await worker.stop();
  });

  it('reads in slices and leaves a snapshot at the last position on stop', async () => {
    const db = tempDb();
    const alerts = new SqliteAlertStore(db);
    const progress = new SqliteDetectionProgressStore(db, alerts);
    const source = new MemorySource();
    source.commit(traffic.events);
    const worker = new DetectionWorker(createEngine, source, progress, { ...options, snapshotEveryEvents: 1_000_000, turnBudgetMs: 0 });
    worker.start();
    let timerRan = false;
    setTimeout(() => (timerRan = true), 0);
    await worker.caughtUp();
    expect(timerRan).toBe(true); // the event loop ran between slices
    expect(source.reads).toBeGreaterThanOrEqual(Math.ceil(traffic.events.length / options.sliceEvents));
    await worker.stop();
    expect(progress.loadSnapshot()?.lastPosition).toBe(await source.lastPosition());
    // A restart with nothing new evaluates nothing and stores nothing.
    const again = new DetectionWorker(createEngine, source, progress, options);
    again.start();
    await again.caughtUp();
    expect((await again.status()).evaluated).toBe(traffic.events.length);
    expect(alerts.count()).toBe(expected.length);
    await again.stop();
  });

  it('with one event a commit, reads the store once a commit, not a second time to find nothing', async () => {
    const db = tempDb();
    const alerts = new SqliteAlertStore(db);
    const source = new MemorySource();
    const worker = new DetectionWorker(createEngine, source, new SqliteDetectionProgressStore(db, alerts), options);
    worker.start();
    await worker.caughtUp();
    const before = source.reads;
    const commits = 300;
    for (let i = 0; i < commits; i++) {
      const [committed] = source.commit([traffic.events[i]]);
      worker.remember([{ event: committed.event, receivedAt: committed.receivedAt }]);
      worker.wake();
      while ((await worker.status()).position < committed.position) await new Promise((r) => setTimeout(r, 1));
    }
    expect(source.reads - before).toBe(commits);
    expect(source.fullReads).toBe(0);
    const status = await worker.status();
    expect(status).toMatchObject({ evaluated: commits, lagEvents: 0 });
    expect(status.alertsStored).toBe(reference(traffic.events.slice(0, commits)).length);
    await worker.stop();
  });

  it('evaluates the events the writer committed without reading them back, and reads back what it missed', async () => {
    const db = tempDb();
    const alerts = new SqliteAlertStore(db);
    const source = new MemorySource();
    const worker = new DetectionWorker(createEngine, source, new SqliteDetectionProgressStore(db, alerts), options);
    worker.start();
    for (let i = 0; i < traffic.events.length; i += 300) {
      const committed = source.commit(traffic.events.slice(i, i + 300));
      // One commit in five is not reported (as if written by another process): read back in full.
      if ((i / 300) % 5 !== 2) worker.remember(committed);
      worker.wake();
      if (i % 900 === 0) await worker.caughtUp();
    }
    await worker.caughtUp();
    expect(source.fullReads).toBeGreaterThan(0);
    expect(source.fullReads).toBeLessThan(traffic.events.length / 2);
    expect((await worker.status()).evaluated).toBe(traffic.events.length);
    expect((await alerts.list({ limit: 1000 })).alerts.map((a) => a.id).sort()).toEqual(expected.map((a) => a.id).sort());
    await worker.stop();
  });

  /** The alerts an uninterrupted engine raises on the source's log, at its positions. */
  const referenceOf = (source: MemorySource): string[] => {
    const engine = createEngine();
    return source.log.flatMap((r) => engine.process(r.event, r.position, r.receivedAt).map((a) => a.id)).sort();
  };

  it('with the positions of each commit handed over, reads nothing back, access-log-only commits included', async () => {
    const db = tempDb();
    const alerts = new SqliteAlertStore(db);
    const source = new MemorySource();
    const worker = new DetectionWorker(createEngine, source, new SqliteDetectionProgressStore(db, alerts), options);
    worker.start();
    await worker.caughtUp();
    let before = source.reads;
    for (let i = 0; i < traffic.events.length; i += 300) {
      const committed = source.commit(traffic.events.slice(i, i + 300));
      // Each commit's positions: every other one (and a few more after it) taken by records detection skips.
      const tail = source.skip(3);
      worker.rememberAt(committed, committed[0].position, tail.last);
      if ((i / 300) % 4 === 1) {
        const accessLogOnly = source.skip(5);
        worker.rememberAt([], accessLogOnly.first, accessLogOnly.last);
      }
      worker.wake();
      if (i % 900 === 0) await worker.caughtUp();
      // The first commit after the start is read once: nothing told the worker where the store began.
      if (i === 0) {
        expect(source.reads - before).toBe(1);
        before = source.reads;
      }
    }
    await worker.caughtUp();
    expect(source.reads - before).toBe(0);
    expect(source.fullReads).toBe(0);
    expect(await worker.status()).toMatchObject({ evaluated: traffic.events.length, lagEvents: 0 });
    expect((await alerts.list({ limit: 1000 })).alerts.map((a) => a.id).sort()).toEqual(referenceOf(source));
    await worker.stop();
  });

  it('a commit it was not told about right after an access-log-only one is evaluated on the same wake-up', async () => {
    const db = tempDb();
    const alerts = new SqliteAlertStore(db);
    const source = new MemorySource();
    const worker = new DetectionWorker(createEngine, source, new SqliteDetectionProgressStore(db, alerts), options);
    worker.start();
    const first = source.commit(traffic.events.slice(0, 100));
    worker.rememberAt(first, first[0].position, source.skip(0).first - 1); // the position after its last event is its too
    worker.wake();
    await worker.caughtUp();
    const accessLogOnly = source.skip(4);
    worker.rememberAt([], accessLogOnly.first, accessLogOnly.last);
    source.commit(traffic.events.slice(100, 200)); // written elsewhere: not handed over
    const last = source.commit(traffic.events.slice(200, 300));
    worker.rememberAt(last, last[0].position, last[last.length - 1].position);
    worker.wake(); // once: no later commit comes to wake it again
    const target = last[last.length - 1].position;
    const deadline = Date.now() + 5_000;
    while ((await worker.status()).position < target && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect((await worker.status()).position).toBe(target);
    expect((await alerts.list({ limit: 1000 })).alerts.map((a) => a.id).sort()).toEqual(referenceOf(source));
    await worker.stop();
  });

  it('after positions it was not told about (another process, a dropped commit), reads the store from there and goes on', async () => {
    const db = tempDb();
    const alerts = new SqliteAlertStore(db);
    const source = new MemorySource();
    const worker = new DetectionWorker(createEngine, source, new SqliteDetectionProgressStore(db, alerts), { ...options, recentCap: 700 });
    worker.start();
    for (let i = 0; i < traffic.events.length; i += 200) {
      const committed = source.commit(traffic.events.slice(i, i + 200));
      // One commit in four is not handed over; four commits in a row exceed recentCap unless evaluated in between.
      if ((i / 200) % 4 !== 3) worker.rememberAt(committed, committed[0].position, committed[committed.length - 1].position);
      worker.wake();
      if (i % 1000 === 0) await worker.caughtUp();
    }
    await worker.caughtUp();
    expect(source.fullReads).toBeGreaterThan(0);
    expect(source.fullReads).toBeLessThan(traffic.events.length / 2);
    expect((await worker.status()).evaluated).toBe(traffic.events.length);
    expect((await alerts.list({ limit: 1000 })).alerts.map((a) => a.id).sort()).toEqual(referenceOf(source));
    expect(alerts.count()).toBe(referenceOf(source).length);
    await worker.stop();
  });
});
