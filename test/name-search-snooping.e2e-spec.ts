/**
 * Detection can use the search string (issue 21) without seeing it: over HTTP, context feeds name
 * the workforce, the patients (surnames) and one care relationship; Medplum-shaped AuditEvents then
 * record a registration clerk searching `Patient?name=<surname>` and opening that patient's chart
 * with no care relationship (the classic snooping pattern: one `name-search-then-record` alert),
 * and a physician doing the same for a patient on their care team (explained: no alert). The
 * alert's evidence shows the search redacted to an analyst, and no log line holds the names.
 * `auditctl detect --from` (compiled CLI) replays the same store to the same one alert.
 */
import { detectionSettingsOf, loadConfig } from '@app/core';
import { ApiClient } from '../apps/auditctl/src/api-client';
import { runCli } from './support/cli';
import { allAlerts, waitForDetection } from './support/detection';
import { registerPhiMarkers } from './support/log-capture';
import { startTestApp, TestApp, tempDataDir } from './support/test-app';

const CLERK = 'Practitioner/clerk-snoop-4411';
const DOCTOR = 'Practitioner/dr-care-4412';
const SNOOPED = { id: 'MRN-SNOOP-7701', family: 'Wojciechowska' };
const CARED = { id: 'MRN-CARE-7702', family: 'Castellanos' };
const OTHER = { id: 'MRN-OTHER-7703', family: 'Abernathy' };

/** A Medplum AuditEvent (packages/server/src/util/auditevent.ts shape): a search or a read by `who`. */
function medplumEvent(who: string, recorded: Date, entity: object, subtype: 'search' | 'read'): object {
  return {
    resourceType: 'AuditEvent',
    meta: { project: 'c0ffee00-1111-4222-8333-444455556666' },
    type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest', display: 'Restful Operation' },
    subtype: [{ system: 'http://hl7.org/fhir/restful-interaction', code: subtype, display: subtype }],
    action: subtype === 'search' ? 'E' : 'R',
    recorded: recorded.toISOString(),
    outcome: '0',
    source: { observer: { identifier: { value: 'https://api.medplum.example/' } } },
    agent: [{ who: { reference: who }, requestor: true, network: { address: '198.51.100.23', type: '2' } }],
    entity: [entity],
  };
}

/** Context feeds and Medplum events of the scenario, posted over HTTP by an integration. */
async function postScenario(integration: ApiClient, now: number): Promise<void> {
  const at = (minutesAgo: number) => new Date(now - minutesAgo * 60_000);
  const context = async (kind: string, records: unknown[]) => {
    const res = await integration.request('POST', `/v1/context/${kind}`, { records });
    expect(JSON.parse(res.body)).toEqual({ accepted: records.length, rejected: [] });
  };
  const since = new Date(now - 30 * 24 * 3_600_000).toISOString();
  await context('users', [
    { id: CLERK, family: 'Lindqvist', department: 'registration', status: 'active', effectiveAt: since },
    { id: DOCTOR, family: 'Reyes', department: 'cardiology', status: 'active', effectiveAt: since },
  ]);
  await context('patients', [SNOOPED, CARED, OTHER].map((p) => ({ ...p, effectiveAt: since })));
  await context('encounters', [{ id: 'enc-care-7702', patient: { id: CARED.id }, department: 'cardiology', participants: [DOCTOR], start: since }]);

  const post = async (resource: object) => {
    const res = await integration.request('POST', '/fhir/AuditEvent', resource, 'application/fhir+json');
    expect(res.status).toBe(201);
  };
  // The clerk: a name search (plain text, as Medplum logs it), a chart of another surname, then the searched one.
  await post(medplumEvent(CLERK, at(20), { query: `Patient?name=${SNOOPED.family.toLowerCase()}` }, 'search'));
  await post(medplumEvent(CLERK, at(18), { what: { reference: `Patient/${OTHER.id}` } }, 'read'));
  await post(medplumEvent(CLERK, at(15), { what: { reference: `Patient/${SNOOPED.id}` } }, 'read'));
  // The physician: the same pattern for a patient on their care team.
  await post(medplumEvent(DOCTOR, at(14), { query: `Patient?family=${CARED.family}&birthdate=1958` }, 'search'));
  await post(medplumEvent(DOCTOR, at(12), { what: { reference: `Patient/${CARED.id}` } }, 'read'));
}

describe('name search, then that patient record, without a care relationship', () => {
  let t: TestApp;
  let analyst: ApiClient;
  let integration: ApiClient;
  const now = Date.now();

  beforeAll(async () => {
    registerPhiMarkers('name', [SNOOPED.family, CARED.family, OTHER.family]);
    registerPhiMarkers('patient-id', [SNOOPED.id, CARED.id, OTHER.id]);
    t = await startTestApp();
    analyst = await t.client('soc_analyst');
    integration = await t.client('integration');
    await postScenario(integration, now);
    await waitForDetection(analyst);
  });
  afterAll(() => t.close());

  it('raises one alert for the clerk, naming why, with the search and the opened chart as evidence', async () => {
    const alerts = (await allAlerts(analyst)).filter((a) => a.ruleId === 'name-search-then-record');
    expect(alerts).toHaveLength(1);
    const [alert] = alerts;
    expect(alert.groupKey).toEqual({ 'actor.id': CLERK });
    expect(alert.severity).toBe('high');
    const full = JSON.parse((await analyst.request('GET', `/v1/alerts/${alert.id}`)).body);
    expect(full.reasons).toEqual(['name-search', 'no-care-relationship']);
    expect(alert.evidence.eventIds).toHaveLength(2);

    // The evidence as an analyst sees it: the search redacted, the patient as a token.
    const evidence = await analyst.request('GET', `/v1/alerts/${alert.id}/events`);
    expect(evidence.status).toBe(200);
    const events = JSON.parse(evidence.body).events.map((v: { event: { action: string; query?: { text: string } } }) => v.event);
    expect(events.map((e: { action: string }) => e.action)).toEqual(['query', 'read']);
    expect(events[0].query).toEqual({ text: 'Patient?name=*' });
    expect(evidence.body.toLowerCase()).not.toContain(SNOOPED.family.toLowerCase());
    expect(evidence.body).not.toContain(SNOOPED.id);
    // A compliance officer sees which chart and which search: the searched surname's, not the other one read in between.
    const compliance = await t.client('compliance_officer');
    const identified = JSON.parse((await compliance.request('GET', `/v1/alerts/${alert.id}/events`)).body).events.map((v: { event: object }) => v.event);
    expect(identified[0].query).toEqual({ text: `Patient?name=${SNOOPED.family.toLowerCase()}` });
    expect(identified[1].patient).toEqual({ id: SNOOPED.id });
  });

  it('stays quiet for the physician whose search and chart are explained by a care relationship', async () => {
    const alerts = await allAlerts(analyst, 'rule=name-search-then-record');
    expect(alerts.map((a) => a.groupKey['actor.id'])).toEqual([CLERK]);
  });

  it('never logs the names searched for', () => {
    const log = t.logLines.join('\n').toLowerCase();
    for (const p of [SNOOPED, CARED, OTHER]) expect(log).not.toContain(p.family.toLowerCase());
  });
});

describe('the same scenario replayed by auditctl detect --from (compiled CLI: npm run build first)', () => {
  it('raises the same one alert from the stored events and context, with the context name key', async () => {
    const dataDir = tempDataDir();
    const off = await startTestApp({ dataDir, detection: { ...detectionSettingsOf(loadConfig({})), enabled: false } });
    await postScenario(await off.client('integration'), Date.now());
    expect(await allAlerts(await off.client('soc_analyst'))).toEqual([]);
    await off.close();

    const run = runCli(['detect', '--from', '2000-01-01', '--data-dir', dataDir, '--json']);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const summary = JSON.parse(run.stdout) as { rules: { ruleId: string; raised: number; stored: number }[] };
    expect(summary.rules.find((r) => r.ruleId === 'name-search-then-record')).toMatchObject({ raised: 1, stored: 1 });
  });
});
