/**
 * The DetectionProgressStore contract: what the streaming detection worker relies on from any
 * adapter (embedded SQLite, Elasticsearch, the in-memory fake): a first start finds no snapshot;
 * a commit stores its alerts (once per id) and the snapshot covering them; a restarted process
 * loads the last snapshot saved; snapshot saves are applied in call order. Leases and fencing
 * between instances are the Elasticsearch store's own spec.
 */
import { AlertStore, DetectionEngine, DetectionSnapshot } from '@app/detection';
import type { DetectionProgressStore } from '@app/detection/service/detection-progress-store.port';
import { detectionAlert } from './alert-store.contract';

export interface OpenedProgressStore {
  store: DetectionProgressStore;
  /** The store as a restarted process opens it on the same storage, ready to load. */
  restart(): Promise<DetectionProgressStore>;
  /** Where the committed alerts can be read. */
  alerts: Pick<AlertStore, 'get' | 'list'>;
  close(): Promise<void>;
}

const base = new DetectionEngine([], { allowedLateness: '2m', defaultTimeZone: 'UTC' }).snapshot();
/** An engine snapshot covering the log up to `position`. */
export const snapshotAt = (position: number): DetectionSnapshot => ({ ...structuredClone(base), lastPosition: position, maxEventTime: 1_772_500_000_000 + position });

export function describeDetectionProgressStoreContract(name: string, open: () => Promise<OpenedProgressStore>): void {
  describe(`DetectionProgressStore contract: ${name}`, () => {
    let opened: OpenedProgressStore;
    let store: DetectionProgressStore;
    beforeEach(async () => {
      opened = await open();
      store = opened.store;
    });
    afterEach(async () => {
      await store.close?.();
      await opened.close();
    });

    it('a first start finds no snapshot; committing nothing stores nothing', async () => {
      expect(store.loadSnapshot()).toBeNull();
      expect(await store.commit([], '2026-03-03T10:05:00.000Z', null)).toEqual([]);
      expect((await opened.restart()).loadSnapshot()).toBeNull();
    });

    it('a commit stores its alerts once per id and the snapshot covering them; a restart loads that snapshot', async () => {
      const first = await store.commit([detectionAlert(1), detectionAlert(2)], '2026-03-03T10:05:00.000Z', snapshotAt(10));
      expect(first.map((r) => [r.created, r.record.id])).toEqual([
        [true, detectionAlert(1).id],
        [true, detectionAlert(2).id],
      ]);
      expect(store.loadSnapshot()).toEqual(snapshotAt(10));
      // A replay after a crash regenerates the same alerts: none is stored twice.
      const replay = await store.commit([detectionAlert(2), detectionAlert(3)], '2026-03-03T10:06:00.000Z', snapshotAt(20));
      expect(replay.map((r) => r.created)).toEqual([false, true]);
      expect((await opened.alerts.list({ limit: 10 })).alerts.map((a) => a.position)).toEqual([3, 2, 1]);
      expect((await opened.alerts.get(detectionAlert(2).id))!.createdAt).toBe('2026-03-03T10:05:00.000Z');
      expect((await opened.restart()).loadSnapshot()).toEqual(snapshotAt(20));
    });

    it('a commit without a snapshot keeps the last one', async () => {
      await store.commit([detectionAlert(1)], '2026-03-03T10:05:00.000Z', snapshotAt(10));
      await store.commit([detectionAlert(2)], '2026-03-03T10:06:00.000Z', null);
      expect((await opened.alerts.get(detectionAlert(2).id))?.id).toBe(detectionAlert(2).id);
      expect((await opened.restart()).loadSnapshot()).toEqual(snapshotAt(10));
      if (store.commitWhenFree) {
        expect((await store.commitWhenFree([detectionAlert(3), detectionAlert(1)], '2026-03-03T10:07:00.000Z')).map((r) => r.created)).toEqual([true, false]);
        expect((await opened.restart()).loadSnapshot()).toEqual(snapshotAt(10));
      }
    });

    it('snapshot saves are applied in call order: the last one called is the one a restart loads', async () => {
      if (!store.saveSnapshot) return; // only commit() saves snapshots on this store
      await store.commit([detectionAlert(1)], '2026-03-03T10:05:00.000Z', null);
      // The first is big (serialized over several turns of the event loop), the later ones small:
      // a store that did not keep the order would let the big one land last.
      const big = { ...snapshotAt(30), events: Array.from({ length: 200_000 }, (_, i) => ({ id: `e-${i}`, t: i })) };
      const saves = [big, snapshotAt(40), snapshotAt(50)].map((s) => store.saveSnapshot!(s, '2026-03-03T10:07:00.000Z'));
      await Promise.all(saves);
      expect(store.loadSnapshot()).toEqual(snapshotAt(50));
      expect((await opened.restart()).loadSnapshot()).toEqual(snapshotAt(50));
    });
  });
}
