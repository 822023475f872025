/**
 * Test double of the DetectionProgressStore port, in memory, over an AlertStore double. It passes
 * the same contract as the SQLite and Elasticsearch adapters (test/contracts/detection-progress-store.contract.spec.ts).
 */
import { AlertSaveResult, AlertStore, DetectionAlert, DetectionSnapshot } from '@app/detection';
import type { DetectionProgressStore } from '@app/detection/service/detection-progress-store.port';

/** What a restarted process finds (`new InMemoryDetectionProgressStore(alerts, same.kept)`). */
export interface KeptProgress {
  snapshot: string | null;
}

export class InMemoryDetectionProgressStore implements DetectionProgressStore {
  private lastSave: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly alerts: Pick<AlertStore, 'saveAll'>,
    readonly kept: KeptProgress = { snapshot: null },
  ) {}

  loadSnapshot(): DetectionSnapshot | null {
    return this.kept.snapshot === null ? null : (JSON.parse(this.kept.snapshot) as DetectionSnapshot);
  }

  async commit(alerts: readonly DetectionAlert[], createdAt: string, snapshot: DetectionSnapshot | null): Promise<AlertSaveResult[]> {
    const results = alerts.length > 0 ? await this.alerts.saveAll(alerts, createdAt) : [];
    if (snapshot) await this.saveSnapshot(snapshot);
    return results;
  }

  commitWhenFree(alerts: readonly DetectionAlert[], createdAt: string): Promise<AlertSaveResult[]> {
    return this.commit(alerts, createdAt, null);
  }

  saveSnapshot(snapshot: DetectionSnapshot): Promise<void> {
    const json = JSON.stringify(snapshot); // taken now: later changes to the engine's state are not saved
    const save = this.lastSave.then(async () => {
      await new Promise((resolve) => setImmediate(resolve)); // a write that takes a turn, as the adapters' do
      this.kept.snapshot = json;
    });
    this.lastSave = save.catch(() => undefined);
    return save;
  }

  async close(): Promise<void> {
    await this.lastSave;
  }
}
