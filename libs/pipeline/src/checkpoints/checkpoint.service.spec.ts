/**
 * CheckpointService and ProofService over a real embedded store (temp dir): cadence, resume after a
 * crash, refusing to sign tampered records, racing sealers, and proofs that verify.
 */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { AccessEvent } from '@app/core';
import {
  GENESIS_HASH,
  canonicalize,
  checkpointHash,
  keyIdFor,
  leafHash,
  recordHash,
  verifyCheckpointChain,
  verifyConsistency,
  verifyInclusionProofDocument,
} from '@app/ledger';
import { FileKeyProvider, embeddedFieldProtection } from '@app/security';
import { ChainedRecord, SqliteCheckpointStore, SqliteEventStore, openDatabase } from '@app/storage';
import { CheckpointService } from './checkpoint.service';
import { ProofService } from './proof.service';

const CHAIN = 'data_access';

function event(n: number): AccessEvent {
  return {
    id: randomUUID(),
    occurredAt: '2026-03-02T10:15:00.000Z',
    category: 'data_access',
    action: 'read',
    outcome: 'success',
    actor: { id: `u-${n % 7}`, type: 'user', ip: '10.0.0.1' },
    patient: { id: `MRN-${n}` },
    source: { system: 'ehr' },
  };
}

class Harness {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cp-spec-'));
  readonly db = openDatabase(this.dir);
  readonly events = new SqliteEventStore(this.db, embeddedFieldProtection({ dataDir: this.dir }));
  readonly checkpoints = new SqliteCheckpointStore(this.db);
  readonly keys = new FileKeyProvider(this.dir);
  head = { seq: -1, hash: GENESIS_HASH };

  service(everyRecords = 100, intervalMs = 3_600_000): CheckpointService {
    return new CheckpointService(this.events, this.checkpoints, this.keys, { everyRecords, intervalMs });
  }

  /** Appends n records straight to the store, as the chain writer does; returns them. */
  async append(n: number): Promise<ChainedRecord[]> {
    const receivedAt = new Date().toISOString();
    const records: ChainedRecord[] = [];
    for (let i = 0; i < n; i++) {
      const e = event(this.head.seq + 1);
      const json = canonicalize(e);
      const seq = this.head.seq + 1;
      const hash = recordHash(this.head.hash, CHAIN, seq, receivedAt, json);
      records.push({ chain: CHAIN, seq, receivedAt, event: e, eventJson: json, prevHash: this.head.hash, hash });
      this.head = { seq, hash };
    }
    await this.events.append(records);
    return records;
  }

  async chainOk(): Promise<boolean> {
    const list = await this.checkpoints.list(CHAIN);
    return verifyCheckpointChain(
      list.map((c) => c.checkpoint),
      new Map(this.keys.publicKeys().map((k) => [k.keyId, k.publicKeyPem])),
      { previous: null },
    ).ok;
  }
}

/** Lets queued per-chain steps run. */
async function settle(service: CheckpointService): Promise<void> {
  await service.seal('no-such-chain');
  await new Promise((r) => setImmediate(r));
}

describe('CheckpointService', () => {
  it('seals every N records at exactly N, chains checkpoints, and stores block roots', async () => {
    const h = new Harness();
    const svc = h.service(100);
    for (let i = 0; i < 5; i++) svc.recordsCommitted(await h.append(70));
    await svc.seal(CHAIN, 1); // queued after the commits
    const sizes = (await h.checkpoints.list(CHAIN)).map((c) => c.checkpoint.treeSize);
    expect(sizes).toEqual([100, 200, 300]);
    expect(await h.chainOk()).toBe(true);
    await svc.stop();
    expect((await h.checkpoints.latest(CHAIN))!.checkpoint.treeSize).toBe(350); // sealed on shutdown
    expect(await h.chainOk()).toBe(true);
  });

  it('seals records that waited the interval', async () => {
    const h = new Harness();
    const svc = h.service(1_000_000, 150);
    await svc.start();
    svc.recordsCommitted(await h.append(5));
    await new Promise((r) => setTimeout(r, 700));
    expect((await h.checkpoints.latest(CHAIN))?.checkpoint.treeSize).toBe(5);
    await svc.stop();
  });

  it('resumes after a crash from the last checkpoint and the records after it, losing nothing', async () => {
    const h = new Harness();
    const first = h.service(100);
    first.recordsCommitted(await h.append(150));
    await settle(first);
    // "kill -9": the first service is dropped without stop(); more records arrive meanwhile.
    await h.append(1234);
    const second = h.service(100);
    await second.start();
    await second.seal(CHAIN, h.head.seq + 1);
    const list = await h.checkpoints.list(CHAIN);
    expect(list[0].checkpoint.treeSize).toBe(100);
    expect(list[list.length - 1].checkpoint.treeSize).toBe(1384);
    expect(list[list.length - 1].checkpoint.lastHash).toBe(h.head.hash.toString('hex'));
    expect(await h.chainOk()).toBe(true);
    await second.stop();
  });

  it('does not sign unsealed records that do not verify', async () => {
    const h = new Harness();
    const svc = h.service(100);
    svc.recordsCommitted(await h.append(100));
    await settle(svc);
    await h.append(20);
    const raw = new Database(path.join(h.dir, 'audit.db'));
    raw.exec('DROP TRIGGER events_are_immutable');
    raw.prepare('UPDATE events SET received_at = ? WHERE chain = ? AND seq = 110').run('2001-01-01T00:00:00.000Z', CHAIN);
    raw.close();
    const logs: string[] = [];
    const fresh = new CheckpointService(h.events, h.checkpoints, h.keys, { everyRecords: 100, intervalMs: 3_600_000 }, (_l, msg) => logs.push(msg));
    expect(await fresh.seal(CHAIN, 120)).toBeNull();
    expect((await h.checkpoints.latest(CHAIN))!.checkpoint.treeSize).toBe(100);
    expect(logs.join(' ')).toMatch(/do not verify/);
  });

  it('two sealers on one database never fork the checkpoint chain', async () => {
    const h = new Harness();
    const a = h.service(50);
    const b = h.service(50);
    for (let i = 0; i < 6; i++) {
      const records = await h.append(40);
      a.recordsCommitted(records);
      await b.seal(CHAIN, h.head.seq + 1);
    }
    await a.seal(CHAIN, h.head.seq + 1);
    const list = await h.checkpoints.list(CHAIN);
    expect(list.map((c) => c.index)).toEqual(list.map((_, i) => i));
    expect(await h.chainOk()).toBe(true);
    expect(list[list.length - 1].checkpoint.treeSize).toBe(240);
  });

  it('still seals on shutdown when another process sealed the chain meanwhile (auditctl export)', async () => {
    const h = new Harness();
    const svc = h.service(1_000);
    svc.recordsCommitted(await h.append(30));
    await settle(svc);
    await h.service(1_000).seal(CHAIN, 30); // another process seals what this one has not yet
    svc.recordsCommitted(await h.append(12));
    await svc.stop();
    const list = await h.checkpoints.list(CHAIN);
    expect(list.map((c) => c.checkpoint.treeSize)).toEqual([30, 42]);
    expect(list[1].checkpoint.lastHash).toBe(h.head.hash.toString('hex'));
    expect(await h.chainOk()).toBe(true);
  });

  it('signs with the rotated key from the next checkpoint on', async () => {
    const h = new Harness();
    const svc = h.service(10);
    svc.recordsCommitted(await h.append(10));
    await settle(svc);
    const rotated = h.keys.rotate();
    svc.recordsCommitted(await h.append(10));
    await settle(svc);
    const list = await h.checkpoints.list(CHAIN);
    expect(list[1].checkpoint.keyId).toBe(rotated.keyId);
    expect(list[0].checkpoint.keyId).not.toBe(rotated.keyId);
    expect(list[1].checkpoint.previous).toBe(checkpointHash(list[0].checkpoint));
    expect(await h.chainOk()).toBe(true);
  });
});

describe('ProofService', () => {
  const h = new Harness();
  let svc: CheckpointService;
  let proofs: ProofService;
  let records: ChainedRecord[] = [];

  beforeAll(async () => {
    svc = h.service(1000);
    for (let i = 0; i < 6; i++) {
      const batch = await h.append(777);
      records = records.concat(batch);
      svc.recordsCommitted(batch);
    }
    await settle(svc);
    proofs = new ProofService(h.events, h.checkpoints, svc);
  });

  it.each([0, 1, 1023, 1024, 2500, 3999, 4000, 4661])('proves record %i against the latest checkpoint (sealing one on demand past 4000)', async (seq) => {
    const doc = await proofs.inclusionProof(records[seq].event.id);
    expect(doc.checkpoint.treeSize).toBe(seq < 4000 ? 4000 : 4662);
    const key = h.keys.publicKeys().find((k) => k.keyId === doc.checkpoint.keyId)!;
    expect(keyIdFor(key.publicKeyPem)).toBe(doc.checkpoint.keyId);
    expect(verifyInclusionProofDocument(doc, key.publicKeyPem)).toEqual({ ok: true, reason: null });
    expect(doc.recordHash).toBe(records[seq].hash.toString('hex'));
  });

  it('proves consistency between any two checkpoints', async () => {
    const list = await h.checkpoints.list(CHAIN);
    for (const from of list) {
      for (const to of list) {
        if (to.checkpoint.treeSize < from.checkpoint.treeSize) continue;
        const doc = await proofs.consistencyProof(CHAIN, from.checkpoint.treeSize, to.checkpoint.treeSize);
        const ok = verifyConsistency(
          from.checkpoint.treeSize,
          to.checkpoint.treeSize,
          Buffer.from(from.checkpoint.rootHash, 'hex'),
          Buffer.from(to.checkpoint.rootHash, 'hex'),
          doc.proof.map((p) => Buffer.from(p, 'hex')),
        );
        expect(ok).toBe(true);
      }
    }
  });

  it('answers 404 for an unknown event and an unknown tree size', async () => {
    await expect(proofs.inclusionProof(randomUUID())).rejects.toMatchObject({ status: 404 });
    await expect(proofs.consistencyProof(CHAIN, 999)).rejects.toMatchObject({ status: 404 });
  });

  it('refuses to serve a proof the stored records no longer support', async () => {
    const raw = new Database(path.join(h.dir, 'audit.db'));
    raw.exec('DROP TRIGGER IF EXISTS merkle_blocks_are_immutable');
    raw.prepare('UPDATE merkle_blocks SET root = ? WHERE chain = ? AND block = 1').run(leafHash(Buffer.alloc(32)), CHAIN);
    raw.close();
    await expect(proofs.inclusionProof(records[10].event.id)).rejects.toMatchObject({ status: 500 });
  });
});
