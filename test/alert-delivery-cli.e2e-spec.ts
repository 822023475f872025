/**
 * `auditctl alerts test-delivery <destination>` (compiled CLI, `npm run build` first) against a real
 * HTTPS webhook receiver: a signed test message arrives (exit 0); a receiver answering 500 gives
 * exit 1 and the reason; an unknown destination or a bad file gives exit 2 naming the problem.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runCliAsync } from './support/cli';
import { tempDataDir } from './support/test-app';
import { startWebhookReceiver, WebhookReceiver } from './support/webhook-receiver';

const SECRET = 'whsec-cli-test';

describe('auditctl alerts test-delivery', () => {
  let receiver: WebhookReceiver;
  let file: string;
  let work: string;

  beforeAll(async () => {
    work = tempDataDir('alert-cli-');
    receiver = await startWebhookReceiver(work, SECRET);
    file = path.join(work, 'destinations.yaml');
    fs.writeFileSync(file, `destinations:\n  - { name: soc-hook, type: webhook, url: "${receiver.url}", secret: ${SECRET}, caFile: ${receiver.caFile}, timeoutMs: 2000 }\n`);
  });
  afterAll(() => receiver.close());

  it('sends a signed test message and says so', async () => {
    const r = await runCliAsync(['alerts', 'test-delivery', 'soc-hook'], { ALERT_DESTINATIONS_FILE: file });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^delivered: test message [0-9a-f-]{36} to soc-hook \(webhook\) in \d+ ms$/m);
    expect(receiver.received).toHaveLength(1);
    const got = receiver.received[0];
    expect(got).toMatchObject({ event: 'test', signatureValid: true, accepted: true });
    expect(got.body).toMatchObject({ kind: 'test', destination: 'soc-hook', alerts: [{ ruleId: 'delivery-test' }] });
    expect(r.stdout).toContain(got.deliveryId);
  });

  it('exits 1 with the reason when the receiver refuses', async () => {
    receiver.mode = '500';
    try {
      const r = await runCliAsync(['alerts', 'test-delivery', 'soc-hook', '--file', file]);
      expect(r.status).toBe(1);
      expect(r.stdout).toMatch(/^FAIL: soc-hook \(webhook\): HTTP 500$/m);
    } finally {
      receiver.mode = 'ok';
    }
  });

  it('exits 2 naming an unknown destination or a bad key', async () => {
    const unknown = await runCliAsync(['alerts', 'test-delivery', 'pager', '--file', file]);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/no destination named "pager" \(configured: soc-hook\)/);
    const bad = path.join(work, 'bad.yaml');
    fs.writeFileSync(bad, 'destinations:\n  - { name: a, type: webhook, url: "https://127.0.0.1/x", secret: s, colour: blue }\n');
    const r = await runCliAsync(['alerts', 'test-delivery', 'a', '--file', bad]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/destinations\[0\]\.colour: unknown key/);
  });
});
