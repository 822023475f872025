/**
 * No local state in a cluster deployment (issue 18 item 2; compiled service, `npm run build` first):
 * two service processes with STORE=elasticsearch on one Elasticsearch (the repository's double over
 * HTTP), each on its own data dir sharing the keys. Seed traffic with planted patterns is posted to
 * A, which holds the detection lease and evaluates; A is SIGKILLed part-way, with alerts raised but
 * not delivered (the webhook receiver answers 500). The rest of the traffic goes to B. B takes the
 * expired lease, resumes detection from A's snapshot in the cluster (not from the first event), and
 * once the receiver is back it delivers every alert, A's included. In the end every planted alert
 * exists exactly once (none missed at the hand-over, none repeated), each was delivered. A person
 * then signs in to B's console (an account added with the CLI; a wrong password first), a retention
 * run is made on B, and a token is revoked with the CLI and refused by B. After
 * all of it neither data dir holds a database file (no *.db, *.db-wal, *.db-shm): only the keys,
 * the TLS files and the data dir lock (docs/elasticsearch.md, "No local state").
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfig } from '@app/core';
import { patientTokenizerFor, TokenService } from '@app/security';
import { generateTraffic, lastWorkingDay, planSeedRequests, postTicks, SeedBatch } from '@app/simulation';
import { ApiClient, localCa } from '../apps/auditctl/src/api-client';
import { Agent, fetch as undiciFetch } from 'undici';
import { runCliAsync, ServiceProcess, startService, waitForExit } from './support/cli';
import { httpSignIn } from './support/console-browser';
import { alertGroup, allAlerts, plantedGroup, waitForDetection } from './support/detection';
import { EsFakeServer, startEsFakeServer } from './support/es-fake-server';
import { registerPhiMarkers } from './support/log-capture';
import { tempDataDir } from './support/test-app';
import { startWebhookReceiver, waitUntil, WebhookReceiver } from './support/webhook-receiver';

const SECRET = 'whsec-no-local-state';

async function waitReady(svc: ServiceProcess, dataDir: string): Promise<void> {
  const anon = new ApiClient(svc.url, '', { caPem: localCa(dataDir) });
  try {
    await waitUntil('the service to be ready on the Elasticsearch double', async () => (await anon.request('GET', '/health/ready')).status === 200, 30_000);
  } finally {
    anon.close();
  }
}

/** Every file under a data dir, relative to it. */
function filesOf(dataDir: string): string[] {
  return (fs.readdirSync(dataDir, { recursive: true }) as string[]).filter((f) => fs.statSync(path.join(dataDir, f)).isFile()).sort();
}

describe('two instances on Elasticsearch: one dies, the other continues', () => {
  let es: EsFakeServer;
  let receiver: WebhookReceiver;
  const services: ServiceProcess[] = [];

  afterAll(async () => {
    for (const s of services) {
      s.child.kill('SIGTERM');
      await waitForExit(s.child);
    }
    await receiver?.close();
    await es?.close();
  }, 60_000);

  it('detection resumes on B from A’s snapshot without re-alerting or missing, and B delivers what A could not', async () => {
    es = await startEsFakeServer();
    const work = tempDataDir('nolocal-recv-');
    receiver = await startWebhookReceiver(work, SECRET);
    receiver.mode = '500';
    const destinations = path.join(work, 'destinations.json');
    fs.writeFileSync(
      destinations,
      JSON.stringify({ destinations: [{ name: 'soc-hook', type: 'webhook', url: receiver.url, secret: SECRET, caFile: receiver.caFile, timeoutMs: 1000, retry: { initialMs: 200, maxMs: 1000 } }] }),
    );
    const dirA = tempDataDir('nolocal-a-');
    const dirB = tempDataDir('nolocal-b-');
    const env = (dataDir: string) => ({
      DATA_DIR: dataDir,
      LOG_LEVEL: 'info',
      STORE: 'elasticsearch',
      ELASTICSEARCH_URL: es.url,
      DETECTION_LEASE_MS: '2000',
      DETECTION_SNAPSHOT_MS: '100',
      DETECTION_SNAPSHOT_EVENTS: '300',
      ALERT_DESTINATIONS_FILE: destinations,
    });

    const traffic = generateTraffic({ events: 3_000, seed: 18, day: lastWorkingDay() });
    registerPhiMarkers('patient-id', [...new Set(traffic.events.flatMap((e) => (e.patient ? [e.patient.id] : [])))]);
    const ticks = planSeedRequests(traffic.events);
    const acknowledged = new Set<SeedBatch>();

    // A starts alone, takes the lease, and creates the data keys with its first batch; B gets a copy of A's keys.
    const a = await startService(env(dirA));
    services.push(a);
    await waitReady(a, dirA);
    const tokensA = new TokenService(loadConfig({}, { dataDir: dirA }));
    const clientsFor = async (svc: ServiceProcess, dataDir: string, tokens: TokenService) => {
      const ca = localCa(dataDir);
      const clients = new Map<string, ApiClient>();
      for (const integration of new Set(ticks.flatMap((t) => t.map((b) => b.integration)))) {
        clients.set(integration, new ApiClient(svc.url, await tokens.issue({ role: 'integration', sub: integration, ttl: '1h' }), { caPem: ca, maxSockets: 4 }));
      }
      const analyst = new ApiClient(svc.url, await tokens.issue({ role: 'soc_analyst', sub: 'nolocal-analyst', ttl: '1h' }), { caPem: ca });
      const admin = new ApiClient(svc.url, await tokens.issue({ role: 'admin', sub: 'nolocal-admin', ttl: '1h' }), { caPem: ca });
      return { clients, analyst, admin, close: () => [...clients.values(), analyst, admin].forEach((c) => c.close()) };
    };
    const onA = await clientsFor(a, dirA, tokensA);
    const post = (clients: Map<string, ApiClient>, from: number, to: number) =>
      postTicks(ticks.slice(from, to), async (batch) => {
        if (acknowledged.has(batch)) return;
        const res = await clients.get(batch.integration)!.request('POST', '/v1/events', { events: batch.events });
        if (res.status !== 202) throw new Error(`POST /v1/events answered ${res.status}: ${res.body.slice(0, 300)}`);
        acknowledged.add(batch);
      });

    const half = Math.floor(ticks.length / 2);
    await post(onA.clients, 0, half);
    await waitForDetection(onA.analyst).catch((err) => {
      console.log(a.output.filter((l) => /Detection|"warn"|"error"/.test(l)).slice(-40).join('\n'));
      throw err;
    });
    const raisedOnA = (await allAlerts(onA.analyst)).map((x) => x.id);
    expect(raisedOnA.length).toBeGreaterThan(0);
    // A tried to deliver them: the receiver refused.
    await waitUntil('A attempted deliveries', () => receiver.received.length > 0);
    // A few more ticks go to A, then it is killed part-way (what it acknowledged is in the cluster).
    const more = post(onA.clients, half, half + 6).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 150));
    a.child.kill('SIGKILL');
    await waitForExit(a.child);
    await more;
    onA.close();
    expect(receiver.received.filter((r) => r.accepted)).toHaveLength(0);

    fs.cpSync(path.join(dirA, 'keys'), path.join(dirB, 'keys'), { recursive: true });
    const b = await startService(env(dirB));
    services.push(b);
    await waitReady(b, dirB);
    const onB = await clientsFor(b, dirB, new TokenService(loadConfig({}, { dataDir: dirB })));
    try {
      // The rest of the traffic (and whatever A did not acknowledge) goes to B.
      await post(onB.clients, half, ticks.length);
      expect(acknowledged.size).toBe(ticks.flat().length);
      const status = await waitForDetection(onB.analyst, 60_000);
      expect(status.position).toBe(status.headPosition);
      // B took A's lease once it ran out and resumed from A's snapshot, not from the first event.
      expect(b.output.some((line) => line.includes('detection lease taken') && line.includes('resumedFrom=snapshot'))).toBe(true);

      // Every planted pattern raised its alert exactly once across the hand-over, and nothing else.
      const tokenizer = patientTokenizerFor({ dataDir: dirB });
      const alerts = await allAlerts(onB.analyst);
      expect(alerts.map((x) => alertGroup(x.ruleId, x.groupKey)).sort()).toEqual(traffic.planted.map((p) => plantedGroup(p.rule, p.group, (id) => tokenizer.token(id))).sort());
      expect(new Set(alerts.map((x) => x.id)).size).toBe(alerts.length);
      expect(alerts.map((x) => x.id)).toEqual(expect.arrayContaining(raisedOnA));

      // The receiver is back: B delivers every alert, those A raised and could not deliver included.
      receiver.mode = 'ok';
      const delivered = () => new Set(receiver.received.filter((r) => r.accepted).flatMap((r) => (r.body as { alerts: { id: string }[] }).alerts.map((x) => x.id)));
      await waitUntil('every alert delivered by B', () => alerts.every((x) => delivered().has(x.id)), 40_000);
      expect(receiver.received.every((r) => r.signatureValid)).toBe(true);
      await waitUntil('the shared queue empty', async () => JSON.parse((await onB.admin.request('GET', '/v1/alert-destinations')).body).destinations[0].queueDepth === 0);
      const dest = JSON.parse((await onB.admin.request('GET', '/v1/alert-destinations')).body).destinations[0];
      expect(dest).toMatchObject({ queueDepth: 0, delivered: alerts.length, deadLetters: 0 });

      // Console sign-in on B: an account added with the CLI on the cluster, a wrong password first (the lockout count).
      const cliEnv = { STORE: 'elasticsearch', ELASTICSEARCH_URL: es.url };
      const added = await runCliAsync(['users', 'add', 'nolocal-ann', '--role', 'admin', '--data-dir', dirB], cliEnv);
      expect(added.status).toBe(0);
      // B serves HTTPS with its data dir's CA: fetch through an agent that trusts it.
      const dispatcher = new Agent({ connect: { ca: localCa(dirB) } });
      const tlsFetch = ((url: string, init?: object) => undiciFetch(url, { ...init, dispatcher })) as unknown as typeof fetch;
      await expect(httpSignIn(b.url, 'nolocal-ann', 'not-the-password', undefined, tlsFetch)).rejects.toThrow('sign-in answered 401');
      const session = await httpSignIn(b.url, 'nolocal-ann', added.stdout.trim().split('\n').at(-1)!, 'a-long-and-new-passphrase-18', tlsFetch);
      expect((await session.get('/console/admin/people')).status).toBe(200);

      // A retention run on B (nothing is past its window: it deletes nothing, and is recorded).
      const run = await onB.admin.request('POST', '/v1/retention/runs', { dryRun: false });
      expect(run.status).toBe(200);

      // A token revoked with the CLI on the cluster is refused by B.
      const doomed = await new TokenService(loadConfig({}, { dataDir: dirB })).issue({ role: 'soc_analyst', sub: 'nolocal-doomed', ttl: '1h' });
      const asDoomed = new ApiClient(b.url, doomed, { caPem: localCa(dirB) });
      try {
        expect((await asDoomed.request('GET', '/v1/rules')).status).toBe(200);
        expect((await runCliAsync(['token', 'revoke', '--sub', 'nolocal-doomed', '--data-dir', dirB], cliEnv)).status).toBe(0);
        await waitUntil('the revoked token refused by B', async () => (await asDoomed.request('GET', '/v1/rules')).status === 401, 10_000);
      } finally {
        asDoomed.close();
      }
    } finally {
      onB.close();
    }

    // Neither instance opened a database file: what remains in the data dirs is keys, TLS files and the lock.
    for (const dir of [dirA, dirB]) {
      const files = filesOf(dir);
      expect({ dir: path.basename(dir), databases: files.filter((f) => /\.db(-wal|-shm|-journal)?$/.test(f)) }).toEqual({ dir: path.basename(dir), databases: [] });
      expect(files.filter((f) => !/^(keys|tls)\//.test(f))).toEqual(expect.arrayContaining(['service.lock']));
      console.log(`${path.basename(dir)}: ${files.join(' ')}`);
    }
  }, 240_000);
});
