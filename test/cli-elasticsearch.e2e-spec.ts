/**
 * auditctl with STORE=elasticsearch (compiled CLI, `npm run build` first; the service runs against
 * the Elasticsearch double served over HTTP): `verify` and `export` read the cluster the service
 * writes to, through the same adapters (a record changed in the cluster is a BREAK, the export
 * verifies offline), `detect --from` replays it and finds the alert streaming detection stored,
 * the reads are recorded in the cluster's access log, `retention runs` lists the runs the service
 * recorded in the cluster, the other `retention` commands refuse with exit code 2 instead of working
 * on a local file that holds nothing, and an unreachable cluster is exit code
 * 2 naming ELASTICSEARCH_URL, never an OK.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from '@app/core';
import { EsFakeServer, startEsFakeServer } from './support/es-fake-server';
import { accessEvent } from './support/events';
import { CLI_MAIN, CliResult, REPO_ROOT } from './support/cli';
import { TestApp, startTestApp } from './support/test-app';

/** The CLI as a child process, without blocking this process: the Elasticsearch double answers from here. */
function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI_MAIN, ...args], { cwd: REPO_ROOT, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err ? (err as NodeJS.ErrnoException & { code?: number | string }).code : 0;
      resolve({ status: typeof code === 'number' ? code : -1, stdout, stderr });
    });
  });
}

describe('auditctl with STORE=elasticsearch', () => {
  let es: EsFakeServer;
  let t: TestApp;
  let env: NodeJS.ProcessEnv;
  const events = [
    accessEvent({ patient: { id: 'MRN-CLI-ES-1' }, occurredAt: '2026-03-02T10:15:00.000Z' }),
    accessEvent({ patient: { id: 'MRN-CLI-ES-1' }, occurredAt: '2026-03-02T10:16:00.000Z', action: 'query' }),
    accessEvent({ patient: { id: 'MRN-CLI-ES-2' }, occurredAt: '2026-03-02T10:17:00.000Z' }),
  ];
  const glass = accessEvent({ action: 'break_glass', purpose: 'EMERGENCY', patient: { id: 'MRN-CLI-ES-2' } });

  beforeAll(async () => {
    es = await startEsFakeServer();
    t = await startTestApp({ scaleOut: loadConfig({ STORE: 'elasticsearch', ELASTICSEARCH_URL: es.url }).scaleOut! });
    env = { STORE: 'elasticsearch', ELASTICSEARCH_URL: es.url, DATA_DIR: t.dataDir };
    const anon = await t.client(null);
    for (const until = Date.now() + 20_000; (await anon.request('GET', '/health/ready')).status !== 200; await new Promise((r) => setTimeout(r, 100))) {
      if (Date.now() > until) throw new Error('the service did not become ready on the Elasticsearch double');
    }
    const integration = await t.client('integration', 'sample-ehr');
    expect((await integration.request('POST', '/v1/events', { events: [...events, glass] })).status).toBe(202);
  });
  afterAll(async () => {
    await t?.close();
    await es?.close();
  });

  it('verify reads the cluster: OK with its records, and the read is in its access log', async () => {
    const ok = await runCli(['verify', '--chain', 'data_access', '--json'], env);
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, verified: 4, chains: [{ chain: 'data_access', verified: 4 }] });
    // The read is in the cluster's access log, not in a local file.
    const stored = () => JSON.stringify([...es.fake.streams.values()].map((b) => b.map((m) => [...m.values()])));
    expect(stored()).toContain('integrity.verify');
  });

  it('export writes the cluster chain for offline verification', async () => {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'audit-es-export-')), 'export');
    const r = await runCli(['export', '--chain', 'data_access', '--out', out], env);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^Exported chain data_access: 4 records \(seq 0\.\.3\)/);
    const offline = await runCli(['verify', '--offline', out]);
    expect(offline.status).toBe(0);
    expect(offline.stdout).toMatch(/^OK: 4 records verified in 1 chain\(s\)/);
  });

  it('detect --from replays the cluster and finds the alert streaming detection stored', async () => {
    const analyst = await t.client('soc_analyst');
    let alerts: { ruleId: string }[] = [];
    for (const until = Date.now() + 20_000; alerts.length === 0 && Date.now() < until; await new Promise((r) => setTimeout(r, 100))) {
      alerts = JSON.parse((await analyst.request('GET', '/v1/alerts?rule=break-glass-access')).body).alerts;
    }
    expect(alerts).toHaveLength(1);
    const r = await runCli(['detect', '--from', '2000-01-01', '--json'], env);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const summary = JSON.parse(r.stdout) as { evaluated: number; rules: { ruleId: string; raised: number; stored: number }[] };
    expect(summary.evaluated).toBe(4);
    expect(summary.rules.find((x) => x.ruleId === 'break-glass-access')).toMatchObject({ raised: 1, stored: 0 });
    expect(es.fake.indices.get('audit-alerts')!.size).toBe(1);
  });

  it('retention runs lists the runs the service recorded in the cluster', async () => {
    const run = await (await t.client('admin', 'u-admin-cli-es')).request('POST', '/v1/retention/runs', { dryRun: false });
    expect(run.status).toBe(200);
    const runId = (JSON.parse(run.body) as { runId: string }).runId;
    const r = await runCli(['retention', 'runs', '--limit', '5'], env);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([expect.objectContaining({ id: runId, trigger: 'api:admin:u-admin-cli-es', status: 'completed', deleted: 0 })]);
  });

  it('the other retention commands refuse with exit code 2 and say what to use instead', async () => {
    for (const args of [['retention', 'run', '--dry-run'], ['retention', 'archives']]) {
      const r = await runCli(args, env);
      expect(r.status).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/STORE=elasticsearch: this command works on the embedded store only; .*ILM/);
    }
  });

  it('an unreachable cluster is exit code 2 naming ELASTICSEARCH_URL, never OK', async () => {
    const down = { ...env, ELASTICSEARCH_URL: 'http://127.0.0.1:1' };
    for (const args of [['verify'], ['export', '--chain', 'data_access', '--out', path.join(os.tmpdir(), `audit-es-none-${process.pid}`)], ['detect', '--from', '2000-01-01']]) {
      const r = await runCli(args, down);
      expect(r.status).toBe(2);
      expect(r.stdout).not.toMatch(/OK/);
      expect(r.stderr).toMatch(/ELASTICSEARCH_URL=http:\/\/127\.0\.0\.1:1 is not reachable/);
    }
  });

  it('a record changed in the cluster is a BREAK', async () => {
    // (A removed document is written again from the chain head's write-ahead copy: change one instead.)
    const doc = [...es.fake.streams.values()].flat().find((m) => m.has('data_access:1'))!.get('data_access:1')!;
    const audit = doc.source.audit as { canonical: string };
    expect(audit.canonical).toContain('"action":"query"');
    audit.canonical = audit.canonical.replace('"action":"query"', '"action":"read"');
    const r = await runCli(['verify', '--chain', 'data_access'], env);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^BREAK: chain data_access seq 1 /);
  });
});
