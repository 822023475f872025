/**
 * `npm run bench:report` (after `npm run build`): compliance reports over a large store. Builds
 * (once, cached under .bench-data/) a store of BENCH_EVENTS events (default 10,000,000) with one
 * patient who has exactly 1,000 accesses, starts the real service on it (child process, HTTPS),
 * and times the patient-access report in JSON, CSV and HTML (time to the last byte, signature
 * checked), a user-activity report, and one very large report (every failed access, ~2% of the
 * store) while sampling the service's RSS. Target: patient-access under 500 ms, memory flat.
 *
 * Options (env): BENCH_EVENTS (10000000), BENCH_RUNS (10), BENCH_DATA_DIR (.bench-data/report-<N>),
 * BENCH_REBUILD=1 to rebuild the store. The detection worker is off (it would otherwise replay the
 * whole synthetic store at start, which a live service never does).
 */
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import { ChildProcess } from 'node:child_process';
import { loadConfig } from '@app/core';
import { keysFromDataDir, verifySignedReport } from '@app/reports';
import { TokenService } from '@app/security';
import { localCa } from '../apps/auditctl/src/api-client';
import { REPO_ROOT, fmt, machine, percentile, startServiceProcess } from './bench-support';
import { buildSyntheticStore } from './report-store';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 10_000_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const TARGET_ACCESSES = 1000;
const TARGET = 'MRN-BENCH-TARGET';
const DIR = path.resolve(process.env.BENCH_DATA_DIR ?? path.join(REPO_ROOT, '.bench-data', `report-${EVENTS}`));
const MB = 1024 * 1024;

interface Timed {
  ms: number;
  firstByteMs: number;
  bytes: number;
  status: number;
  body?: Buffer;
}

function get(url: string, token: string, ca: Buffer | undefined, keep: boolean): Promise<Timed> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca, headers: { authorization: `Bearer ${token}` }, agent: false }, (res) => {
        let bytes = 0;
        let firstByteMs = -1;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => {
          if (firstByteMs < 0) firstByteMs = performance.now() - started;
          bytes += c.length;
          if (keep) chunks.push(c);
        });
        res.on('end', () => resolve({ ms: performance.now() - started, firstByteMs, bytes, status: res.statusCode ?? 0, body: keep ? Buffer.concat(chunks) : undefined }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

function rssMb(child: ChildProcess): number {
  const status = fs.readFileSync(`/proc/${child.pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

async function ensureStore(): Promise<void> {
  const marker = path.join(DIR, 'bench-store.json');
  if (fs.existsSync(marker) && process.env.BENCH_REBUILD !== '1') {
    console.log(`Reusing the store in ${DIR} (BENCH_REBUILD=1 to rebuild).`);
    return;
  }
  fs.rmSync(DIR, { recursive: true, force: true });
  console.log(`Building a store of ${fmt(EVENTS)} events in ${DIR} ...`);
  const started = performance.now();
  let last = 0;
  await buildSyntheticStore(DIR, {
    events: EVENTS,
    targetAccesses: TARGET_ACCESSES,
    targetPatient: TARGET,
    seal: true,
    onProgress: (written) => {
      const now = performance.now();
      if (now - last > 10_000 || written === EVENTS) {
        last = now;
        const s = (now - started) / 1000;
        console.log(`  ${fmt(written)} events, ${fmt(s, 0)} s, ${fmt(written / s)} events/s`);
      }
    },
  });
}

async function main(): Promise<void> {
  console.log(`Report benchmark on ${machine()}`);
  await ensureStore();
  const dbBytes = fs.statSync(path.join(DIR, 'audit.db')).size;
  const svc = await startServiceProcess({ DATA_DIR: DIR, DETECTION_ENABLED: 'false' });
  const ca = localCa(DIR);
  const token = await new TokenService(loadConfig({}, { dataDir: DIR })).issue({ role: 'compliance_officer', sub: 'bench', ttl: '1h' });
  const keys = keysFromDataDir(DIR);
  const rows: string[] = [];
  try {
    const rssIdle = rssMb(svc.child);
    const url = (p: string) => `${svc.url}${p}`;
    const patientPath = (format: string) => `/v1/reports/patient-access?patient=${TARGET}&format=${format}`;

    // Warm-up (first read of the indexes from disk), then timed runs per format.
    const cold = await get(url(patientPath('json')), token, ca, true);
    const coldRows = JSON.parse(cold.body!.toString('utf8')).summary.rows as number;
    if (coldRows !== TARGET_ACCESSES) throw new Error(`expected ${TARGET_ACCESSES} rows, got ${coldRows}`);
    rows.push(`| patient-access, first request after start (cold cache), JSON | ${fmt(cold.ms, 1)} ms |`);
    let rssPeak = rssMb(svc.child);
    for (const format of ['json', 'csv', 'html']) {
      const times: number[] = [];
      const firstBytes: number[] = [];
      let bytes = 0;
      for (let i = 0; i < RUNS; i++) {
        const r = await get(url(patientPath(format)), token, ca, i === 0);
        if (r.status !== 200) throw new Error(`status ${r.status}`);
        if (i === 0) {
          const verdict = verifySignedReport(r.body!, keys);
          if (!verdict.ok) throw new Error(`the ${format} report does not verify: ${verdict.reason}`);
        }
        times.push(r.ms);
        firstBytes.push(r.firstByteMs);
        bytes = r.bytes;
        rssPeak = Math.max(rssPeak, rssMb(svc.child));
      }
      times.sort((a, b) => a - b);
      firstBytes.sort((a, b) => a - b);
      rows.push(
        `| patient-access, ${fmt(TARGET_ACCESSES)} rows, ${format.toUpperCase()} (${fmt(bytes / 1024)} KiB, signature verified), ${RUNS} runs | p50 ${fmt(percentile(times, 50), 1)} ms, p95 ${fmt(percentile(times, 95), 1)} ms, max ${fmt(times[times.length - 1], 1)} ms (first byte p50 ${fmt(percentile(firstBytes, 50), 1)} ms) |`,
      );
    }
    const user = await get(url('/v1/reports/user-activity?actor=u-42&format=csv'), token, ca, false);
    rows.push(`| user-activity of one actor (~${fmt(EVENTS / 5000)} events), CSV | ${fmt(user.ms, 1)} ms, ${fmt(user.bytes / MB, 1)} MiB |`);
    const rssAfterSmall = rssMb(svc.child);

    // One very large report, twice, streamed and discarded by the client, while sampling the
    // service's RSS and V8 heap (its own /metrics): flat means the second run peaks where the first did.
    const heapMb = async () => {
      const m = await get(url('/metrics'), token, ca, true);
      return Number(/^audit_process_nodejs_heap_size_used_bytes ([0-9.e+]+)/m.exec(m.body!.toString('utf8'))?.[1] ?? NaN) / MB;
    };
    const heapBefore = await heapMb();
    const bigRows = Math.round(EVENTS * 0.02);
    const peaks: { rss: number; heap: number }[] = [];
    for (let run = 1; run <= 2; run++) {
      let sampling = true;
      const peak = { rss: 0, heap: 0 };
      const sampler = (async () => {
        while (sampling) {
          peak.rss = Math.max(peak.rss, rssMb(svc.child));
          peak.heap = Math.max(peak.heap, await heapMb());
          await new Promise((r) => setTimeout(r, 200));
        }
      })();
      const big = await get(url('/v1/reports/failed-access?format=csv'), token, ca, false);
      sampling = false;
      await sampler;
      peaks.push(peak);
      rows.push(
        `| failed-access over the whole store (~${fmt(bigRows)} rows, ${fmt(big.bytes / MB, 1)} MiB CSV), streamed, run ${run} | ${fmt(big.ms / 1000, 1)} s, first byte after ${fmt(big.firstByteMs, 1)} ms, ~${fmt(bigRows / (big.ms / 1000))} rows/s; service peak RSS ${fmt(peak.rss)} MiB, peak V8 heap ${fmt(peak.heap)} MiB |`,
      );
    }
    const rssEnd = rssMb(svc.child);
    const heapEnd = await heapMb();
    rows.push(`| service RSS: idle after start / after the patient reports / after the large reports | ${fmt(rssIdle)} / ${fmt(Math.max(rssPeak, rssAfterSmall))} / ${fmt(rssEnd)} MiB |`);
    rows.push(`| service V8 heap used: before the large reports / peak run 1 / peak run 2 / after | ${fmt(heapBefore)} / ${fmt(peaks[0].heap)} / ${fmt(peaks[1].heap)} / ${fmt(heapEnd)} MiB |`);

    console.log('');
    console.log(`Store: ${fmt(EVENTS)} events, ${fmt(dbBytes / MB / 1024, 2)} GiB database; patient ${TARGET} has ${fmt(TARGET_ACCESSES)} accesses. Service over HTTPS, detection off.`);
    console.log('');
    console.log('| measurement | result |');
    console.log('|---|---|');
    for (const r of rows) console.log(r);
  } finally {
    svc.child.kill('SIGTERM');
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
