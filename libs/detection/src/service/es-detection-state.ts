/**
 * Detection progress in Elasticsearch (STORE=elasticsearch), so no instance keeps it in a local
 * file and any instance can continue when another dies. The `<prefix>-detection-state` index
 * (DETECTION_STATE_MAPPINGS) holds two documents per engine name:
 *   - `lease:<name>`: which instance runs detection and until when. One instance at a time holds
 *     it (DetectionLease); it renews it well before it expires, and another takes it over once it
 *     has expired (the holder died) or was released (the holder stopped).
 *   - `snapshot:<name>`: the engine snapshot and the commit position it covers, sealed (it holds
 *     event facts: PHI) with the data keys, as the embedded store seals it.
 * Every write of either uses if_seq_no/if_primary_term of the version this instance last read or
 * wrote. A new holder first re-writes the snapshot it loaded (`prepare`), which moves the version
 * on: from then on a former holder that still runs (a pause longer than the lease, a partition)
 * gets 409 on its next snapshot and stops (DetectionFencedError), so it can never put an older
 * snapshot over its successor's.
 *
 * Alerts go to the shared alert store directly (idempotent creates on their deterministic ids)
 * before any snapshot that covers them is written, as the embedded store orders them: after a
 * crash the snapshot is never ahead of a missing alert, and the replay from it re-creates the
 * same ids, which the alert store drops. Loaded lazily (it pulls in the Elasticsearch client).
 */
import { randomBytes } from 'node:crypto';
import * as os from 'node:os';
import { EsRequests } from '@app/storage/elasticsearch/es-requests';
import { StoreUnavailableError } from '@app/storage';
import type { ElasticsearchEventStore } from '@app/storage/elasticsearch/es-event-store';
import { DetectionAlert } from '../alert';
import { AlertSaveResult, AlertStore } from '../alert-store.port';
import { DetectionSnapshot } from '../detection-engine';
import { jsonInTurns } from './json-in-turns';
import type { DetectionProgressStore } from './detection-progress-store.port';
import type { RecordSealer } from '@app/storage';

interface SnapshotDoc {
  kind: 'snapshot';
  name: string;
  holder: string;
  position: number;
  savedAt: string;
  /** Sealed snapshot JSON, base64; absent until the first snapshot. */
  snapshot?: string;
}

interface LeaseDoc {
  kind: 'lease';
  name: string;
  holder: string;
  expiresAtMs: number;
}

interface Version {
  seqNo: number;
  primaryTerm: number;
}

/** Another instance took detection over: this one must stop evaluating (it may still be running). */
export class DetectionFencedError extends Error {
  constructor() {
    super('another instance took detection over (its snapshot is newer than this instance knows)');
    this.name = 'DetectionFencedError';
  }
}

const ok = (status: number) => status >= 200 && status < 300;

export class ElasticsearchDetectionProgressStore implements DetectionProgressStore {
  private cached: DetectionSnapshot | null = null;
  private version: Version | null = null;
  private lastSave: Promise<unknown> = Promise.resolve();
  private fenced = false;

  constructor(
    private readonly es: EsRequests,
    private readonly index: string,
    /** The shared alert store (Elasticsearch): alerts are created there, before the snapshot covering them. */
    private readonly alerts: Pick<AlertStore, 'saveAll'>,
    private readonly sealer: RecordSealer,
    /** This instance (lease holder id): written with each snapshot, for operators. */
    private readonly holder: string,
    private readonly name = 'engine',
    /**
     * The snapshot an earlier version kept in this instance's own database, used once when the
     * cluster has none yet (an upgrade keeps its detection progress instead of starting over).
     */
    private readonly legacySnapshot?: () => DetectionSnapshot | null,
  ) {}

  /** Called when a write finds that another instance moved the snapshot on (set by the wiring). */
  onFenced?: () => void;

  private get id(): string {
    return `snapshot:${this.name}`;
  }

  /**
   * Reads the stored snapshot (the one loadSnapshot returns) and claims it: re-writes it under this
   * holder with if_seq_no, so a former holder's next write is refused. Call after taking the lease,
   * before the worker starts.
   */
  async prepare(): Promise<void> {
    await this.lastSave.catch(() => undefined);
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = (await this.es.mget<SnapshotDoc>(this.index, [this.id])).get(this.id);
      const legacy = current ? null : (this.legacySnapshot?.() ?? null);
      const snapshot = current?.source.snapshot ? (JSON.parse(this.sealer.open(Buffer.from(current.source.snapshot, 'base64'))) as DetectionSnapshot) : legacy;
      const doc: SnapshotDoc = current
        ? { ...current.source, holder: this.holder }
        : {
            kind: 'snapshot',
            name: this.name,
            holder: this.holder,
            position: legacy?.lastPosition ?? -1,
            savedAt: new Date().toISOString(),
            ...(legacy ? { snapshot: this.sealer.seal(JSON.stringify(legacy)).toString('base64') } : {}),
          };
      const action: Record<string, Record<string, unknown>> = current
        ? { index: { _index: this.index, _id: this.id, if_seq_no: current.seqNo, if_primary_term: current.primaryTerm } }
        : { create: { _index: this.index, _id: this.id } };
      const [item] = await this.es.bulk([{ action, doc }]);
      if (ok(item.status)) {
        this.cached = snapshot;
        this.version = { seqNo: item._seq_no!, primaryTerm: item._primary_term! };
        this.fenced = false;
        return;
      }
      if (item.status !== 409) throw new StoreUnavailableError(`detection snapshot claim failed: ${item.error?.type ?? item.status}`);
      // A former holder wrote in between: read its snapshot and claim again.
    }
    throw new StoreUnavailableError('the detection snapshot kept changing while this instance claimed it');
  }

  /** The snapshot read by prepare() or saved since by this instance (the newest durable one it knows). */
  loadSnapshot(): DetectionSnapshot | null {
    return this.cached;
  }

  async commit(alerts: readonly DetectionAlert[], createdAt: string, snapshot: DetectionSnapshot | null): Promise<AlertSaveResult[]> {
    const results = alerts.length > 0 ? await this.alerts.saveAll(alerts, createdAt) : [];
    if (snapshot) await this.saveSnapshot(snapshot, createdAt);
    return results;
  }

  commitWhenFree(alerts: readonly DetectionAlert[], createdAt: string): Promise<AlertSaveResult[]> {
    return alerts.length > 0 ? this.alerts.saveAll(alerts, createdAt) : Promise.resolve([]);
  }

  /** Saves one after the other, in call order, so an older snapshot never overwrites a newer one. */
  saveSnapshot(snapshot: DetectionSnapshot, savedAt: string): Promise<void> {
    const save = this.lastSave.then(() => this.save(snapshot, savedAt));
    this.lastSave = save.catch(() => undefined);
    return save;
  }

  private async save(snapshot: DetectionSnapshot, savedAt: string): Promise<void> {
    if (this.fenced || !this.version) throw new DetectionFencedError();
    const json = (await jsonInTurns(snapshot)).join('');
    const doc: SnapshotDoc = {
      kind: 'snapshot',
      name: this.name,
      holder: this.holder,
      position: snapshot.lastPosition,
      savedAt,
      snapshot: this.sealer.seal(json).toString('base64'),
    };
    const [item] = await this.es.bulk([
      { action: { index: { _index: this.index, _id: this.id, if_seq_no: this.version.seqNo, if_primary_term: this.version.primaryTerm } }, doc },
    ]);
    if (item.status === 409) {
      this.fenced = true;
      this.onFenced?.();
      throw new DetectionFencedError();
    }
    if (!ok(item.status)) throw new StoreUnavailableError(`detection snapshot write failed: ${item.error?.type ?? item.status}`);
    this.version = { seqNo: item._seq_no!, primaryTerm: item._primary_term! };
    this.cached = snapshot;
  }

  async close(): Promise<void> {
    await this.lastSave;
  }
}

/**
 * The lease on detection: at most one instance holds it at a time (until `expiresAtMs`, renewed
 * by its holder); if_seq_no makes taking and renewing it a compare-and-set. An instance that takes
 * it over after a holder died still claims the snapshot (prepare) before it evaluates anything.
 */
export class DetectionLease {
  private version: Version | null = null;

  constructor(
    private readonly es: EsRequests,
    private readonly index: string,
    readonly holder: string,
    private readonly leaseMs: number,
    private readonly name = 'engine',
    private readonly now: () => number = Date.now,
  ) {}

  private get id(): string {
    return `lease:${this.name}`;
  }

  /** Takes the lease if it is free, expired or already ours; true when this instance holds it now. */
  async acquire(): Promise<boolean> {
    const current = (await this.es.mget<LeaseDoc>(this.index, [this.id])).get(this.id);
    const now = this.now();
    if (current && current.source.holder !== this.holder && current.source.expiresAtMs > now) return false;
    const doc: LeaseDoc = { kind: 'lease', name: this.name, holder: this.holder, expiresAtMs: now + this.leaseMs };
    const action: Record<string, Record<string, unknown>> = current
      ? { index: { _index: this.index, _id: this.id, if_seq_no: current.seqNo, if_primary_term: current.primaryTerm } }
      : { create: { _index: this.index, _id: this.id } };
    const [item] = await this.es.bulk([{ action, doc }]);
    if (item.status === 409) return false; // another instance was quicker
    if (!ok(item.status)) throw new StoreUnavailableError(`detection lease write failed: ${item.error?.type ?? item.status}`);
    this.version = { seqNo: item._seq_no!, primaryTerm: item._primary_term! };
    return true;
  }

  /** Extends the lease; false when another instance holds it now (this one must stop). */
  async renew(): Promise<boolean> {
    if (!this.version) return false;
    const doc: LeaseDoc = { kind: 'lease', name: this.name, holder: this.holder, expiresAtMs: this.now() + this.leaseMs };
    const [item] = await this.es.bulk([{ action: { index: { _index: this.index, _id: this.id, if_seq_no: this.version.seqNo, if_primary_term: this.version.primaryTerm } }, doc }]);
    if (item.status === 409) {
      this.version = null;
      return false;
    }
    if (!ok(item.status)) throw new StoreUnavailableError(`detection lease write failed: ${item.error?.type ?? item.status}`);
    this.version = { seqNo: item._seq_no!, primaryTerm: item._primary_term! };
    return true;
  }

  /** Gives the lease up (a clean stop): another instance may take it at once. */
  async release(): Promise<void> {
    if (!this.version) return;
    const doc: LeaseDoc = { kind: 'lease', name: this.name, holder: this.holder, expiresAtMs: 0 };
    await this.es.bulk([{ action: { index: { _index: this.index, _id: this.id, if_seq_no: this.version.seqNo, if_primary_term: this.version.primaryTerm } }, doc }]);
    this.version = null;
  }

  /** Who holds the lease and until when (null: nobody ever took it). */
  async current(): Promise<{ holder: string; expiresAt: string } | null> {
    const doc = (await this.es.mget<LeaseDoc>(this.index, [this.id])).get(this.id);
    return doc ? { holder: doc.source.holder, expiresAt: new Date(doc.source.expiresAtMs).toISOString() } : null;
  }
}

/** The shared detection progress of the cluster the Elasticsearch event store uses (same client). */
export function elasticsearchDetectionStateFor(
  events: ElasticsearchEventStore,
  alerts: Pick<AlertStore, 'saveAll'>,
  sealer: RecordSealer,
  leaseMs: number,
  legacySnapshot?: () => DetectionSnapshot | null,
): { progress: ElasticsearchDetectionProgressStore; lease: DetectionLease } {
  const es = new EsRequests(events.client);
  const index = events.layout.detectionStateIndex;
  // Names the instance in the lease and the snapshot (operators: who runs detection); no PHI.
  const holder = `${os.hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  return { progress: new ElasticsearchDetectionProgressStore(es, index, alerts, sealer, holder, 'engine', legacySnapshot), lease: new DetectionLease(es, index, holder, leaseMs) };
}
