/**
 * The DeliveryOutboxPort contract: what the alert dispatcher relies on from any outbox (embedded
 * SQLite, Elasticsearch, the in-memory fake): every alert stored is queued once (a replay is not),
 * fanned out into deliveries created once per id, handed out when due, recorded as delivered,
 * backed off when failed, dead-lettered past the age, and counted. Claims between instances and
 * partial counts are the Elasticsearch outbox's own spec.
 */
import { DetectionAlert } from '@app/detection';
import { DeliveryOutboxPort } from '@app/detection/delivery/delivery-outbox.port';
import { detectionAlert } from './alert-store.contract';

export interface OpenedDeliveryOutbox {
  outbox: DeliveryOutboxPort;
  /** Stores alerts through the deployment's alert store, which queues what it creates for delivery. */
  raise(alerts: DetectionAlert[], createdAt: string): Promise<void>;
  close(): Promise<void>;
}

const T0 = Date.parse('2026-03-03T12:00:00Z');

export function describeDeliveryOutboxContract(name: string, open: () => Promise<OpenedDeliveryOutbox>): void {
  describe(`DeliveryOutbox contract: ${name}`, () => {
    let opened: OpenedDeliveryOutbox;
    let outbox: DeliveryOutboxPort;
    beforeEach(async () => {
      opened = await open();
      outbox = opened.outbox;
    });
    afterEach(() => opened.close());

    const counts = async (destination: string) => {
      await outbox.refreshCounts?.([destination], true);
      return outbox.countsFor(destination);
    };
    /** Fans every queued alert out to the given destinations, delivery ids `<n>:<destination>`. */
    async function fanOutAll(destinations: string[], nowMs: number): Promise<number> {
      const queued = await outbox.queuedAlerts(100);
      await outbox.fanOut(
        queued.map((q, i) => ({ rowid: q.rowid, deliveries: destinations.map((d) => ({ id: `${String(q.rowid)}-${i}:${d}`, destination: d })) })),
        nowMs,
      );
      return queued.length;
    }

    it('an empty outbox has nothing queued, nothing due and zero counts', async () => {
      expect(await outbox.queuedAlerts(10)).toEqual([]);
      expect(await outbox.dueFor('soc', T0, 10)).toEqual([]);
      expect(await counts('soc')).toEqual({ pending: 0, delivered: 0, dead: 0, lastDeliveredMs: null, oldestPendingMs: null });
    });

    it('queues every stored alert once, oldest first; a replayed alert is not queued again', async () => {
      await opened.raise([detectionAlert(1), detectionAlert(2)], '2026-03-03T12:00:00.000Z');
      await opened.raise([detectionAlert(2), detectionAlert(3)], '2026-03-03T12:00:01.000Z');
      const queued = await outbox.queuedAlerts(10);
      expect(queued).toHaveLength(3);
      expect(new Set(queued.map((q) => String(q.rowid))).size).toBe(3);
      expect(queued.every((q) => q.record.length > 0)).toBe(true);
      expect(await outbox.queuedAlerts(2)).toEqual(queued.slice(0, 2));
    });

    it('fans out into deliveries created once per id and takes the alerts off the queue; due ones are handed out per destination', async () => {
      await opened.raise([detectionAlert(1), detectionAlert(2)], '2026-03-03T12:00:00.000Z');
      const queued = await outbox.queuedAlerts(10);
      const rows = queued.map((q, i) => ({ rowid: q.rowid, deliveries: [{ id: `d${i}:soc`, destination: 'soc' }, { id: `d${i}:mail`, destination: 'mail' }] }));
      await outbox.fanOut(rows, T0);
      expect(await outbox.queuedAlerts(10)).toEqual([]);
      await outbox.fanOut(rows, T0 + 1); // again: nothing new
      const due = await outbox.dueFor('soc', T0, 10);
      expect(due.map((d) => [d.id, d.destination, d.attempts, d.createdMs]).sort()).toEqual([
        ['d0:soc', 'soc', 0, T0],
        ['d1:soc', 'soc', 0, T0],
      ]);
      expect(due.map((d) => d.record)).toEqual(expect.arrayContaining(queued.map((q) => q.record)));
      expect(await counts('mail')).toMatchObject({ pending: 2, delivered: 0, dead: 0, oldestPendingMs: T0 });
      expect(await outbox.dueFor('other', T0, 10)).toEqual([]);
      expect(await outbox.dueFor('mail', T0 - 1, 10)).toEqual([]);
    });

    it('a delivered one is counted and never due again', async () => {
      await opened.raise([detectionAlert(1)], '2026-03-03T12:00:00.000Z');
      await fanOutAll(['soc'], T0);
      const [d] = await outbox.dueFor('soc', T0, 10);
      await outbox.markDelivered([d.id], T0 + 500);
      expect(await outbox.dueFor('soc', T0 + 60_000, 10)).toEqual([]);
      expect(await counts('soc')).toEqual({ pending: 0, delivered: 1, dead: 0, lastDeliveredMs: T0 + 500, oldestPendingMs: null });
    });

    it('a failed one backs off: not due before its next attempt, then due again with the attempt counted', async () => {
      await opened.raise([detectionAlert(1)], '2026-03-03T12:00:00.000Z');
      await fanOutAll(['soc'], T0);
      const [d] = await outbox.dueFor('soc', T0, 10);
      await outbox.markFailed([d.id], T0 + 4000, 'connection refused', T0 + 10);
      expect(await outbox.dueFor('soc', T0 + 3999, 10)).toEqual([]);
      const again = await outbox.dueFor('soc', T0 + 4000, 10);
      expect(again.map((x) => [x.id, x.attempts])).toEqual([[d.id, 1]]);
      expect(await counts('soc')).toMatchObject({ pending: 1, delivered: 0 });
    });

    it('pending deliveries older than the cut-off become dead letters, counted, never due again', async () => {
      await opened.raise([detectionAlert(1)], '2026-03-03T12:00:00.000Z');
      await fanOutAll(['soc'], T0);
      await opened.raise([detectionAlert(2)], '2026-03-03T12:10:00.000Z');
      await fanOutAll(['soc'], T0 + 600_000);
      const due = await outbox.dueFor('soc', T0 + 600_000, 10);
      expect(due.map((d) => d.createdMs).sort()).toEqual([T0, T0 + 600_000]);
      const old = due.find((d) => d.createdMs === T0)!;
      await outbox.markFailed(due.map((d) => d.id), T0 + 601_000, 'timeout', T0 + 600_000);
      expect(await outbox.expire('soc', T0 + 1, T0 + 3_600_000)).toEqual([old.id]);
      expect(await outbox.expire('soc', T0 + 1, T0 + 3_600_001)).toEqual([]);
      expect((await outbox.dueFor('soc', T0 + 3_600_000, 10)).map((d) => d.createdMs)).toEqual([T0 + 600_000]);
      expect(await counts('soc')).toMatchObject({ pending: 1, delivered: 0, dead: 1, oldestPendingMs: T0 + 600_000 });
    });
  });
}
