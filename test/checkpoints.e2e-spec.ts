/**
 * Signed checkpoints and proofs through HTTP, checked the way an outside auditor would: with a
 * tiny RFC 9162 / Ed25519 verifier on node:crypto alone (test/support/independent-proof.ts, no project code), fed only
 * the JSON the API returns. Also: consistency proofs between checkpoints, a history rewritten and
 * re-sealed by someone holding the signing key failing the consistency proof against a checkpoint
 * the auditor kept, key rotation, and scopes.
 */
import Database from 'better-sqlite3';
import * as path from 'node:path';
import { FileKeyProvider, embeddedFieldProtection } from '@app/security';
import { SqliteEventStore, openDatabase } from '@app/storage';
import { ChainRow, recordHash } from '@app/ledger';
import { accessEvent } from './support/events';
import { Json, checkProof, checkpointHashOf, consistent, hex, signatureOk } from './support/independent-proof';
import { TestApp, startTestApp } from './support/test-app';

const CHAIN = 'data_access';
const EVERY = 100;
const settings = { integrity: { checkpointEveryRecords: EVERY, checkpointIntervalSeconds: 3600, verifyWorkers: 0 } };

interface Receipt {
  id: string;
  chain: string;
  seq: number;
  hash: string;
}

let t: TestApp;
const receipts: Receipt[] = [];

async function post(n: number): Promise<void> {
  const client = await t.client('integration');
  for (let i = 0; i < n; i += 50) {
    const events = Array.from({ length: Math.min(50, n - i) }, (_, k) => accessEvent({ patient: { id: `MRN-CP-${receipts.length + i + k}` } }));
    const res = await client.request('POST', '/v1/events', { events });
    expect(res.status).toBe(202);
    receipts.push(...(JSON.parse(res.body).receipts as Receipt[]));
  }
}

async function getJson(role: 'auditor' | 'compliance_officer' | 'soc_analyst', url: string): Promise<{ status: number; body: Json }> {
  const res = await (await t.client(role)).request('GET', url);
  return { status: res.status, body: JSON.parse(res.body) as Json };
}

async function listCheckpoints(): Promise<{ checkpoints: Json[]; keys: Map<string, string> }> {
  const { status, body } = await getJson('auditor', `/v1/integrity/checkpoints?chain=${CHAIN}&limit=1000`);
  expect(status).toBe(200);
  const keys = new Map((body.publicKeys as { keyId: string; publicKeyPem: string }[]).map((k) => [k.keyId, k.publicKeyPem]));
  return { checkpoints: body.checkpoints as Json[], keys };
}

beforeAll(async () => {
  t = await startTestApp(settings);
  await post(250);
});

afterAll(async () => {
  await t?.close();
});

describe('signed checkpoints and proofs over HTTP', () => {
  it('seals a checkpoint every N records, signed, and chained by previous', async () => {
    const { checkpoints, keys } = await listCheckpoints();
    expect(checkpoints.map((c) => c.treeSize)).toEqual([100, 200]);
    checkpoints.forEach((cp, i) => {
      expect(Object.keys(cp).sort()).toEqual(['chain', 'issuedAt', 'keyId', 'lastHash', 'previous', 'rootHash', 'signature', 'treeSize']);
      expect(signatureOk(cp, keys.get(cp.keyId as string)!)).toBe(true);
      expect(cp.previous).toBe(i === 0 ? null : checkpointHashOf(checkpoints[i - 1]));
      expect(cp.lastHash).toBe(receipts[(cp.treeSize as number) - 1].hash);
    });
  });

  it('proves an event no checkpoint covers yet by sealing one on demand; an independent verifier accepts it', async () => {
    const r = receipts[230];
    const { status, body } = await getJson('auditor', `/v1/events/${r.id}/proof`);
    expect(status).toBe(200);
    expect(Object.keys(body).sort()).toEqual(['auditPath', 'chain', 'checkpoint', 'leafIndex', 'recordHash', 'seq']);
    expect(body).toMatchObject({ chain: CHAIN, seq: 230, leafIndex: 230, recordHash: r.hash });
    const cp = body.checkpoint as Json;
    expect(cp.treeSize).toBe(250);
    const { keys } = await listCheckpoints();
    expect(checkProof(body, keys.get(cp.keyId as string)!)).toBe(true);
    // Any one-bit change breaks it.
    const path0 = Buffer.from((body.auditPath as string[])[0], 'hex');
    path0[0] ^= 1;
    expect(checkProof({ ...body, auditPath: [path0.toString('hex'), ...(body.auditPath as string[]).slice(1)] }, keys.get(cp.keyId as string)!)).toBe(false);
    expect(checkProof({ ...body, leafIndex: 231 }, keys.get(cp.keyId as string)!)).toBe(false);
  });

  it('proves an old event against the latest checkpoint', async () => {
    const { body } = await getJson('compliance_officer', `/v1/events/${receipts[7].id}/proof`);
    const { keys } = await listCheckpoints();
    expect((body.checkpoint as Json).treeSize).toBe(250);
    expect(checkProof(body, keys.get((body.checkpoint as Json).keyId as string)!)).toBe(true);
  });

  it('serves consistency proofs between checkpoints that verify independently', async () => {
    const { checkpoints, keys } = await listCheckpoints();
    const byId = new Map(checkpoints.map((c) => [c.treeSize as number, c]));
    for (const [from, to] of [
      [100, 250],
      [200, 250],
      [100, 200],
    ]) {
      const { status, body } = await getJson('auditor', `/v1/integrity/consistency?chain=${CHAIN}&from=${from}&to=${to}`);
      expect(status).toBe(200);
      expect(body).toMatchObject({ chain: CHAIN, fromSize: from, toSize: to });
      const old = byId.get(from)!;
      const newer = body.to as Json;
      expect(signatureOk(newer, keys.get(newer.keyId as string)!)).toBe(true);
      expect(consistent(from, to, Buffer.from(old.rootHash as string, 'hex'), Buffer.from(newer.rootHash as string, 'hex'), hex(body.proof))).toBe(true);
    }
    const latest = await getJson('auditor', `/v1/integrity/consistency?chain=${CHAIN}&from=100`);
    expect(latest.body.toSize).toBe(250);
    expect((await getJson('auditor', `/v1/integrity/consistency?chain=${CHAIN}&from=101`)).status).toBe(404);
    expect((await getJson('auditor', `/v1/integrity/consistency?chain=${CHAIN}`)).status).toBe(400);
  });

  it('verification checks the checkpoints too', async () => {
    const { status, body } = await getJson('auditor', '/v1/integrity/verify');
    expect(status).toBe(200);
    expect(body).toMatchObject({ ok: true, break: null });
    expect(body.checkpointsVerified).toBeGreaterThanOrEqual(3);
    expect((body.chains as Json[]).find((c) => c.chain === CHAIN)).toMatchObject({ checkpoints: 3, checkpointsVerified: 3 });
    // A range starts from the last checkpoint at or before it and counts only its own records.
    const range = await getJson('auditor', `/v1/integrity/verify?chain=${CHAIN}&from=120&to=180`);
    expect(range.body).toMatchObject({ ok: true, verified: 61, break: null });
  });

  it('declares scopes: checkpoints:read for the list, proofs:read for proofs', async () => {
    expect((await getJson('soc_analyst', '/v1/integrity/checkpoints')).status).toBe(403);
    expect((await getJson('compliance_officer', '/v1/integrity/checkpoints')).status).toBe(403);
    expect((await getJson('soc_analyst', `/v1/events/${receipts[0].id}/proof`)).status).toBe(200);
    const none = await (await t.client(null)).request('GET', `/v1/events/${receipts[0].id}/proof`);
    expect(none.status).toBe(401);
  });

  it('signs with a rotated key from the next checkpoint on; the old key still verifies the old ones', async () => {
    const before = await listCheckpoints();
    const oldKey = before.checkpoints[0].keyId;
    const rotated = new FileKeyProvider(t.dataDir).rotate();
    await post(10);
    const { body } = await getJson('auditor', `/v1/events/${receipts[receipts.length - 1].id}/proof`);
    expect((body.checkpoint as Json).keyId).toBe(rotated.keyId);
    const after = await listCheckpoints();
    expect(after.keys.size).toBe(2);
    for (const cp of after.checkpoints) expect(signatureOk(cp, after.keys.get(cp.keyId as string)!)).toBe(true);
    expect(after.checkpoints[0].keyId).toBe(oldKey);
    expect(checkProof(body, after.keys.get(rotated.keyId)!)).toBe(true);
    expect((await getJson('auditor', '/v1/integrity/verify')).body).toMatchObject({ ok: true });
  });

  it('a history rewritten and re-sealed with the signing key fails the consistency proof against a checkpoint the auditor kept', async () => {
    const kept = (await listCheckpoints()).checkpoints.find((c) => c.treeSize === 100)!;
    const keptProof = (await getJson('auditor', `/v1/events/${receipts[60].id}/proof`)).body;
    await t.close();

    // The operator rewrites record 50 (its receive time) and re-hashes everything after it, then
    // throws the checkpoints away and lets the service seal the new history with the real key.
    const rows: ChainRow[] = [];
    const store = new SqliteEventStore(openDatabase(t.dataDir, { readonly: true }), embeddedFieldProtection({ dataDir: t.dataDir }));
    for await (const page of store.readChain(CHAIN, 0)) rows.push(...page);
    await store.close();
    const db = new Database(path.join(t.dataDir, 'audit.db'));
    db.exec(`DROP TRIGGER events_are_immutable; DROP TRIGGER chain_heads_only_advance; DROP TRIGGER checkpoints_are_never_deleted;
             DROP TRIGGER merkle_blocks_are_never_deleted;`);
    let prev = rows[49].hash;
    const update = db.prepare('UPDATE events SET received_at = ?, prev_hash = ?, hash = ? WHERE chain = ? AND seq = ?');
    db.transaction(() => {
      for (const r of rows.slice(50)) {
        const receivedAt = r.seq === 50 ? '2020-01-01T00:00:00.000Z' : r.receivedAt;
        const hash = recordHash(prev, CHAIN, r.seq, receivedAt, r.eventJson);
        update.run(receivedAt, prev, hash, CHAIN, r.seq);
        prev = hash;
      }
      db.prepare('UPDATE chain_heads SET hash = ? WHERE chain = ?').run(prev, CHAIN);
      db.prepare('DELETE FROM checkpoints WHERE chain = ?').run(CHAIN);
      db.prepare('DELETE FROM merkle_blocks WHERE chain = ?').run(CHAIN);
    })();
    db.close();

    t = await startTestApp({ ...settings, dataDir: t.dataDir });
    const { status, body } = await getJson('auditor', `/v1/integrity/consistency?chain=${CHAIN}&from=100`);
    expect(status).toBe(200);
    const to = body.to as Json;
    // The re-sealed history is consistent with itself ...
    expect(consistent(100, to.treeSize as number, Buffer.from((body.from as Json).rootHash as string, 'hex'), Buffer.from(to.rootHash as string, 'hex'), hex(body.proof))).toBe(true);
    // ... but not with the checkpoint the auditor kept, nor with the proof fetched before.
    expect((body.from as Json).rootHash).not.toBe(kept.rootHash);
    expect(consistent(100, to.treeSize as number, Buffer.from(kept.rootHash as string, 'hex'), Buffer.from(to.rootHash as string, 'hex'), hex(body.proof))).toBe(false);
    const fresh = (await getJson('auditor', `/v1/events/${receipts[60].id}/proof`)).body;
    expect(fresh.recordHash).not.toBe(keptProof.recordHash);
  });
});
