/** What each preset and the syslog/CEF sender put on the wire, and the signature receivers check. */
import { createHmac } from 'node:crypto';
import { DeliveredAlert, messageFor } from './alert-message';
import { SyslogDestination, WebhookDestination } from './destinations-config';
import { cefLine, syslogMessage } from './syslog-sender';
import { signature, webhookBody } from './webhook-sender';

const alert: DeliveredAlert = {
  id: '11111111-2222-8333-8444-555555555555',
  ruleId: 'break-glass-access',
  title: 'Break-glass | override = review',
  severity: 'critical',
  reasons: ['break-glass'],
  windowStart: '2026-03-03T10:00:00.000Z',
  windowEnd: '2026-03-03T10:00:00.000Z',
  count: 1,
  raisedAt: '2026-03-03T10:00:01.000Z',
  actor: 'ptk_actor',
  patient: 'ptk_patient',
  link: 'https://console.example/console/alerts/11111111-2222-8333-8444-555555555555',
};
const hook = (preset: WebhookDestination['preset']): WebhookDestination =>
  ({ name: 'h', type: 'webhook', url: 'https://x.example', preset, routingKey: 'rk', identifiers: 'tokens', retry: { initialMs: 1, maxMs: 1, deadLetterAfterMinutes: 1 }, timeoutMs: 1000 }) as WebhookDestination;
const m = messageFor('h', [alert], 'alert');

describe('delivery formats', () => {
  it('signs t.body with HMAC-SHA256', () => {
    expect(signature('s3cret', '{"a":1}', 1700000000)).toBe(`t=1700000000,v1=${createHmac('sha256', 's3cret').update('1700000000.{"a":1}').digest('hex')}`);
  });

  it('gives the same delivery id to the same alert and destination, another to another destination', () => {
    expect(messageFor('h', [alert], 'alert').deliveryId).toBe(m.deliveryId);
    expect(messageFor('other', [alert], 'alert').deliveryId).not.toBe(m.deliveryId);
  });

  it('shapes Slack, Teams and PagerDuty Events v2 bodies', () => {
    const slack = webhookBody(hook('slack'), m) as { text: string; blocks: { text?: { text: string } }[] };
    expect(slack.text).toBe('[CRITICAL] Break-glass | override = review');
    expect(slack.blocks[1].text!.text).toContain(`<${alert.link}|open in console>`);
    const teams = webhookBody(hook('teams'), m) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(teams).toMatchObject({ '@type': 'MessageCard', title: '[CRITICAL] Break-glass | override = review' });
    expect(teams.potentialAction[0].targets[0].uri).toBe(alert.link);
    const pd = webhookBody(hook('pagerduty'), m) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(pd).toMatchObject({ routing_key: 'rk', event_action: 'trigger', dedup_key: m.deliveryId, payload: { severity: 'critical', source: 'hipaa-audit' } });
    expect(pd.links[0].href).toBe(alert.link);
  });

  it('escapes CEF header and extension values and frames RFC 5424', () => {
    const cef = cefLine(alert, m.deliveryId);
    expect(cef).toMatch(/^CEF:0\|hipaa-audit\|hipaa-audit-siem\|1\|break-glass-access\|Break-glass \\\| override = review\|10\|rt=/);
    expect(cef).toContain(`request=https://console.example/console/alerts/${alert.id}`);
    expect(cef).toContain('duser=ptk_actor cs2Label=patient cs2=ptk_patient');
    const d = { name: 'siem', type: 'syslog', host: 'h', port: 6514, format: 'cef', facility: 10, appName: 'hipaa-audit' } as SyslogDestination;
    const line = syslogMessage(d, alert, m.deliveryId, 'alert', new Date('2026-03-03T10:00:02.000Z'));
    expect(line).toMatch(new RegExp(`^<82>1 2026-03-03T10:00:02.000Z \\S+ hipaa-audit \\d+ alert \\[audit@32473 deliveryId="${m.deliveryId}" alertId="${alert.id}" rule="break-glass-access" severity="critical" kind="alert"\\] CEF:0\\|`));
  });
});
