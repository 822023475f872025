/**
 * `npm run bench:console` (after `npm run build`): the web console's main pages over a large store.
 * Builds (once, cached under .bench-data/) a store of BENCH_EVENTS events (default 300,000; the
 * target is 10,000,000, see README) with one patient who has 1,000 accesses, adds BENCH_ALERTS
 * alerts (default 5,000) whose evidence points at stored events, starts the real service on it
 * (child process, plain HTTP on loopback, detection off), signs in an analyst and a compliance officer
 * and times each page BENCH_RUNS times (default 20): time to the last byte, p50 / p95 / max.
 * Every page view also makes its durable access-log record, as in production.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConsoleStore, hashPassword } from '@app/console';
import { loadConfig } from '@app/core';
import { alertIndexing } from '@app/detection/service';
import { DetectionAlert } from '@app/detection';
import { SqliteAlertStore } from '@app/detection/service';
import { embeddedTextSealer } from '@app/security';
import { openDatabase } from '@app/storage';
import { REPO_ROOT, fmt, machine, percentile, startServiceProcess } from './bench-support';
import { buildSyntheticStore } from './report-store';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 300_000);
const ALERTS = Number(process.env.BENCH_ALERTS ?? 5_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const TARGET = 'MRN-BENCH-TARGET';
const DIR = path.resolve(process.env.BENCH_DATA_DIR ?? path.join(REPO_ROOT, '.bench-data', `console-${EVENTS}`));
const PASSWORD = 'bench-password-0123456789';

async function ensureStore(): Promise<void> {
  const marker = path.join(DIR, 'bench-console.json');
  if (fs.existsSync(marker) && process.env.BENCH_REBUILD !== '1') return void console.log(`Reusing the store in ${DIR} (BENCH_REBUILD=1 to rebuild).`);
  fs.rmSync(DIR, { recursive: true, force: true });
  const started = performance.now();
  console.log(`Building a store of ${fmt(EVENTS)} events and ${fmt(ALERTS)} alerts in ${DIR} ...`);
  await buildSyntheticStore(DIR, { events: EVENTS, targetAccesses: 1000, targetPatient: TARGET });
  const db = openDatabase(DIR);
  const config = loadConfig({}, { dataDir: DIR });
  const alerts = new SqliteAlertStore(db, embeddedTextSealer(config), alertIndexing(config));
  // Evidence from stored events: each alert points at 20 events of one actor.
  const rows = db.prepare('SELECT id, occurred_ms FROM events ORDER BY rowid DESC LIMIT ?').all(ALERTS * 20) as { id: string; occurred_ms: number }[];
  const severities = ['low', 'medium', 'high', 'critical'] as const;
  const batch: DetectionAlert[] = [];
  for (let i = 0; i < ALERTS && (i + 1) * 20 <= rows.length; i++) {
    const refs = rows.slice(i * 20, i * 20 + 20);
    const at = (ms: number) => new Date(ms).toISOString();
    const first = Math.min(...refs.map((r) => r.occurred_ms));
    const last = Math.max(...refs.map((r) => r.occurred_ms));
    const actor = `u-${i % 5000}`;
    batch.push({
      id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      ruleId: i % 3 === 0 ? 'bulk-phi-read' : i % 3 === 1 ? 'break-glass-access' : 'after-hours-access',
      title: 'Synthetic benchmark alert',
      severity: severities[i % 4]!,
      kind: 'match',
      runbook: 'break-glass-access',
      tags: [],
      reasons: ['break-glass'],
      actor,
      groupKey: { 'actor.id': actor },
      windowStart: at(first),
      windowEnd: at(last),
      count: 20,
      evidence: { eventIds: refs.map((r) => r.id), firstEventId: refs[0]!.id, lastEventId: refs[19]!.id, total: 20, truncated: false },
      summary: { eventCount: 20, firstEventAt: at(first), lastEventAt: at(last), spanMs: last - first, distinctPatients: 1, topPatients: [], distinctActors: 1, actors: [actor], distinctSourceIps: 0, sourceIps: [], sourceSystems: ['ehr'], integrations: [] },
      position: i,
    } as DetectionAlert);
  }
  await alerts.saveAll(batch, new Date().toISOString());
  db.close();
  fs.writeFileSync(marker, JSON.stringify({ events: EVENTS, alerts: batch.length, builtInMs: Math.round(performance.now() - started) }));
  console.log(`Built in ${fmt((performance.now() - started) / 1000, 1)} s.`);
}

async function signIn(base: string, name: string): Promise<string> {
  const page = await fetch(`${base}/console/sign-in`);
  const pre = page.headers.getSetCookie().find((c) => c.startsWith('console-signin='))!.split(';')[0]!;
  const csrf = /name="_csrf" value="([^"]+)"/.exec(await page.text())![1]!;
  const res = await fetch(`${base}/console/sign-in`, { method: 'POST', redirect: 'manual', headers: { cookie: pre, origin: base, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ _csrf: csrf, name, password: PASSWORD }) });
  return res.headers.getSetCookie().find((c) => c.startsWith('console-session='))!.split(';')[0]!;
}

async function main(): Promise<void> {
  await ensureStore();
  const db = openDatabase(DIR);
  const users = new ConsoleStore(db);
  for (const [name, role] of [['bench-analyst', 'soc_analyst'], ['bench-compliance', 'compliance_officer']] as const) {
    await users.putUser(name, role, await hashPassword(PASSWORD), true);
    await users.setPassword(name, await hashPassword(PASSWORD));
  }
  const alertId = (db.prepare('SELECT id FROM alerts ORDER BY window_end_ms DESC LIMIT 1').get() as { id: string }).id;
  db.close();
  const svc = await startServiceProcess({ DATA_DIR: DIR, DETECTION_ENABLED: 'false', INSECURE_HTTP: 'true' });
  try {
    const base = svc.url.replace(/\/$/, '');
    const analyst = await signIn(base, 'bench-analyst');
    const compliance = await signIn(base, 'bench-compliance');
    const pages: [string, string, string][] = [
      ['alert queue (open, counts by severity and rule)', analyst, '/console/alerts'],
      ['alert queue, all statuses, one rule', analyst, '/console/alerts?status=all&rule=bulk-phi-read'],
      ['alert detail (20 evidence events, actor activity, runbook)', analyst, `/console/alerts/${alertId}`],
      ['patient access history (1,000 accesses; newest 200 shown)', compliance, `/console/patients?patient=${TARGET}`],
      ['user activity (one actor)', compliance, '/console/users?actor=u-42'],
      ['legal holds', compliance, '/console/holds'],
      ['retention runs', compliance, '/console/retention'],
    ];
    console.log(`\n${machine()}\nstore: ${fmt(EVENTS)} events, ${fmt(ALERTS)} alerts; ${RUNS} runs per page (first run reported apart)\n`);
    console.log('| page | first | p50 | p95 | max |\n|---|---|---|---|---|');
    for (const [label, cookie, url] of pages) {
      const times: number[] = [];
      for (let i = 0; i <= RUNS; i++) {
        const t0 = performance.now();
        const res = await fetch(`${base}${url}`, { headers: { cookie } });
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
        times.push(performance.now() - t0);
      }
      const first = times.shift()!;
      const sorted = [...times].sort((a, b) => a - b);
      console.log(`| ${label} | ${fmt(first, 1)} ms | ${fmt(percentile(sorted, 50), 1)} ms | ${fmt(percentile(sorted, 95), 1)} ms | ${fmt(sorted[sorted.length - 1]!, 1)} ms |`);
    }
  } finally {
    svc.child.kill('SIGTERM');
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
