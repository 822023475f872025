/**
 * `npm run bench:delivery` (after `npm run build`): alert delivery while the service ingests.
 * Starts a local HTTPS webhook receiver (checks every signature), then the compiled service twice
 * on fresh data dirs, posting the same traffic (1 event per 100 raising an alert: a behavioral-health
 * record read for payment, rule sensitive-segment-without-treatment, one alert per actor and patient;
 * not break-glass, whose floods from one integration are folded to 11 alerts a minute):
 *   1. without ALERT_DESTINATIONS_FILE: ingest ceiling (closed loop), events/s;
 *   2. with the receiver as its destination: the ceiling again while deliveries flow (the effect of
 *      delivery on ingest throughput), then half that rate in an open loop: alerts/s delivered, the
 *      ingest rate achieved and the added latency from alert stored (its createdAt) to received (p50/p99).
 * Options (env): BENCH_DELIVERY_SECONDS (default 15 per phase), BENCH_DELIVERY_CONCURRENCY (4),
 * BENCH_DELIVERY_ROUNDS (2: how many times each of 1. and 2. runs, interleaved).
 * Besides events/s it prints the service's CPU time per event (all its threads, from /proc): the
 * figure a shared machine's load moves least.
 */
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as os from 'node:os';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { loadConfig } from '@app/core';
import { ensureLocalPki, TokenService } from '@app/security';
import { ApiClient, localCa } from '../apps/auditctl/src/api-client';
import { benchDataDir, closedLoop, fmt, machine, percentile, processCpuMs, startServiceProcess } from './bench-support';

const SECONDS = Number(process.env.BENCH_DELIVERY_SECONDS ?? 15);
const CONCURRENCY = Number(process.env.BENCH_DELIVERY_CONCURRENCY ?? 4);
const ROUNDS = Number(process.env.BENCH_DELIVERY_ROUNDS ?? 2);
const BATCH = 100;
const SECRET = 'bench-delivery-secret';

let serial = 0;
function batch(alerting: boolean): string {
  const now = Date.now();
  const events = Array.from({ length: BATCH }, (_, i) => {
    serial++;
    const alert = alerting && i === 0;
    return {
      id: randomUUID(),
      occurredAt: new Date(now - 1000).toISOString(),
      category: 'data_access',
      action: 'read',
      outcome: 'success',
      actor: { id: `bench-user-${serial % 40}`, type: 'user', role: 'physician', ip: '10.0.0.1' },
      patient: { id: `BENCH-P-${alert ? `S${serial}` : serial % 500}` },
      resource: { type: 'Observation', id: `obs-${serial}` },
      purpose: alert ? 'PAYMENT' : 'TREAT',
      ...(alert ? { sensitivity: ['behavioral_health'] } : {}),
      source: { system: 'bench', integration: 'sample-ehr' },
    };
  });
  return JSON.stringify({ events });
}

async function main(): Promise<void> {
  const dir = benchDataDir('delivery');
  const pki = await ensureLocalPki(path.join(dir, 'receiver'), ['127.0.0.1']);
  const received: { at: number; latencyMs: number }[] = [];
  let badSignatures = 0;
  let tlsConnections = 0;
  const receiver = https.createServer({ key: pki.serverKeyPem, cert: pki.serverCertPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = Date.now();
      const raw = Buffer.concat(chunks).toString('utf8');
      const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(req.headers['x-audit-signature'] ?? ''));
      const ok = !!m && timingSafeEqual(createHmac('sha256', SECRET).update(`${m[1]}.${raw}`).digest(), Buffer.from(m[2], 'hex'));
      if (!ok) badSignatures++;
      for (const a of (JSON.parse(raw) as { alerts: { raisedAt: string }[] }).alerts) received.push({ at, latencyMs: at - Date.parse(a.raisedAt) });
      res.writeHead(ok ? 204 : 401).end();
    });
  });
  receiver.on('secureConnection', () => tlsConnections++);
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const caFile = path.join(dir, 'receiver-ca.pem');
  fs.writeFileSync(caFile, pki.caCertPem);
  const file = path.join(dir, 'destinations.json');
  const port = (receiver.address() as AddressInfo).port;
  fs.writeFileSync(file, JSON.stringify({ destinations: [{ name: 'bench-hook', type: 'webhook', url: `https://127.0.0.1:${port}/hook`, secret: SECRET, caFile }] }));

  const start = async (name: string, env: NodeJS.ProcessEnv) => {
    const dataDir = path.join(dir, name);
    const svc = await startServiceProcess({ DATA_DIR: dataDir, ...env });
    const token = await new TokenService(loadConfig({}, { dataDir })).issue({ role: 'integration', sub: 'sample-ehr', ttl: '1h' });
    return { svc, client: new ApiClient(svc.url, token, { caPem: localCa(dataDir), maxSockets: CONCURRENCY + 4 }) };
  };
  const stop = async (s: { svc: { child: import('node:child_process').ChildProcess }; client: ApiClient }) => {
    s.client.close();
    s.svc.child.kill('SIGTERM');
    await new Promise((r) => s.svc.child.once('exit', r));
  };
  /** Events/s in a closed loop, and the service's CPU (all its threads) per event meanwhile. */
  const ceiling = async (client: ApiClient, pid: number | undefined) => {
    await closedLoop(client, Array.from({ length: 20 }, () => batch(true)), CONCURRENCY); // warm-up
    const cpu0 = processCpuMs(pid);
    const end = Date.now() + SECONDS * 1000;
    let events = 0;
    let seconds = 0;
    while (Date.now() < end) {
      const r = await closedLoop(client, Array.from({ length: 50 }, () => batch(true)), CONCURRENCY);
      events += 50 * BATCH;
      seconds += r.seconds;
    }
    return { rate: events / seconds, cpuUsPerEvent: ((processCpuMs(pid) - cpu0) * 1000) / events };
  };
  process.stdout.write(`alert delivery bench: ${machine()}; ${SECONDS} s per phase, batches of ${BATCH} with 1 alert each, concurrency ${CONCURRENCY}\n`);
  // Interleaved (A B A B) so the load of a shared machine falls on both alike.
  const ceilings: Record<'plain' | 'delivery', number[]> = { plain: [], delivery: [] };
  const cpu: Record<'plain' | 'delivery', number[]> = { plain: [], delivery: [] };
  let deliveredDuringCeilings = 0;
  for (let round = 0; round < ROUNDS; round++) {
    for (const kind of ['plain', 'delivery'] as const) {
      const s = await start(`${kind}-${round}`, kind === 'delivery' ? { ALERT_DESTINATIONS_FILE: file } : {});
      const before = received.length;
      try {
        const c = await ceiling(s.client, s.svc.child.pid);
        ceilings[kind].push(c.rate);
        cpu[kind].push(c.cpuUsPerEvent);
      } finally {
        await stop(s);
      }
      if (kind === 'delivery') deliveredDuringCeilings += received.length - before;
    }
  }
  const mean = (xs: number[]) => xs.reduce((x, y) => x + y, 0) / xs.length;
  const r0 = mean(ceilings.plain);
  const r1 = mean(ceilings.delivery);
  process.stdout.write(`1. ingest ceiling, no destinations:           ${fmt(r0)} events/s (runs: ${ceilings.plain.map((x) => fmt(x)).join(', ')})\n`);
  process.stdout.write(`2. ingest ceiling, alerts delivered:          ${fmt(r1)} events/s (runs: ${ceilings.delivery.map((x) => fmt(x)).join(', ')}; ${fmt(((r1 - r0) / r0) * 100, 1)}% vs 1.), ${deliveredDuringCeilings} alerts delivered meanwhile\n`);
  const c0 = mean(cpu.plain);
  const c1 = mean(cpu.delivery);
  process.stdout.write(`   service CPU per event (all threads):      ${fmt(c0, 1)} us without, ${fmt(c1, 1)} us with delivery (${fmt(((c1 - c0) / c0) * 100, 1)}%; runs: ${cpu.plain.map((x) => fmt(x, 1)).join(', ')} / ${cpu.delivery.map((x) => fmt(x, 1)).join(', ')})\n`);
  process.stdout.write(`   receiver TLS connections so far:          ${tlsConnections}; load average ${os.loadavg().map((x) => fmt(x, 1)).join(' ')}\n`);
  const withHook = await start('delivery-latency', { ALERT_DESTINATIONS_FILE: file });
  const client = withHook.client;
  try {
    // 3. Half the ceiling, open loop.
    const target = r1 / 2;
    const before = received.length;
    const intervalMs = (BATCH / target) * 1000;
    const started = Date.now();
    let sent = 0;
    let alertsPosted = 0;
    const inFlight = new Set<Promise<unknown>>();
    while (Date.now() - started < SECONDS * 1000) {
      const due = Math.floor((Date.now() - started) / intervalMs) + 1;
      while (sent < due) {
        const p = client.request('POST', '/v1/events', batch(true)).finally(() => inFlight.delete(p));
        inFlight.add(p);
        sent++;
        alertsPosted++;
      }
      await new Promise((r) => setTimeout(r, Math.max(1, intervalMs / 2)));
    }
    await Promise.all(inFlight);
    const ingestSeconds = (Date.now() - started) / 1000;
    const deadline = Date.now() + 30_000;
    while (received.length - before < alertsPosted && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const phase = received.slice(before);
    const lat = phase.map((r) => r.latencyMs).sort((a, b) => a - b);
    const span = (phase[phase.length - 1]?.at - started) / 1000;
    process.stdout.write(`3. at half the ceiling (${fmt(target)} events/s target), 1 alert per ${BATCH} events:\n`);
    process.stdout.write(`   ingest achieved:                          ${fmt((sent * BATCH) / ingestSeconds)} events/s\n`);
    process.stdout.write(`   alerts delivered:                         ${phase.length} of ${alertsPosted} (${fmt(phase.length / span, 1)} alerts/s)\n`);
    process.stdout.write(`   stored -> delivered latency:              p50 ${fmt(percentile(lat, 50))} ms, p99 ${fmt(percentile(lat, 99))} ms, max ${fmt(lat[lat.length - 1] ?? NaN)} ms\n`);

    process.stdout.write(`   bad signatures at the receiver: ${badSignatures}\n`);
  } finally {
    await stop(withHook);
    receiver.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
