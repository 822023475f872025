/**
 * Retention on Elasticsearch (issue 17): the retention run deletes a backing index whose records
 * are all past their window, after recording each chain's purged prefix, so verification, proofs
 * and by-id reads stay correct after the delete. Real parts throughout (Elasticsearch event and
 * checkpoint stores, checkpoint sealing with file keys, IntegrityService, ProofService), with
 * EsFake (the official client mock made stateful) standing in for the cluster: it refuses to delete
 * a write index and drops a deleted index from every later search, as Elasticsearch does.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { AccessEvent, ProblemError } from '@app/core';
import { ChainHead, GENESIS_HASH, canonicalize, recordHash, verifyInclusionProofDocument } from '@app/ledger';
import { FileKeyProvider } from '@app/security';
import { ChainedRecord } from '@app/storage';
import { ElasticsearchCheckpointStore, ElasticsearchEventStore, EsRetentionRunner, HoldCriteria } from '@app/storage/scale-out-adapters';
import { EsFake } from '@app/storage/elasticsearch/es-fake';
import { CheckpointService } from './checkpoints/checkpoint.service';
import { ProofService } from './checkpoints/proof.service';
import { IntegrityService } from './integrity.service';

const DAY = 86_400_000;
const OLD = '2026-01-01T08:00:00.000Z';
const LATER = '2027-01-01T08:00:00.000Z';
const NEWEST = '2027-02-01T08:00:00.000Z';
/** Six years and a half after OLD: OLD is past a six-year window, LATER and NEWEST are not. */
const NOW = Date.parse('2032-07-01T00:00:00.000Z');
const SIX_YEARS = (_category: string, nowMs: number) => nowMs - 6 * 365 * DAY;

function event(overrides: Partial<AccessEvent> = {}): AccessEvent {
  return {
    id: randomUUID(),
    occurredAt: '2025-12-31T10:15:00.000Z',
    category: 'data_access',
    action: 'read',
    outcome: 'success',
    actor: { id: 'dr-alice', type: 'user', role: 'physician' },
    patient: { id: 'MRN-0001' },
    source: { system: 'ehr-gateway' },
    ...overrides,
  };
}

class Cluster {
  readonly fake = new EsFake();
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'es-retention-'));
  readonly keys = new FileKeyProvider(this.dir);
  readonly heads = new Map<string, ChainHead>();
  readonly holds: HoldCriteria[] = [];
  store!: ElasticsearchEventStore;
  checkpoints!: ElasticsearchCheckpointStore;
  sealer!: CheckpointService;
  now = Date.parse(OLD);

  async start(): Promise<this> {
    this.store = new ElasticsearchEventStore(this.fake.client(), {
      indexPrefix: 'audit',
      alertsIndex: 'audit-alerts',
      checkpointsIndex: 'audit-checkpoints',
      rolloverMaxAge: '30d',
      rolloverMaxPrimaryShardSize: '50gb',
      warmAfter: '30d',
      coldAfter: '365d',
      sleep: async () => undefined,
      now: () => new Date(this.now),
      healthIntervalMs: 3_600_000,
    });
    await this.store.init();
    this.checkpoints = new ElasticsearchCheckpointStore(this.fake.client(), {
      checkpointsIndex: 'audit-checkpoints',
      blocksIndex: this.store.layout.blocksIndex,
      purgedIndex: this.store.layout.purgedIndex,
    });
    this.sealer = new CheckpointService(this.store, this.checkpoints, this.keys, { everyRecords: 1_000_000, intervalMs: 3_600_000 });
    return this;
  }

  /** Chains and appends events received at `receivedAt` (what the chain writer does), then seals a checkpoint. */
  async post(receivedAt: string, events: AccessEvent[], seal = true, chainOf: (e: AccessEvent, i: number) => string = (e) => e.category): Promise<AccessEvent[]> {
    const records: ChainedRecord[] = events.map((e, i) => {
      const chain = chainOf(e, i);
      const json = canonicalize(e);
      const head = this.heads.get(chain) ?? { seq: -1, hash: GENESIS_HASH };
      const seq = head.seq + 1;
      const hash = recordHash(head.hash, chain, seq, receivedAt, json);
      this.heads.set(chain, { seq, hash });
      return { chain, seq, receivedAt, event: e, eventJson: json, prevHash: head.hash, hash };
    });
    await this.store.append(records);
    if (seal) for (const chain of new Set(records.map((r) => r.chain))) expect(await this.sealer.seal(chain, this.heads.get(chain)!.seq + 1)).not.toBeNull();
    return events;
  }

  runner(): EsRetentionRunner {
    return new EsRetentionRunner(this.fake.client(), this.store.layout, this.checkpoints, SIX_YEARS, { activeHolds: async () => this.holds, sleep: async () => undefined });
  }

  verify() {
    return new IntegrityService(this.store, { checkpoints: this.checkpoints, publicKeys: () => this.keys.publicKeys() }).verify({ full: true });
  }

  proofs(): ProofService {
    return new ProofService(this.store, this.checkpoints, this.sealer);
  }

  close(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Three backing indices of data_access: OLD records (past the window), LATER ones, and the write index. */
async function threeIndices(c: Cluster) {
  const old = await c.post(OLD, [event(), event({ actor: { id: 'dr-bob', type: 'user' } }), event()]);
  const oldAuth = await c.post(OLD, [event({ category: 'authentication', action: 'login' })]);
  c.fake.rollover();
  const later = await c.post(LATER, [event(), event()]);
  c.fake.rollover();
  const newest = await c.post(NEWEST, [event()]);
  return { old, oldAuth, later, newest };
}

describe('Elasticsearch retention run: purged prefixes, then the expired backing index', () => {
  let c: Cluster;
  beforeEach(async () => (c = await new Cluster().start()));
  afterEach(() => c.close());

  it('deletes the expired index after recording the purged prefix: verify passes and reports it, a kept event still proves, purged ids answer 404', async () => {
    const { old, oldAuth, later, newest } = await threeIndices(c);
    c.now = NOW;
    expect((await c.store.getById(old[0].id))?.event).toEqual(old[0]);

    const report = await c.runner().run({ now: NOW, dryRun: false });
    // The expired indices, and an empty one rollover left behind; never a write index.
    expect(report.deleted.map((d) => [d.index, d.records, d.idsDeleted])).toEqual([
      ['.ds-audit-events-data_access-0', 3, 3],
      ['.ds-audit-events-authentication-0', 1, 1],
      ['.ds-audit-events-authentication-1', 0, 0],
    ]);
    expect(report.deleted[0].chains).toEqual([{ chain: 'data_access', fromSeq: 0, toSeq: 3, checkpointIndex: 0 }]);
    expect(report.kept).toEqual([{ index: '.ds-audit-events-data_access-1', category: 'data_access', because: 'too_young' }]);
    expect(c.fake.indexDeletes).toEqual(report.deleted.map((d) => d.index));

    // Verification starts after the purged prefix and passes, saying how much was purged.
    const v = await c.verify();
    expect(v.ok).toBe(true);
    expect(v.chains.find((r) => r.chain === 'data_access')).toMatchObject({ verified: 3, lastSeq: 5, purged: 3 });
    expect(v.chains.find((r) => r.chain === 'authentication')).toMatchObject({ verified: 0, purged: 1 });

    // A kept event's inclusion proof still checks against the signed checkpoint.
    const doc = await c.proofs().inclusionProof(later[1].id);
    expect(doc.seq).toBe(4);
    const [key] = c.keys.publicKeys();
    expect(verifyInclusionProofDocument(doc, key.publicKeyPem)).toEqual({ ok: true, reason: null });
    // A purged one is gone: no id entry, no proof, no by-id read.
    await expect(c.proofs().inclusionProof(old[1].id)).rejects.toMatchObject({ status: 404 } satisfies Partial<ProblemError>);
    expect(await c.store.getById(old[1].id)).toBeNull();
    expect(await c.store.getById(oldAuth[0].id)).toBeNull();
    expect((await c.store.findReceipts([...old, ...oldAuth].map((e) => e.id))).size).toBe(0);
    expect((await c.store.getById(newest[0].id))?.event).toEqual(newest[0]);

    // A chain whose last commit was in the deleted index is not written back by the next writer,
    // and the detection tail is not held behind the records that will never be visible again.
    expect((await c.store.chainHeads()).get('authentication')?.seq).toBe(0);
    expect((await c.store.query({ limit: 100 })).records.map((r) => r.event.id).sort()).toEqual([...later, ...newest].map((e) => e.id).sort());
    expect(await c.store.getById(oldAuth[0].id)).toBeNull();
    expect((await c.store.readSince(-1, 100)).map((r) => r.event.id)).toEqual([...later, ...newest].map((e) => e.id));

    // New records chain on, verify and reach detection; a second run changes nothing.
    const [next] = await c.post('2032-06-30T00:00:00.000Z', [event({ category: 'authentication', action: 'login' })]);
    expect((await c.store.readSince(-1, 100)).map((r) => r.event.id)).toEqual([...later, ...newest, next].map((e) => e.id));
    const again = await c.runner().run({ now: NOW, dryRun: false });
    expect(again.deleted).toEqual([]);
    expect(await c.verify()).toMatchObject({ ok: true });
  });

  it('sharded chains (CHAIN_SHARDS): every shard of a class in the expired index gets its own purged prefix', async () => {
    const shard = (_e: AccessEvent, i: number) => `data_access.${i % 2}`;
    const old = await c.post(OLD, [event(), event(), event(), event(), event()], true, shard);
    c.fake.rollover();
    const later = await c.post(LATER, [event(), event()], true, shard);
    c.fake.rollover();
    await c.post(NEWEST, [event()], true, shard);
    const report = await c.runner().run({ now: NOW, dryRun: false });
    expect(report.deleted[0]).toMatchObject({ index: '.ds-audit-events-data_access-0', records: 5 });
    expect(report.deleted[0].chains.sort((a, b) => (a.chain < b.chain ? -1 : 1))).toEqual([
      { chain: 'data_access.0', fromSeq: 0, toSeq: 3, checkpointIndex: 0 },
      { chain: 'data_access.1', fromSeq: 0, toSeq: 2, checkpointIndex: 0 },
    ]);
    const v = await c.verify();
    expect(v.ok).toBe(true);
    expect(v.chains.map((r) => [r.chain, r.purged, r.verified])).toEqual([
      ['data_access.0', 3, 2],
      ['data_access.1', 2, 1],
    ]);
    const [key] = c.keys.publicKeys();
    expect(verifyInclusionProofDocument(await c.proofs().inclusionProof(later[1].id), key.publicKeyPem)).toEqual({ ok: true, reason: null });
    expect(await c.store.getById(old[4].id)).toBeNull();
  });

  it('a dry run says what it would delete and deletes nothing', async () => {
    const { old } = await threeIndices(c);
    c.now = NOW;
    const report = await c.runner().run({ now: NOW, dryRun: true });
    expect(report.deleted.map((d) => d.index)).toEqual(['.ds-audit-events-data_access-0', '.ds-audit-events-authentication-0', '.ds-audit-events-authentication-1']);
    expect(report.records).toBe(4);
    expect(c.fake.indexDeletes).toEqual([]);
    expect(await c.checkpoints.purgedPrefix('data_access')).toBeNull();
    expect((await c.store.getById(old[0].id))?.event).toEqual(old[0]);
  });

  it('honours legal holds: a held index stays (with every younger one) until the hold is released', async () => {
    await threeIndices(c);
    c.now = NOW;
    c.holds.push({ id: 'hold-1', patient: null, actor: 'dr-bob', from: null, to: null });
    const held = await c.runner().run({ now: NOW, dryRun: false });
    expect(held.kept).toContainEqual({ index: '.ds-audit-events-data_access-0', category: 'data_access', because: 'legal_hold' });
    expect(c.fake.indexDeletes).toEqual(['.ds-audit-events-authentication-0', '.ds-audit-events-authentication-1']);
    expect(await c.checkpoints.purgedPrefix('data_access')).toBeNull();
    expect((await c.verify()).ok).toBe(true);

    c.holds.length = 0;
    const released = await c.runner().run({ now: NOW, dryRun: false });
    expect(released.deleted.map((d) => d.index)).toEqual(['.ds-audit-events-data_access-0']);
    expect((await c.verify()).ok).toBe(true);
  });

  it('waits for a signed checkpoint over the index: records not yet sealed are never deleted', async () => {
    await c.post(OLD, [event(), event()], false);
    c.fake.rollover();
    await c.post(LATER, [event()], false);
    const report = await c.runner().run({ now: NOW, dryRun: false });
    expect(report.kept).toEqual([{ index: '.ds-audit-events-data_access-0', category: 'data_access', because: 'unsealed' }]);
    expect(c.fake.indexDeletes).toEqual([]);
  });

  it('a chain that does not read back whole is not purged (verification names it instead)', async () => {
    const { old } = await threeIndices(c);
    // A record of the expired index vanished (tampering): no prefix is recorded over the gap.
    c.fake.streams.get('audit-events-data_access')![0].delete('data_access:1');
    const report = await c.runner().run({ now: NOW, dryRun: false });
    expect(report.kept).toContainEqual({ index: '.ds-audit-events-data_access-0', category: 'data_access', because: 'broken' });
    expect(c.fake.indexDeletes).toEqual(['.ds-audit-events-authentication-0', '.ds-audit-events-authentication-1']);
    expect(await c.checkpoints.purgedPrefix('data_access')).toBeNull();
    expect((await c.store.getById(old[0].id))?.event).toEqual(old[0]);
    expect((await c.verify()).ok).toBe(false);
  });

  it('finishes an interrupted run: a prefix recorded before the delete failed is not moved again, and the index goes', async () => {
    await threeIndices(c);
    const runner = c.runner();
    // The cluster refuses the index delete once (after the prefix and the ids went).
    c.fake.failIndexDelete = (index) => index === '.ds-audit-events-data_access-0';
    await expect(runner.run({ now: NOW, dryRun: false })).rejects.toThrow();
    expect((await c.checkpoints.purgedPrefix('data_access'))?.size).toBe(3);
    expect((await c.verify()).ok).toBe(true);
    c.fake.failIndexDelete = null;
    const resumed = await runner.run({ now: NOW, dryRun: false });
    expect(resumed.deleted.map((d) => [d.index, d.chains])).toContainEqual(['.ds-audit-events-data_access-0', []]);
    expect(c.fake.indexDeletes).toContain('.ds-audit-events-data_access-0');
    expect((await c.verify()).ok).toBe(true);
  });
});
