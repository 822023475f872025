/**
 * Alert delivery to a real HTTPS webhook receiver on loopback (test/support/webhook-receiver.ts):
 * alerts raised by detection arrive signed (the receiver checks x-audit-signature as the docs say),
 * with a stable delivery id, patient and user as tokens only, and a console link; a receiver that
 * answers 500, hangs past the timeout or closes the connection gets retries with growing gaps while
 * ingestion answers as before, and every alert arrives once it recovers; the status route and
 * /metrics show queue depth, failures and last success; the log has one fact per alert raised and
 * per delivery outcome, without identifiers. A destination with a rate limit turns a storm into one
 * digest carrying the count, and holds what comes after until its window has room again.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { patientTokenizerFor } from '@app/security';
import { ApiClient } from '../apps/auditctl/src/api-client';
import { accessEvent } from './support/events';
import { allAlerts, waitForDetection } from './support/detection';
import { startTestApp, TestApp, tempDataDir } from './support/test-app';
import { BodyCheck, startWebhookReceiver, verifySignature, waitUntil, WebhookReceiver } from './support/webhook-receiver';

const SECRET = 'whsec-test-0123456789abcdef';
const PD_ROUTING_KEY = 'R0ut1ngKeyR0ut1ngKeyR0ut1ngKey32';

/**
 * The body shapes the services document, checked by the loopback stand-ins: Slack incoming webhooks
 * (Block Kit: `text` fallback, at most 50 blocks; section text objects of at most 3000 characters;
 * context blocks with 1-10 elements), Microsoft Teams connector MessageCards (`@type`, `@context`,
 * `summary` or `text`, 6-hex `themeColor`, OpenUri actions with targets) and PagerDuty Events API v2
 * (`routing_key`, `event_action`, `dedup_key` of at most 255 characters, `payload.summary` of at most
 * 1024, `payload.source`, `payload.severity` one of critical/error/warning/info, links with href).
 */
const presetCheck: BodyCheck = (p, b) => {
  const problems: string[] = [];
  const need = (ok: unknown, what: string) => {
    if (!ok) problems.push(what);
  };
  const str = (v: unknown, max = Infinity) => typeof v === 'string' && v.length > 0 && v.length <= max;
  const textObject = (o: any) => o && ['mrkdwn', 'plain_text'].includes(o.type) && str(o.text, 3000); // eslint-disable-line @typescript-eslint/no-explicit-any
  if (p === '/slack') {
    need(str(b.text), 'text');
    need(Array.isArray(b.blocks) && b.blocks.length >= 1 && b.blocks.length <= 50, 'blocks: 1..50');
    for (const [i, k] of (Array.isArray(b.blocks) ? b.blocks : []).entries()) {
      if (k.type === 'section') need(textObject(k.text), `blocks[${i}].text`);
      else if (k.type === 'context') need(Array.isArray(k.elements) && k.elements.length >= 1 && k.elements.length <= 10 && k.elements.every(textObject), `blocks[${i}].elements`);
      else problems.push(`blocks[${i}].type`);
    }
  } else if (p === '/teams') {
    need(b['@type'] === 'MessageCard', '@type');
    need(['https://schema.org/extensions', 'http://schema.org/extensions'].includes(b['@context']), '@context');
    need(str(b.summary) || str(b.text), 'summary or text');
    need(b.themeColor === undefined || /^[0-9A-Fa-f]{6}$/.test(b.themeColor), 'themeColor');
    for (const [i, a] of (b.potentialAction ?? []).entries()) {
      need(a['@type'] === 'OpenUri' && str(a.name) && Array.isArray(a.targets) && a.targets.length > 0 && a.targets.every((t: { os: string; uri: string }) => ['default', 'iOS', 'android', 'windows'].includes(t.os) && /^https?:\/\//.test(t.uri)), `potentialAction[${i}]`);
    }
  } else if (p === '/pagerduty') {
    need(b.routing_key === PD_ROUTING_KEY, 'routing_key');
    need(['trigger', 'acknowledge', 'resolve'].includes(b.event_action), 'event_action');
    need(b.dedup_key === undefined || str(b.dedup_key, 255), 'dedup_key');
    need(b.payload && str(b.payload.summary, 1024), 'payload.summary');
    need(b.payload && str(b.payload.source), 'payload.source');
    need(b.payload && ['critical', 'error', 'warning', 'info'].includes(b.payload.severity), 'payload.severity');
    need(b.payload?.custom_details === undefined || (typeof b.payload.custom_details === 'object' && !Array.isArray(b.payload.custom_details)), 'payload.custom_details');
    for (const [i, l] of (b.links ?? []).entries()) need(/^https?:\/\//.test(l.href), `links[${i}].href`);
  }
  return problems;
};

describe('alert delivery: signed webhook to a real HTTPS receiver', () => {
  let t: TestApp;
  let receiver: WebhookReceiver;
  /** Stands in for Slack, Teams and PagerDuty (one path each, body shapes checked, no signature) and a generic receiver of identifiers in clear. */
  let presetReceiver: WebhookReceiver;
  /** storm-hook's own receiver: only sensitive-segment alerts, at most 3 messages per 30 s. */
  let stormReceiver: WebhookReceiver;
  let integration: ApiClient;
  let analyst: ApiClient;
  let admin: ApiClient;
  const posted: string[] = [];

  async function breakGlass(patient: string): Promise<number> {
    posted.push(patient);
    const started = Date.now();
    const res = await integration.request('POST', '/v1/events', accessEvent({ occurredAt: new Date(Date.now() - 30_000).toISOString(), action: 'break_glass', purpose: 'EMERGENCY', actor: { id: 'dr-hook', type: 'user', role: 'physician', ip: '10.9.9.9' }, patient: { id: patient } }));
    expect(res.status).toBe(202);
    return Date.now() - started;
  }
  const accepted = () => receiver.received.filter((r) => r.accepted);
  const acceptedAlertIds = () => new Set(accepted().flatMap((r) => (r.body.alerts as { id: string }[]).map((a) => a.id)));
  const status = async () => {
    const res = await admin.request('GET', '/v1/alert-destinations');
    expect(res.status).toBe(200);
    return JSON.parse(res.body) as { configured: boolean; destinations: Record<string, any>[] }; // eslint-disable-line @typescript-eslint/no-explicit-any
  };

  beforeAll(async () => {
    const work = tempDataDir('alert-hook-');
    receiver = await startWebhookReceiver(work, SECRET);
    fs.mkdirSync(path.join(work, 'presets'));
    presetReceiver = await startWebhookReceiver(path.join(work, 'presets'), null, 0, presetCheck);
    const presetOrigin = new URL(presetReceiver.url).origin;
    fs.mkdirSync(path.join(work, 'storm'));
    stormReceiver = await startWebhookReceiver(path.join(work, 'storm'), SECRET);
    const file = path.join(work, 'destinations.yaml');
    fs.writeFileSync(
      file,
      [
        'consoleUrl: https://audit.example.test',
        'destinations:',
        '  - name: soc-hook',
        '    type: webhook',
        `    url: ${receiver.url}`,
        '    secretEnv: TEST_SOC_HOOK_SECRET',
        `    caFile: ${receiver.caFile}`,
        '    timeoutMs: 500',
        '    retry: { initialMs: 100, maxMs: 800 }',
        '  - name: low-only',
        '    type: webhook',
        `    url: ${receiver.url}`,
        `    secret: ${SECRET}`,
        `    caFile: ${receiver.caFile}`,
        '    route: { severities: [low] }',
        '  - name: storm-hook',
        '    type: webhook',
        `    url: ${stormReceiver.url}`,
        `    secret: ${SECRET}`,
        `    caFile: ${stormReceiver.caFile}`,
        '    route: { rules: [sensitive-segment-without-treatment] }',
        '    rateLimit: { max: 3, perMinutes: 0.5 }',
        ...(['slack', 'teams', 'pagerduty'] as const).flatMap((preset) => [
          `  - name: ${preset}-hook`,
          '    type: webhook',
          `    url: ${presetOrigin}/${preset}`,
          `    preset: ${preset}`,
          ...(preset === 'pagerduty' ? ['    routingKeyEnv: TEST_PD_ROUTING_KEY'] : []),
          `    caFile: ${presetReceiver.caFile}`,
          '    route: { rules: [break-glass-access] }',
        ]),
        // Opted into identifiers in clear (a destination inside the covered entity's own network).
        '  - name: clear-hook',
        '    type: webhook',
        `    url: ${presetOrigin}/clear`,
        '    identifiers: clear',
        `    secret: ${SECRET}`,
        `    caFile: ${presetReceiver.caFile}`,
        '    route: { rules: [break-glass-access] }',
      ].join('\n'),
    );
    process.env.TEST_SOC_HOOK_SECRET = SECRET;
    process.env.TEST_PD_ROUTING_KEY = PD_ROUTING_KEY;
    t = await startTestApp({ alertDestinationsFile: file });
    integration = await t.client('integration');
    analyst = await t.client('soc_analyst');
    admin = await t.client('admin');
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.close();
    await stormReceiver?.close();
    await presetReceiver?.close();
    delete process.env.TEST_SOC_HOOK_SECRET;
    delete process.env.TEST_PD_ROUTING_KEY;
  });

  it('delivers each alert signed, with a stable id, tokens instead of identifiers and a console link', async () => {
    await breakGlass('MRN-HOOK-1');
    await breakGlass('MRN-HOOK-2');
    await waitForDetection(analyst);
    const alerts = await allAlerts(analyst, 'rule=break-glass-access');
    expect(alerts).toHaveLength(2);
    await waitUntil('two deliveries', () => acceptedAlertIds().size === 2);
    expect([...acceptedAlertIds()].sort()).toEqual(alerts.map((a) => a.id).sort());
    for (const r of accepted()) {
      expect(r.signatureValid).toBe(true);
      expect(r.event).toBe('alert');
      expect(r.body.deliveryId).toBe(r.deliveryId);
      const a = r.body.alerts[0];
      expect(a).toMatchObject({ ruleId: 'break-glass-access', severity: 'high', reasons: ['break-glass'] });
      expect(a.link).toBe(`https://audit.example.test/console/alerts/${a.id}`);
      // Minimum necessary: no identifier in clear anywhere in the body.
      expect(r.raw).not.toMatch(/MRN-HOOK|dr-hook|10\.9\.9\.9/);
      expect(a.patient).toMatch(/\S/);
      expect(a.actor).toMatch(/\S/);
    }
    // Routing: the high-severity alerts did not go to the destination that takes only low ones.
    const s = await status();
    expect(s.configured).toBe(true);
    const hook = s.destinations.find((d) => d.name === 'soc-hook')!;
    const low = s.destinations.find((d) => d.name === 'low-only')!;
    expect(hook).toMatchObject({ type: 'webhook', queueDepth: 0, delivered: 2, deadLetters: 0 });
    expect(Date.parse(hook.lastSuccessAt)).toBeGreaterThan(Date.now() - 60_000);
    expect(low).toMatchObject({ queueDepth: 0, delivered: 0 });
    // One log fact per alert raised and per delivery, without identifiers.
    const facts = t.logLines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(facts.filter((f) => f.msg === 'alert raised' && f.rule === 'break-glass-access')).toHaveLength(2);
    expect(facts.filter((f) => f.msg === 'alert delivered' && f.destination === 'soc-hook')).toHaveLength(2);
    expect(t.logLines.join('\n')).not.toMatch(/MRN-HOOK|dr-hook|10\.9\.9\.9|whsec/);
  });

  it.each(['500', 'hang', 'close'] as const)('retries with growing gaps while the receiver fails (%s), ingestion unaffected, then delivers', async (mode) => {
    receiver.mode = mode;
    const before = receiver.received.length;
    const patient = `MRN-HOOK-${mode}`;
    await breakGlass(patient);
    await waitUntil('three failed attempts', () => receiver.received.length - before >= 3, 20_000);
    const attempts = receiver.received.slice(before);
    // The same delivery each time (stable id), with back-off between attempts.
    expect(new Set(attempts.map((a) => a.deliveryId)).size).toBe(1);
    expect(attempts.every((a) => a.signatureValid)).toBe(true);
    // The request path does not wait on a failing receiver.
    const ingestMs = await breakGlass(`${patient}-b`);
    expect(ingestMs).toBeLessThan(1000);
    const s = (await status()).destinations.find((d) => d.name === 'soc-hook')!;
    expect(s.failures).toBeGreaterThanOrEqual(2);
    expect(s.lastError).toBe(mode === '500' ? 'HTTP 500' : mode === 'hang' ? 'timeout' : 'ECONNRESET');
    expect(s.queueDepth).toBeGreaterThanOrEqual(1);
    const gaps = attempts.slice(1, 3).map((a, i) => a.at - attempts[i].at);
    expect(gaps[0]).toBeGreaterThanOrEqual(40);
    receiver.mode = 'ok';
    await waitForDetection(analyst);
    const ids = (await allAlerts(analyst, 'rule=break-glass-access')).map((a) => a.id);
    await waitUntil('every alert delivered', () => ids.every((id) => acceptedAlertIds().has(id)), 20_000);
    await waitUntil('queue empty', async () => (await status()).destinations.find((d) => d.name === 'soc-hook')!.queueDepth === 0);
    expect(t.logLines.some((l) => /"msg":"alert delivery failed".*"destination":"soc-hook"/.test(l))).toBe(true);
  });

  it('shows per-destination status in /metrics for callers who may read operations', async () => {
    const text = (await admin.request('GET', '/metrics')).body;
    expect(text).toMatch(/audit_alert_delivery_queue_depth\{destination="soc-hook"\} 0/);
    expect(text).toMatch(/audit_alert_delivery_delivered\{destination="soc-hook"\} [1-9]/);
    expect(text).toMatch(/audit_alert_delivery_failures\{destination="soc-hook"\} [1-9]/);
    // An analyst reads alerts but not operations: the status route is the admin's.
    expect((await analyst.request('GET', '/v1/alert-destinations')).status).toBe(403);
  });

  it('delivers every alert to Slack, Teams and PagerDuty in the bodies those services document, tokens only; a destination with identifiers: clear gets the identifiers, the default only tokens', async () => {
    await waitForDetection(analyst);
    const alerts = await allAlerts(analyst, 'rule=break-glass-access');
    expect(alerts.length).toBeGreaterThanOrEqual(8);
    const on = (p: string) => presetReceiver.received.filter((r) => r.path === p);
    for (const p of ['/slack', '/teams', '/pagerduty', '/clear']) {
      await waitUntil(`${alerts.length} messages on ${p}`, () => on(p).filter((r) => r.accepted).length >= alerts.length || on(p).some((r) => r.problems.length > 0));
      // Every body has the shape the service documents (a stand-in answers 400 otherwise).
      expect(on(p).map((r) => r.problems).filter((x) => x.length > 0)).toEqual([]);
      expect(on(p).filter((r) => r.accepted)).toHaveLength(alerts.length);
    }
    const tokenizer = patientTokenizerFor(t.config);
    for (const a of alerts) {
      const link = `https://audit.example.test/console/alerts/${a.id}`;
      const slack = on('/slack').find((r) => r.raw.includes(link))!;
      expect(slack.body.text).toBe('[HIGH] Break-glass (emergency override) access');
      expect(slack.body.blocks.some((k: { text?: { text: string } }) => k.text?.text.includes(`<${link}|open in console>`))).toBe(true);
      const teams = on('/teams').find((r) => r.raw.includes(link))!;
      expect(teams.body).toMatchObject({ summary: '[HIGH] Break-glass (emergency override) access', potentialAction: [{ '@type': 'OpenUri', targets: [{ os: 'default', uri: link }] }] });
      const pd = on('/pagerduty').find((r) => r.raw.includes(link))!;
      // PagerDuty de-duplicates on dedup_key: the stable delivery id.
      expect(pd.body).toMatchObject({ event_action: 'trigger', dedup_key: pd.deliveryId, payload: { severity: 'error', source: 'hipaa-audit' }, links: [{ href: link }] });
      for (const r of [slack, teams, pd]) expect(r.raw).not.toMatch(/MRN-HOOK|dr-hook|10\.9\.9\.9/);
      // identifiers: clear delivers the actor and the patient themselves; the default (soc-hook) their tokens.
      const clear = on('/clear').find((r) => r.body.alerts[0].id === a.id)!;
      expect(verifySignature(SECRET, clear.signature, clear.raw)).toBe(true);
      const patient = clear.body.alerts[0].patient as string;
      expect(patient).toMatch(/^MRN-HOOK-/);
      expect(clear.body.alerts[0].actor).toBe('dr-hook');
      const tokens = accepted().find((r) => r.body.alerts[0].id === a.id)!.body.alerts[0];
      expect(tokens.patient).toBe(tokenizer.token(patient));
      expect(tokens.actor).toBe(tokenizer.token('dr-hook'));
      expect(tokens.patient).not.toBe(patient);
    }
    const s = await status();
    for (const name of ['slack-hook', 'teams-hook', 'pagerduty-hook', 'clear-hook']) {
      expect(s.destinations.find((d) => d.name === name)).toMatchObject({ queueDepth: 0, delivered: alerts.length, failures: 0 });
    }
    expect(s.destinations.find((d) => d.name === 'slack-hook')).toMatchObject({ type: 'webhook', preset: 'slack' });
    // The log carries neither the clear identifiers nor the routing key.
    expect(t.logLines.join('\n')).not.toMatch(new RegExp(`MRN-HOOK|dr-hook|${PD_ROUTING_KEY}`));
  });

  it('turns a storm into one digest with the count under the rate limit, holds the next alert until the window has room, and reports the last success in /metrics', async () => {
    const recent = () => new Date(Date.now() - 30_000).toISOString();
    // A sensitive segment read for payment: one alert per patient (sensitive-segment-without-treatment), routed to storm-hook only.
    const sensitive = (patient: string) => accessEvent({ occurredAt: recent(), purpose: 'PAYMENT', sensitivity: ['behavioral_health'], actor: { id: 'dr-storm', type: 'user', role: 'physician', ip: '10.6.6.6' }, patient: { id: patient } });
    const stormIds = async () => (await allAlerts(analyst, 'rule=sensitive-segment-without-treatment')).map((a) => a.id);
    const messages = () => stormReceiver.received.filter((r) => r.accepted);
    // Two alerts one at a time: two messages, each with its alert (2 of the 3 allowed per 30 s).
    for (const [i, patient] of ['MRN-STORM-A', 'MRN-STORM-B'].entries()) {
      posted.push(patient);
      expect((await integration.request('POST', '/v1/events', sensitive(patient))).status).toBe(202);
      await waitUntil(`single message ${i + 1}`, () => messages().length === i + 1);
    }
    const singles = messages().map((m) => ({ kind: m.body.kind, event: m.event, ids: m.body.alerts.map((a: { id: string }) => a.id) }));
    expect(singles.map((m) => [m.kind, m.event, m.ids.length])).toEqual([['alert', 'alert', 1], ['alert', 'alert', 1]]);
    // The storm: 12 alerts at once, one allowance left. One digest carrying all 12 and their count.
    const storm = Array.from({ length: 12 }, (_, i) => `MRN-STORM-${i}`);
    posted.push(...storm);
    expect((await integration.request('POST', '/v1/events', { events: storm.map(sensitive) })).status).toBe(202);
    await waitForDetection(analyst);
    const afterStorm = await stormIds();
    expect(afterStorm).toHaveLength(14);
    await waitUntil('the digest', () => messages().length === 3);
    const digest = messages()[2];
    expect(digest.signatureValid).toBe(true);
    expect(digest.event).toBe('digest');
    expect(digest.body).toMatchObject({ kind: 'digest', destination: 'storm-hook', count: 12 });
    const digested = (digest.body.alerts as { id: string; ruleId: string; severity: string; reasons: string[] }[]);
    expect(digested).toHaveLength(12);
    expect(digested.every((a) => a.ruleId === 'sensitive-segment-without-treatment' && a.reasons.includes('sensitive-segment'))).toBe(true);
    // Every alert arrived exactly once: the two singles plus the digest are the 14 alerts.
    const seen = [...singles.flatMap((m) => m.ids), ...digested.map((a) => a.id)];
    expect(seen.sort()).toEqual([...afterStorm].sort());
    expect(digest.raw).not.toMatch(/MRN-STORM|dr-storm|10\.6\.6\.6/);
    // One more alert inside the window: held (queued), not sent, until the first message leaves the window.
    const firstAt = messages()[0].at;
    posted.push('MRN-STORM-LATE');
    expect((await integration.request('POST', '/v1/events', sensitive('MRN-STORM-LATE'))).status).toBe(202);
    await waitForDetection(analyst);
    const lateId = (await stormIds()).find((id) => !afterStorm.includes(id))!;
    expect(lateId).toBeDefined();
    const stormStatus = async () => (await status()).destinations.find((d) => d.name === 'storm-hook')!;
    await waitUntil('the late alert queued', async () => (await stormStatus()).queueDepth === 1);
    await new Promise((r) => setTimeout(r, 1500));
    expect(stormReceiver.received).toHaveLength(3);
    await waitUntil('the late alert sent once the window has room', () => messages().length === 4, 45_000);
    const late = messages()[3];
    expect(late.body).toMatchObject({ kind: 'alert', count: 1, alerts: [{ id: lateId }] });
    // The rate limit held: no fourth message within 30 s of the first.
    expect(late.at - firstAt).toBeGreaterThanOrEqual(30_000 - 250);
    const s = await stormStatus();
    expect(s).toMatchObject({ queueDepth: 0, delivered: 15, deadLetters: 0, failures: 0 });
    // /metrics: the unix time of the last success, the same instant as the API's lastSuccessAt, just after the receiver took it.
    const text = (await admin.request('GET', '/metrics')).body;
    const m = /^audit_alert_delivery_last_success_seconds\{destination="storm-hook"\} ([0-9.e+]+)$/m.exec(text);
    expect(m).not.toBeNull();
    const seconds = Number(m![1]);
    expect(seconds).toBeCloseTo(Date.parse(s.lastSuccessAt) / 1000, 2);
    expect(seconds * 1000).toBeGreaterThanOrEqual(late.at - 5);
    expect(seconds * 1000).toBeLessThan(late.at + 5_000);
    expect(text).toMatch(/^audit_alert_delivery_delivered\{destination="storm-hook"\} 15$/m);
    // A destination that never delivered has no last success to report.
    expect(text).not.toMatch(/^audit_alert_delivery_last_success_seconds\{destination="low-only"\}/m);
  }, 90_000);
});

describe('alert log line without any destination', () => {
  let t: TestApp;
  afterAll(async () => {
    await t?.close();
  });

  it('logs one "alert raised" line per stored alert, without identifiers, when ALERT_DESTINATIONS_FILE is unset', async () => {
    t = await startTestApp({ alertDestinationsFile: undefined });
    const integration = await t.client('integration');
    const analyst = await t.client('soc_analyst');
    const admin = await t.client('admin');
    const events = ['MRN-NODEST-1', 'MRN-NODEST-2'].map((p) => accessEvent({ occurredAt: new Date(Date.now() - 30_000).toISOString(), action: 'break_glass', purpose: 'EMERGENCY', actor: { id: 'dr-nodest', type: 'user', role: 'physician', ip: '10.8.8.8' }, patient: { id: p } }));
    expect((await integration.request('POST', '/v1/events', { events })).status).toBe(202);
    await waitForDetection(analyst);
    const alerts = await allAlerts(analyst, 'rule=break-glass-access');
    expect(alerts).toHaveLength(2);
    const raised = () => t.logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((f) => f.msg === 'alert raised');
    await waitUntil('a log line per alert', () => raised().length >= 2, 10_000);
    expect(raised().map((f) => f.alertId).sort()).toEqual(alerts.map((a) => a.id).sort());
    for (const f of raised()) expect(f).toMatchObject({ rule: 'break-glass-access', severity: 'high', reasons: expect.stringContaining('break-glass'), destinations: '' });
    expect(t.logLines.join('\n')).not.toMatch(/MRN-NODEST|dr-nodest|10\.8\.8\.8/);
    // Nothing is configured, and nothing says otherwise.
    expect(JSON.parse((await admin.request('GET', '/v1/alert-destinations')).body)).toEqual({ configured: false, destinations: [] });
    expect((await admin.request('GET', '/metrics')).body).not.toMatch(/audit_alert_delivery_queue_depth\{/);
  });
});
