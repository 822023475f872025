/**
 * Admins' rule overrides end to end over HTTP on the real application: a rule switched off raises
 * no alert for events that fire it, and raises again once switched back on; an exception silences
 * one actor of a rule and no one else; every change is in the audit trail with who, what and why,
 * and survives a restart; bad input is a 400 naming the field, other roles get 403.
 */
import * as fs from 'node:fs';
import { accessEvent } from './support/events';
import { runCli } from './support/cli';
import { allAlerts, waitForDetection } from './support/detection';
import { startTestApp, TestApp } from './support/test-app';

const RULE = 'break-glass-access';
let t: TestApp;
let minute = 0;

/** A break-glass access (fires RULE), each at a distinct time and patient so suppression never hides it. */
function breakGlass(actor: string) {
  minute += 1;
  const at = new Date(Date.UTC(2026, 2, 2, 8, 0, 0) + minute * 60_000).toISOString();
  return accessEvent({ occurredAt: at, action: 'break_glass', purpose: 'EMERGENCY', actor: { id: actor, type: 'user', role: 'physician' }, patient: { id: `MRN-BG-${minute}` } });
}

async function alertsAfterPosting(events: ReturnType<typeof breakGlass>[]): Promise<{ actor: unknown }[]> {
  const ehr = await t.client('integration');
  expect((await ehr.request('POST', '/v1/events', { events })).status).toBe(202);
  const analyst = await t.client('soc_analyst');
  await waitForDetection(analyst);
  return (await allAlerts(analyst)).filter((a) => a.ruleId === RULE).map((a) => ({ actor: a.groupKey['actor.id'] }));
}

beforeAll(async () => {
  t = await startTestApp();
}, 60_000);

afterAll(async () => {
  await t?.close();
});

describe('rule overrides', () => {
  it('a rule switched off raises nothing; switched on, it raises again', async () => {
    const admin = await t.client('admin', 'admin-ann');
    const off = await admin.request('POST', `/v1/rule-overrides/${RULE}/disable`, { note: 'noisy during the EHR migration' });
    expect(off.status).toBe(200);
    expect(JSON.parse(off.body)).toMatchObject({ id: RULE, enabled: false, enabledInFile: true, disabled: { by: 'admin-ann', note: 'noisy during the EHR migration' } });
    expect(await alertsAfterPosting([breakGlass('dr-off')])).toEqual([]);

    expect((await admin.request('POST', `/v1/rule-overrides/${RULE}/enable`, {})).status).toBe(200);
    expect(await alertsAfterPosting([breakGlass('dr-on')])).toEqual([{ actor: 'dr-on' }]);
  });

  it('an exception silences one actor of the rule and no one else', async () => {
    const admin = await t.client('admin', 'admin-ann');
    const added = await admin.request('POST', `/v1/rule-overrides/${RULE}/exceptions`, { field: 'actor.id', value: 'svc-er-kiosk', reason: 'shared ER kiosk account, reviewed daily' });
    expect(added.status).toBe(201);
    const exception = JSON.parse(added.body) as { id: string };
    const alerts = await alertsAfterPosting([breakGlass('svc-er-kiosk'), breakGlass('dr-other')]);
    expect(alerts.map((a) => a.actor).sort()).toEqual(['dr-on', 'dr-other']);

    const removed = await admin.request('POST', `/v1/rule-overrides/${RULE}/exceptions/${exception.id}/remove`, { note: 'kiosk retired' });
    expect(removed.status).toBe(200);
    const after = await alertsAfterPosting([breakGlass('svc-er-kiosk')]);
    expect(after.map((a) => a.actor).sort()).toEqual(['dr-on', 'dr-other', 'svc-er-kiosk']);
  });

  it('keeps an audit trail of who changed what, when and why, newest first, across a restart', async () => {
    const admin = await t.client('admin', 'admin-ann');
    expect((await admin.request('POST', `/v1/rule-overrides/${RULE}/disable`, { note: 'off over the weekend' })).status).toBe(200);
    const dataDir = t.dataDir;
    await t.close();
    t = await startTestApp({ dataDir });
    const again = await t.client('admin', 'admin-ann');
    const list = JSON.parse((await again.request('GET', '/v1/rule-overrides')).body) as { rules: { id: string; enabled: boolean }[] };
    expect(list.rules.find((r) => r.id === RULE)).toMatchObject({ enabled: false });
    expect(await alertsAfterPosting([breakGlass('dr-after-restart')])).not.toContainEqual({ actor: 'dr-after-restart' });
    const history = JSON.parse((await again.request('GET', `/v1/rule-overrides/history?rule=${RULE}`)).body) as { changes: { by: string; action: string; detail: string; note: string; at: string }[] };
    expect(history.changes.map((c) => [c.by, c.action, c.note])).toEqual([
      ['admin-ann', 'disable', 'off over the weekend'],
      ['admin-ann', 'remove-exception', 'kiosk retired'],
      ['admin-ann', 'add-exception', 'shared ER kiosk account, reviewed daily'],
      ['admin-ann', 'enable', ''],
      ['admin-ann', 'disable', 'noisy during the EHR migration'],
    ]);
    expect(history.changes[1].detail).toBe('actor.id = svc-er-kiosk');
    for (const c of history.changes) expect(Number.isNaN(Date.parse(c.at))).toBe(false);
    fs.accessSync(dataDir);
  }, 60_000);

  it('refuses bad input with 400 naming the field, a patient field as exception, an unknown rule with 404, other roles with 403', async () => {
    const admin = await t.client('admin');
    const noNote = await admin.request('POST', `/v1/rule-overrides/${RULE}/disable`, {});
    expect(noNote.status).toBe(400);
    expect(JSON.parse(noNote.body).errors).toEqual([{ pointer: '/note', message: 'is required' }]);
    const patientField = await admin.request('POST', `/v1/rule-overrides/${RULE}/exceptions`, { field: 'patient.id', value: 'MRN-SECRET-1', reason: 'x' });
    expect(patientField.status).toBe(400);
    expect(patientField.body).not.toContain('MRN-SECRET-1');
    expect(JSON.parse(patientField.body).errors[0].pointer).toBe('/field');
    const unknownKey = await admin.request('POST', `/v1/rule-overrides/${RULE}/exceptions`, { field: 'actor.id', value: 'a', reason: 'b', 'MRN-SECRET-2': 1 });
    expect(unknownKey.status).toBe(400);
    expect(unknownKey.body).not.toContain('MRN-SECRET-2');
    expect((await admin.request('POST', '/v1/rule-overrides/no-such-rule/disable', { note: 'x' })).status).toBe(404);
    for (const role of ['soc_analyst', 'auditor', 'compliance_officer'] as const) {
      const c = await t.client(role);
      expect((await c.request('POST', `/v1/rule-overrides/${RULE}/enable`, {})).status).toBe(403);
      expect((await c.request('GET', '/v1/rule-overrides')).status).toBe(403);
    }
  });

  it('auditctl detect (backfill) honours them too: a rule switched off raises nothing on replay', async () => {
    const dataDir = t.dataDir;
    await t.close();
    const r = runCli(['detect', '--from', '2026-03-01', '--json', '--data-dir', dataDir]);
    expect(r.status).toBe(0);
    const summary = JSON.parse(r.stdout) as { evaluated: number; rules: { ruleId: string; raised: number }[] };
    expect(summary.evaluated).toBeGreaterThanOrEqual(6);
    expect(summary.rules.find((x) => x.ruleId === RULE)?.raised ?? 0).toBe(0);
    t = await startTestApp({ dataDir });
  }, 60_000);
});
