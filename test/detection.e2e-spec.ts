/**
 * Detection end to end over HTTP on the real application: the seed traffic (`auditctl seed`'s
 * generator, posted through POST /v1/events as the seed command posts it) raises exactly one alert
 * group per planted pattern and none for benign actors; every evidence id resolves through
 * GET /v1/events/{id} to an event that satisfies the rule; alerts come with their runbook rendered;
 * the acknowledge/resolve lifecycle records who and why and refuses invalid transitions with 409;
 * GET /v1/rules lists the loaded rules. (A bad rule file stopping start-up: detection-cli.e2e-spec.ts.)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AccessEvent, detectionSettingsOf, loadConfig } from '@app/core';
import { loadRules } from '@app/detection';
import { generateTraffic, lastWorkingDay, planSeedRequests, SEED_PLANTED_RULES, Traffic } from '@app/simulation';
import { ApiClient } from '../apps/auditctl/src/api-client';
import { patientTokenizerFor } from '@app/security';
import { AlertJson, alertGroup, allAlerts, plantedGroup, postTicks, satisfiesRule, waitForDetection } from './support/detection';
import { startTestApp, TestApp } from './support/test-app';

const ROOT = path.resolve(__dirname, '..');
const rules = loadRules(path.join(ROOT, 'detection-rules'));
const ruleById = new Map(rules.map((r) => [r.id, r]));
const PROBLEM = 'application/problem+json';

describe('detection over HTTP', () => {
  let app: TestApp;
  let analyst: ApiClient;
  let traffic: Traffic;
  let alerts: AlertJson[];
  const clients = new Map<string, Promise<ApiClient>>();

  beforeAll(async () => {
    app = await startTestApp();
    analyst = await app.client('soc_analyst', 'analyst-jane');
    traffic = generateTraffic({ events: 3_000, seed: 42, day: lastWorkingDay() });
    const clientFor = (integration: string) => {
      if (!clients.has(integration)) clients.set(integration, app.client('integration', integration));
      return clients.get(integration)!;
    };
    await postTicks(planSeedRequests(traffic.events), clientFor);
    await waitForDetection(analyst);
    alerts = await allAlerts(analyst);
  }, 120_000);

  let closed = false;
  afterAll(async () => {
    if (!closed) await app?.close();
  });

  it('raises exactly one alert group per planted pattern, and one alert in each', () => {
    const tokenizer = patientTokenizerFor(app.config);
    const planted = traffic.planted.map((p) => plantedGroup(p.rule, p.group, (id) => tokenizer.token(id))).sort();
    // One planted group for every rule that needs no context or learned history (the seed has neither).
    expect(new Set(planted).size).toBe(SEED_PLANTED_RULES.length);
    expect(alerts.map((a) => alertGroup(a.ruleId, a.groupKey)).sort()).toEqual(planted);
  });

  it('raises nothing for benign actors', () => {
    const plantedKeys = new Set(traffic.planted.flatMap((p) => Object.values(p.group)));
    const benignActors = new Set(traffic.events.map((e) => e.actor.id).filter((id) => !plantedKeys.has(id)));
    expect(benignActors.size).toBeGreaterThan(100);
    for (const alert of alerts) {
      for (const value of Object.values(alert.groupKey)) expect(benignActors.has(String(value))).toBe(false);
    }
  });

  it('gives evidence ids that resolve to stored events satisfying the rule, first and last included', async () => {
    const reader = await app.client('compliance_officer');
    for (const alert of alerts) {
      const rule = ruleById.get(alert.ruleId)!;
      expect(alert.evidence.eventIds.length).toBeGreaterThan(0);
      expect(alert.evidence.eventIds).toContain(alert.evidence.firstEventId);
      expect(alert.evidence.eventIds).toContain(alert.evidence.lastEventId);
      for (const id of alert.evidence.eventIds) {
        const res = await reader.request('GET', `/v1/events/${id}`);
        expect(res.status).toBe(200);
        const event = (JSON.parse(res.body) as { event: AccessEvent }).event;
        expect(event.id).toBe(id);
        expect(satisfiesRule(rule, event)).toBe(true);
        // The event belongs to the alert's group (patient ids aside: they may be tokenized for readers).
        for (const [field, value] of Object.entries(alert.groupKey)) {
          if (field.startsWith('patient.')) continue;
          const actual = field.split('.').reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], event);
          expect(actual).toBe(value);
        }
      }
    }
  });

  it('returns one alert with its runbook rendered as Markdown', async () => {
    for (const alert of alerts) {
      const res = await analyst.request('GET', `/v1/alerts/${alert.id}`);
      expect(res.status).toBe(200);
      const detail = JSON.parse(res.body) as AlertJson & { runbook: { name: string; markdown: string } };
      expect(detail.id).toBe(alert.id);
      expect(detail.evidence.eventIds).toEqual(alert.evidence.eventIds);
      expect(detail.runbook.name).toBe(ruleById.get(alert.ruleId)!.runbook);
      expect(detail.runbook.markdown).toContain('# Runbook');
      expect(detail.runbook.markdown).toContain(alert.id);
      expect(detail.runbook.markdown).toMatch(/[Ee]scalate/);
    }
  });

  it('filters and pages the alert list', async () => {
    const high = await allAlerts(analyst, 'severity=high');
    expect(high.length).toBeGreaterThan(0);
    expect(high.every((a) => a.severity === 'high')).toBe(true);
    const bulk = await allAlerts(analyst, 'rule=bulk-phi-read');
    expect(bulk.map((a) => a.ruleId)).toEqual(['bulk-phi-read']);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await analyst.request('GET', `/v1/alerts?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      const page = JSON.parse(res.body) as { alerts: AlertJson[]; nextCursor: string | null };
      expect(page.alerts.length).toBeLessThanOrEqual(3);
      seen.push(...page.alerts.map((a) => a.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual(alerts.map((a) => a.id));
    const ends = alerts.map((a) => Date.parse(a.windowEnd));
    expect([...ends].sort((a, b) => b - a)).toEqual(ends);
    const mid = new Date(ends[Math.floor(ends.length / 2)]).toISOString();
    const before = await allAlerts(analyst, `to=${mid}`);
    expect(before.every((a) => Date.parse(a.windowEnd) < Date.parse(mid))).toBe(true);
    const bad = await analyst.request('GET', '/v1/alerts?status=closed&severity=urgent&colour=red');
    expect(bad.status).toBe(400);
    expect(bad.headers['content-type']).toContain(PROBLEM);
    const pointers = (JSON.parse(bad.body) as { errors: { pointer: string }[] }).errors.map((e) => e.pointer).sort();
    expect(pointers).toEqual(['/query', '/query/severity', '/query/status']);
    expect(bad.body).not.toContain('colour');
  });

  it('acknowledges and resolves with who and why, and refuses invalid transitions with 409', async () => {
    const alert = alerts.find((a) => a.ruleId === 'break-glass-access')!;
    const ack = await analyst.request('POST', `/v1/alerts/${alert.id}/acknowledge`, { note: 'looking into it' });
    expect(ack.status).toBe(200);
    const acked = JSON.parse(ack.body) as AlertJson;
    expect(acked.status).toBe('acknowledged');
    expect(acked.acknowledgedBy).toBe('analyst-jane');
    expect(acked.history).toEqual([expect.objectContaining({ action: 'acknowledge', from: 'open', to: 'acknowledged', by: 'analyst-jane', note: 'looking into it' })]);
    // The answer shows the patient as the list does: a token for analysts.
    expect(acked.groupKey['patient.id']).toBe(alert.groupKey['patient.id']);
    expect(String(acked.groupKey['patient.id'])).toMatch(/^ptk_/);

    const again = await analyst.request('POST', `/v1/alerts/${alert.id}/acknowledge`, {});
    expect(again.status).toBe(409);
    expect(again.headers['content-type']).toContain(PROBLEM);
    expect(JSON.parse(again.body).type).toMatch(/invalid-alert-transition$/);

    const noNote = await analyst.request('POST', `/v1/alerts/${alert.id}/resolve`, {});
    expect(noNote.status).toBe(400);
    expect(JSON.parse(noNote.body).errors).toEqual([expect.objectContaining({ pointer: '/note' })]);
    const extra = await analyst.request('POST', `/v1/alerts/${alert.id}/resolve`, { note: 'ok', verdict: 'fine' });
    expect(extra.status).toBe(400);

    const other = await app.client('soc_analyst', 'analyst-raj');
    const resolved = await other.request('POST', `/v1/alerts/${alert.id}/resolve`, { note: 'cardiac arrest in ED, documented' });
    expect(resolved.status).toBe(200);
    const record = JSON.parse(resolved.body) as AlertJson;
    expect(record.status).toBe('resolved');
    expect(record.resolvedBy).toBe('analyst-raj');
    expect(record.history.map((h) => `${h.from}->${h.to} by ${h.by}`)).toEqual(['open->acknowledged by analyst-jane', 'acknowledged->resolved by analyst-raj']);

    expect((await analyst.request('POST', `/v1/alerts/${alert.id}/resolve`, { note: 'again' })).status).toBe(409);
    expect((await analyst.request('POST', `/v1/alerts/${alert.id}/acknowledge`, {})).status).toBe(409);
    const listed = await allAlerts(analyst, 'status=resolved');
    expect(listed.map((a) => a.id)).toEqual([alert.id]);

    // Open -> resolved directly is allowed.
    const open = alerts.find((a) => a.ruleId === 'bulk-export')!;
    expect((await analyst.request('POST', `/v1/alerts/${open.id}/resolve`, { note: 'approved overtime' })).status).toBe(200);

    expect((await analyst.request('POST', '/v1/alerts/00000000-0000-4000-8000-000000000000/acknowledge', {})).status).toBe(404);
    expect((await analyst.request('GET', '/v1/alerts/00000000-0000-4000-8000-000000000000')).status).toBe(404);
    expect((await analyst.request('GET', '/v1/alerts/not-an-id')).status).toBe(400);
  });

  it('enforces the alert and rule scopes', async () => {
    const integration = await app.client('integration');
    expect((await integration.request('GET', '/v1/alerts')).status).toBe(403);
    const compliance = await app.client('compliance_officer');
    expect((await compliance.request('GET', '/v1/rules')).status).toBe(403);
    expect((await compliance.request('POST', `/v1/alerts/${alerts[0].id}/acknowledge`, {})).status).toBe(403);
    const anonymous = await app.client(null);
    expect((await anonymous.request('GET', '/v1/alerts')).status).toBe(401);
  });

  it('lists the loaded rules', async () => {
    const res = await analyst.request('GET', '/v1/rules');
    expect(res.status).toBe(200);
    const body = JSON.parse(res.body) as { rules: { id: string; kind: string; severity: string; runbook: string; examples: { fires: number } }[]; timeZone: string };
    expect(body.rules.map((r) => r.id).sort()).toEqual(rules.map((r) => r.id).sort());
    expect(body.timeZone).toBe('UTC');
    for (const r of body.rules) expect(r.examples.fires).toBeGreaterThan(0);
  });

  it('exports detection metrics without PHI', async () => {
    // Reads of the audit data are themselves recorded as events (the access log): detection sees them too.
    const status = await waitForDetection(analyst);
    const res = await analyst.request('GET', '/metrics');
    expect(res.status).toBe(200);
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(res.body)?.[1]);
    expect(value('audit_detection_events_total')).toBeGreaterThanOrEqual(traffic.events.length);
    expect(value('audit_detection_events_total')).toBeLessThanOrEqual(status.headPosition);
    expect(value('audit_detection_lag_events')).toBeGreaterThanOrEqual(0);
    expect(res.body).toMatch(/audit_detection_alerts_total\{rule="bulk-phi-read",severity="high"\} 1/);
    for (const p of traffic.planted) for (const v of Object.values(p.group)) expect(res.body).not.toContain(v);
  });

  it('documents the endpoints in OpenAPI', async () => {
    const doc = JSON.parse((await analyst.request('GET', '/docs-json')).body) as { paths: Record<string, unknown> };
    for (const p of ['/v1/alerts', '/v1/alerts/{id}', '/v1/alerts/{id}/acknowledge', '/v1/alerts/{id}/resolve', '/v1/rules']) expect(doc.paths[p]).toBeDefined();
  });

  it('keeps the patient ids and IPs of alerts and of the engine snapshot out of the database in clear', async () => {
    await app.close(); // the final engine snapshot is written on shutdown
    closed = true;
    const bytes = Buffer.concat(fs.readdirSync(app.dataDir).filter((f) => f.startsWith('audit.db')).map((f) => fs.readFileSync(path.join(app.dataDir, f))));
    expect(bytes.indexOf(Buffer.from('detection_state'))).toBeGreaterThan(-1);
    const planted = new Set(traffic.planted.flatMap((p) => p.eventIds));
    const secrets = new Set<string>();
    for (const e of traffic.events) {
      if (!planted.has(e.id)) continue;
      if (e.patient) secrets.add(e.patient.id);
      if (e.actor.ip) secrets.add(e.actor.ip);
    }
    expect(secrets.size).toBeGreaterThan(300);
    for (const secret of secrets) expect({ secret, at: bytes.indexOf(Buffer.from(secret)) }).toEqual({ secret, at: -1 });
  });
});

describe('detection start-up', () => {
  it('serves alerts and rules with streaming detection switched off', async () => {
    const settings = detectionSettingsOf(loadConfig({ DETECTION_ENABLED: 'false' }));
    expect(settings.enabled).toBe(false);
    const app = await startTestApp({ detection: settings });
    try {
      const analyst = await app.client('soc_analyst');
      const integration = await app.client('integration');
      const { events } = generateTraffic({ events: 600, seed: 1, day: lastWorkingDay() });
      await postTicks(planSeedRequests(events.filter((e) => e.source.integration === 'sample-ehr')), async () => integration);
      expect(JSON.parse((await analyst.request('GET', '/v1/alerts')).body)).toEqual({ alerts: [], nextCursor: null });
      expect(JSON.parse((await analyst.request('GET', '/v1/detection/status')).body)).toEqual({ running: false });
      expect((await analyst.request('GET', '/v1/rules')).status).toBe(200);
    } finally {
      await app.close();
    }
  });
});
