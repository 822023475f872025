/**
 * Upgrading a store made before sharded chains, and changing CHAIN_SHARDS on it (README "Sharded
 * chains": safe, nothing moves). test/fixtures/single-chain-main is a data dir written by main at
 * 2fc3959: 54 events in the chains `data_access`, `authentication`, `security` (bare category ids),
 * signed checkpoints, its keys. With this build it verifies as it is (CLI, CHAIN_SHARDS on or off);
 * the service started with CHAIN_SHARDS=8 serves the old events and their proofs, answers a
 * repeated old id with its original receipt, and puts new events in shard chains; started again
 * with CHAIN_SHARDS=1 it continues the old category chains after their last record; every chain,
 * old and new, verifies after each step.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AccessEvent, loadConfig } from '@app/core';
import { spawnSync } from 'node:child_process';
import { API_MAIN, REPO_ROOT, runCli } from './support/cli';
import { registerPhiMarkers } from './support/log-capture';
import { Json, checkProof } from './support/independent-proof';
import { startTestApp, tempDataDir } from './support/test-app';

const FIXTURE = path.join(__dirname, 'fixtures', 'single-chain-main');

type Posted = AccessEvent & { receipt: { id: string; chain: string; seq: number; hash: string } };

function copyFixture(): string {
  const dir = tempDataDir('audit-shard-upgrade-');
  for (const f of ['audit.db', 'source-bindings.json']) fs.copyFileSync(path.join(FIXTURE, f), path.join(dir, f));
  fs.cpSync(path.join(FIXTURE, 'keys'), path.join(dir, 'keys'), { recursive: true });
  for (const f of fs.readdirSync(path.join(dir, 'keys'), { recursive: true }) as string[]) {
    const p = path.join(dir, 'keys', f);
    if (fs.statSync(p).isFile()) fs.chmodSync(p, 0o600);
  }
  return dir;
}

const withShards = (n: number) => ({ integrity: loadConfig({ CHAIN_SHARDS: String(n) }).integrity });

function verifyOk(dir: string, env: NodeJS.ProcessEnv = {}): string {
  const v = runCli(['verify', '--data-dir', dir], env);
  expect(v.stderr).toBe('');
  expect(v.stdout).toMatch(/^OK: /);
  expect(v.status).toBe(0);
  return v.stdout;
}

/** A new event from one of the fixture's integrations (their systems are bound to them in source-bindings.json). */
function newEvent(integration: string, i: number): AccessEvent {
  const patient = `MRN-UPG-${integration}-${i}`;
  registerPhiMarkers('patient-id', [patient]);
  return {
    id: randomUUID(),
    occurredAt: '2026-11-02T09:00:00.000Z',
    category: 'data_access',
    action: 'read',
    outcome: 'success',
    actor: { id: `upg-user-${i}`, type: 'user', role: 'physician' },
    patient: { id: patient },
    resource: { type: 'Observation', id: `obs-upg-${i}` },
    purpose: 'TREAT',
    source: { system: `${integration}-system`, integration },
  };
}

describe('a single-chain store made by main before sharding, upgraded', () => {
  const posted = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'events.json'), 'utf8')) as Posted[];
  let dir: string;
  beforeAll(() => {
    dir = copyFixture();
    registerPhiMarkers('patient-id', posted.map((e) => e.patient?.id));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('verifies as it is, whether CHAIN_SHARDS is set or not, and its chain ids are still the categories', () => {
    for (const env of [{}, { CHAIN_SHARDS: '8' }]) {
      const out = verifyOk(dir, env);
      expect(out).toMatch(/^OK: \d+ records verified in 4 chain\(s\)/); // the three categories and the access log
      for (const c of ['authentication', 'data_access', 'security']) expect(out).toContain(`  ${c}: 18 records, head seq 17, 2/2 checkpoints`);
    }
    const cat = runCli(['verify', '--data-dir', dir, '--chain', 'data_access']);
    expect(cat.status).toBe(0);
    expect(cat.stdout).toMatch(/^OK: 18 records verified in 1 chain\(s\)/);
  });

  it('with CHAIN_SHARDS=8: old events, receipts and proofs are served as they were; new events go to shard chains', async () => {
    const t = await startTestApp({ dataDir: dir, ...withShards(8) });
    try {
      const analyst = await t.client('compliance_officer');
      const auditor = await t.client('auditor');
      const old = posted.find((e) => e.category === 'data_access')!;
      const got = await analyst.request('GET', `/v1/events/${old.id}`);
      expect(got.status).toBe(200);
      expect(JSON.stringify(JSON.parse(got.body))).toContain(old.receipt.hash);
      const proofRes = await auditor.request('GET', `/v1/events/${old.id}/proof`);
      expect(proofRes.status).toBe(200);
      const proof = JSON.parse(proofRes.body) as Json;
      expect(proof).toMatchObject({ chain: 'data_access', seq: old.receipt.seq, recordHash: old.receipt.hash });
      const keys = JSON.parse((await auditor.request('GET', '/v1/integrity/checkpoints')).body) as { publicKeys: { keyId: string; publicKeyPem: string }[] };
      expect(checkProof(proof, keys.publicKeys.find((k) => k.keyId === (proof.checkpoint as Json).keyId)!.publicKeyPem)).toBe(true);

      // The same old event posted again: its original receipt, in the category chain.
      const ehr = await t.client('integration', old.source.integration);
      const { receipt: _r, ...oldEvent } = old;
      const again = await ehr.request('POST', '/v1/events', oldEvent);
      expect(again.status).toBe(202);
      expect(JSON.parse(again.body).receipts[0]).toMatchObject({ id: old.id, chain: 'data_access', seq: old.receipt.seq, hash: old.receipt.hash });

      for (const integration of ['fixture-ehr', 'fixture-lab', 'fixture-pacs']) {
        const client = await t.client('integration', integration);
        const res = await client.request('POST', '/v1/events', { events: [newEvent(integration, 1), newEvent(integration, 2)] });
        expect(res.status).toBe(202);
        for (const r of JSON.parse(res.body).receipts as { chain: string; seq: number }[]) expect(r.chain).toMatch(/^data_access\.[0-7]$/);
      }
      const v = JSON.parse((await auditor.request('GET', '/v1/integrity/verify')).body) as { ok: boolean; chains: { chain: string }[] };
      expect(v.ok).toBe(true);
      expect(v.chains.map((c) => c.chain)).toEqual(expect.arrayContaining(['authentication', 'data_access', 'security']));
      expect(v.chains.some((c) => /^data_access\.\d$/.test(c.chain))).toBe(true);
    } finally {
      await t.close();
    }
    const out = verifyOk(dir);
    expect(out).toContain('  data_access: 18 records, head seq 17');
    expect(out).toMatch(/^ {2}data_access\.\d: 2 records/m);
  });

  it('back to CHAIN_SHARDS=1: new events continue the category chains after their last record; every chain verifies', async () => {
    const t = await startTestApp({ dataDir: dir, ...withShards(1) });
    try {
      const ehr = await t.client('integration', 'fixture-ehr');
      const res = await ehr.request('POST', '/v1/events', { events: [newEvent('fixture-ehr', 3)] });
      expect(res.status).toBe(202);
      expect(JSON.parse(res.body).receipts[0]).toMatchObject({ chain: 'data_access', seq: 18 });
    } finally {
      await t.close();
    }
    const out = verifyOk(dir, { CHAIN_SHARDS: '1' });
    expect(out).toContain('  data_access: 19 records, head seq 18');
    expect(out).toMatch(/^ {2}data_access\.\d: 2 records/m);
    const cat = runCli(['verify', '--data-dir', dir, '--chain', 'data_access', '--json']);
    expect(cat.status).toBe(0);
    expect((JSON.parse(cat.stdout) as { verified: number }).verified).toBe(19 + 6);
  });
});

describe('CHAIN_SHARDS checked at start', () => {
  it('the service refuses a bad value, naming the key and the range, before touching the data dir', () => {
    const dir = tempDataDir('audit-shard-bad-');
    try {
      for (const bad of ['0', '65', 'many']) {
        const r = spawnSync(process.execPath, [API_MAIN], { cwd: REPO_ROOT, env: { ...process.env, DATA_DIR: dir, PORT: '0', CHAIN_SHARDS: bad }, encoding: 'utf8', timeout: 30_000 });
        expect(r.status).not.toBe(0);
        expect(`${r.stdout}${r.stderr}`).toContain('CHAIN_SHARDS: must be a whole number from 1 to 64');
      }
      expect(fs.existsSync(path.join(dir, 'audit.db'))).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
