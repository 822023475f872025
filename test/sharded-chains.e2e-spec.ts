/**
 * Sharded chains (CHAIN_SHARDS=8) end to end, as users meet them: twelve integrations post over
 * HTTP; every receipt names the shard chain the documented formula gives (recomputed here with
 * node:crypto); `GET /v1/integrity/verify` and `auditctl verify` cover every shard (a category names
 * all of its shards); `auditctl export --chain data_access` writes one export per shard that
 * `auditctl verify --offline` passes and that names the shard of a record changed in it; a proof of
 * an event in a shard checks independently against that shard's signed checkpoint; a user-activity
 * report lists every row across the shards with each shard's checkpoint verified; and retention
 * at +6.5 years empties every data-access shard (one window per category) while every
 * authentication shard stays, with verification passing after it.
 */
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from '@app/core';
import { runCli } from './support/cli';
import { accessEvent } from './support/events';
import { Json, checkProof } from './support/independent-proof';
import { startTestApp, tempDataDir } from './support/test-app';

const SHARDS = 8;
const YEAR = 365.25 * 24 * 3600 * 1000;
const settings = () => ({ integrity: loadConfig({ CHAIN_SHARDS: String(SHARDS), CHECKPOINT_EVERY_RECORDS: '4', CHECKPOINT_INTERVAL_SECONDS: '3600' }).integrity });
/** README "Sharded chains": uint32_be(SHA-256(integration NUL system)[0..4]) mod n. */
const shardOf = (integration: string, system: string) => createHash('sha256').update(`${integration}\u0000${system}`, 'utf8').digest().readUInt32BE(0) % SHARDS;

interface Receipt {
  id: string;
  chain: string;
  seq: number;
  hash: string;
}

/** Records kept per chain, in whichever tier: hot, warm, or a cold archive not deleted. */
function keptPerChain(dir: string): Map<string, number> {
  const db = new Database(path.join(dir, 'audit.db'), { readonly: true });
  try {
    const tiers = db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'retention_archives'").get() !== undefined;
    const rows = db
      .prepare(
        `SELECT chain, SUM(n) AS n FROM (
           SELECT chain, COUNT(*) AS n FROM events GROUP BY chain
           ${tiers ? 'UNION ALL SELECT chain, COUNT(*) FROM warm_events WHERE restored = 0 GROUP BY chain UNION ALL SELECT chain, SUM(count) FROM retention_archives WHERE deleted_at IS NULL GROUP BY chain' : ''}
         ) GROUP BY chain HAVING SUM(n) > 0`,
      )
      .all() as { chain: string; n: number }[];
    return new Map(rows.map((r) => [r.chain, r.n]));
  } finally {
    db.close();
  }
}

describe('sharded chains (CHAIN_SHARDS=8) over HTTP, CLI, export, proof and retention', () => {
  let dir: string;
  const receipts = new Map<string, Receipt & { category: string; integration: string; system: string }>();
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'audit-shard-export-'));

  beforeAll(async () => {
    dir = tempDataDir('audit-shards-');
    const t = await startTestApp({ dataDir: dir, ...settings() });
    try {
      for (let i = 0; i < 12; i++) {
        const integration = `shard-ehr-${i}`;
        const system = `shard-system-${i}`;
        const ehr = await t.client('integration', integration);
        const events = [
          ...Array.from({ length: 3 }, (_, k) => accessEvent({ patient: { id: `MRN-SHARD-${i}-${k}` }, source: { system, integration } })),
          ...Array.from({ length: 2 }, () => accessEvent({ category: 'authentication', action: 'login', patient: undefined, resource: undefined, purpose: undefined, source: { system, integration } })),
        ];
        const res = await ehr.request('POST', '/v1/events', { events });
        expect(res.status).toBe(202);
        (JSON.parse(res.body).receipts as Receipt[]).forEach((r, k) => receipts.set(r.id, { ...r, category: events[k].category, integration, system }));
      }

      // GET /v1/integrity/verify: every shard chain, and a category names all of its shards.
      const auditor = await t.client('auditor');
      const all = JSON.parse((await auditor.request('GET', '/v1/integrity/verify')).body) as { ok: boolean; chains: { chain: string; verified: number }[] };
      expect(all.ok).toBe(true);
      const used = new Set([...receipts.values()].map((r) => r.chain));
      for (const c of used) expect(all.chains.find((x) => x.chain === c)?.verified).toBeGreaterThan(0);
      const category = JSON.parse((await auditor.request('GET', '/v1/integrity/verify?chain=data_access')).body) as { ok: boolean; verified: number; chains: { chain: string }[] };
      expect(category.ok).toBe(true);
      expect(category.verified).toBe(36);
      expect(category.chains.map((c) => c.chain).sort()).toEqual([...used].filter((c) => c.startsWith('data_access.')).sort());
      const one = [...used].find((c) => c.startsWith('data_access.'))!;
      const single = JSON.parse((await auditor.request('GET', `/v1/integrity/verify?chain=${one}`)).body) as { chains: { chain: string }[] };
      expect(single.chains.map((c) => c.chain)).toEqual([one]);
      expect((await auditor.request('GET', '/v1/integrity/verify?chain=data_access.99')).status).toBe(404);
    } finally {
      await t.close(); // seals a checkpoint of every chain
    }
  }, 120_000);

  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(out, { recursive: true, force: true });
  });

  it('each receipt names category.shard from the source, and each shard is its own sequence from 0', () => {
    expect(receipts.size).toBe(60);
    const perChain = new Map<string, number[]>();
    for (const r of receipts.values()) {
      expect(r.chain).toBe(`${r.category}.${shardOf(r.integration, r.system)}`);
      perChain.set(r.chain, [...(perChain.get(r.chain) ?? []), r.seq]);
    }
    // Twelve sources over eight shards: several chains per category, none of them the bare category.
    expect([...perChain.keys()].filter((c) => c.startsWith('data_access.')).length).toBeGreaterThan(3);
    for (const seqs of perChain.values()) expect(seqs.sort((a, b) => a - b)).toEqual(seqs.map((_, i) => i));
    expect(keptPerChain(dir).has('data_access')).toBe(false);
  });

  it('auditctl verify checks every shard chain, and --chain data_access all of its shards', () => {
    const v = runCli(['verify', '--data-dir', dir]);
    expect(v.stderr).toBe('');
    expect(v.status).toBe(0);
    for (const c of new Set([...receipts.values()].map((r) => r.chain))) expect(v.stdout).toMatch(new RegExp(`^  ${c.replace('.', '\\.')}: \\d+ records`, 'm'));
    const cat = runCli(['verify', '--data-dir', dir, '--chain', 'data_access']);
    expect(cat.status).toBe(0);
    expect(cat.stdout).toMatch(/^OK: 36 records verified in \d+ chain\(s\)/);
    expect(cat.stdout).not.toMatch(/^  authentication/m);
  });

  it('export --chain data_access writes one export per shard; verify --offline passes, and names the shard of a changed record', () => {
    const exportDir = path.join(out, 'data-access');
    const e = runCli(['export', '--chain', 'data_access', '--out', exportDir, '--data-dir', dir]);
    expect(e.stderr).toBe('');
    expect(e.status).toBe(0);
    const shards = [...new Set([...receipts.values()].filter((r) => r.category === 'data_access').map((r) => r.chain))].sort();
    expect(fs.readdirSync(exportDir).sort()).toEqual(shards);
    const ok = runCli(['verify', '--offline', exportDir, '--json']);
    expect(ok.status).toBe(0);
    const result = JSON.parse(ok.stdout) as { ok: boolean; verified: number; chains: { chain: string }[] };
    expect(result).toMatchObject({ ok: true, verified: 36 });
    expect(result.chains.map((c) => c.chain)).toEqual(shards);

    // Change one stored record in one shard's export: offline verification names that shard.
    const victim = shards[shards.length - 1];
    const file = path.join(exportDir, victim, 'records.ndjson');
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    const changed = lines[0].replace('Observation', 'Medication');
    expect(changed).not.toBe(lines[0]);
    fs.writeFileSync(file, [changed, ...lines.slice(1)].join('\n'));
    const bad = runCli(['verify', '--offline', exportDir]);
    expect(bad.status).toBe(1);
    expect(bad.stdout).toContain(`BREAK: chain ${victim} seq 0 kind modified`);
  });

  it('a proof of an event in a shard checks independently against that shard chain\'s signed checkpoint', async () => {
    const t = await startTestApp({ dataDir: dir, ...settings() });
    try {
      const target = [...receipts.values()].filter((r) => r.category === 'data_access').sort((a, b) => b.seq - a.seq)[0];
      const auditor = await t.client('auditor');
      const res = await auditor.request('GET', `/v1/events/${target.id}/proof`);
      expect(res.status).toBe(200);
      const proof = JSON.parse(res.body) as Json;
      expect(proof).toMatchObject({ chain: target.chain, seq: target.seq, leafIndex: target.seq, recordHash: target.hash });
      const cp = proof.checkpoint as Json;
      expect(cp.chain).toBe(target.chain);
      // The shard's own tree: its size is the shard's length, not the category's.
      expect(cp.treeSize).toBe([...receipts.values()].filter((r) => r.chain === target.chain).length);
      const keys = JSON.parse((await auditor.request('GET', '/v1/integrity/checkpoints')).body) as { publicKeys: { keyId: string; publicKeyPem: string }[] };
      const pem = keys.publicKeys.find((k) => k.keyId === cp.keyId)!.publicKeyPem;
      expect(checkProof(proof, pem)).toBe(true);
      expect(checkProof({ ...proof, recordHash: receipts.get([...receipts.keys()][0])!.hash }, pem)).toBe(false);

      // A report across shards: every row, and each shard chain's signed checkpoint stated and verified.
      const officer = await t.client('compliance_officer');
      const rep = await officer.request('GET', '/v1/reports/user-activity?actor=dr-alice&from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z&format=json');
      expect(rep.status).toBe(200);
      const doc = JSON.parse(rep.body) as { summary: { rows: number; chains: { chain: string; records: number }[] }; integrity: { checkpoints: { verified: boolean | null; checkpoints: { chain: string; verified: boolean }[]; unsealed: unknown[] } } };
      expect(doc.summary.rows).toBe(60);
      const used = [...new Set([...receipts.values()].map((r) => r.chain))].sort();
      expect(doc.summary.chains.map((c) => c.chain)).toEqual(used);
      for (const c of doc.summary.chains) expect(c.records).toBe([...receipts.values()].filter((r) => r.chain === c.chain).length);
      expect(doc.integrity.checkpoints.verified).toBe(true);
      expect(doc.integrity.checkpoints.checkpoints.map((c) => c.chain).sort()).toEqual(used);
      expect(doc.integrity.checkpoints.unsealed).toEqual([]);
    } finally {
      await t.close();
    }
  });

  it('retention at +6.5 years purges every data-access shard and keeps every authentication shard; verify passes after', () => {
    const before = keptPerChain(dir);
    const now = new Date(Date.now() + 6.5 * YEAR).toISOString();
    const r = runCli(['retention', 'run', '--data-dir', dir, '--json', '--now', now], { CHAIN_SHARDS: String(SHARDS) });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout) as { deleted: number; chains: { chain: string; count: number }[] };
    expect(report.deleted).toBe(36);
    const after = keptPerChain(dir);
    for (const [chain, n] of before) {
      if (chain.startsWith('data_access.')) {
        expect(report.chains.find((c) => c.chain === chain)?.count).toBe(n);
        expect(after.get(chain) ?? 0).toBe(0);
      } else if (chain.startsWith('authentication.')) expect(after.get(chain)).toBe(n);
    }
    const v = runCli(['verify', '--data-dir', dir]);
    expect(v.stderr).toBe('');
    expect(v.status).toBe(0);
    expect(v.stdout).toMatch(/^OK: /);
  });
});
