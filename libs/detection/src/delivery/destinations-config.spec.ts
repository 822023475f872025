/** The destinations file is refused at start naming the key (never echoing the value). */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DestinationConfigError, loadDestinations } from './destinations-config';

describe('alert destinations file', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dest-config-'));
  const write = (name: string, text: string) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return file;
  };
  const refusal = async (text: string, env: NodeJS.ProcessEnv = {}): Promise<string> => {
    try {
      await loadDestinations(write(`f${Math.random()}.yaml`, text), { env });
    } catch (err) {
      expect(err).toBeInstanceOf(DestinationConfigError);
      return (err as Error).message;
    }
    throw new Error('accepted');
  };

  it('accepts the CONTRACT form (JSON) and applies the defaults', async () => {
    const cfg = await loadDestinations(write('contract.json', JSON.stringify({ destinations: [{ name: 'soc-hook', type: 'webhook', url: 'https://127.0.0.1:9/x', secret: 's3cret' }] })));
    expect(cfg.destinations[0]).toMatchObject({ name: 'soc-hook', type: 'webhook', preset: 'generic', secret: 's3cret', identifiers: 'tokens', retry: { initialMs: 1000, maxMs: 300000, deadLetterAfterMinutes: 1440 } });
  });

  it('names an unknown key', async () => {
    const msg = await refusal('destinations:\n  - { name: a, type: webhook, url: "https://127.0.0.1/x", secret: s, retries: 3 }\n');
    expect(msg).toMatch(/destinations\[0\]\.retries: unknown key/);
  });

  it('names a host that does not resolve', async () => {
    const msg = await refusal('destinations:\n  - { name: a, type: webhook, url: "https://no-such-host.invalid/x", secret: s }\n');
    expect(msg).toMatch(/destinations\[0\]\.url: the host does not resolve/);
  });

  it('names a certificate that does not parse, without echoing it', async () => {
    const bad = write('bad.pem', '-----BEGIN CERTIFICATE-----\nnot-a-cert\n-----END CERTIFICATE-----\n');
    const msg = await refusal(`destinations:\n  - { name: s, type: syslog, host: 127.0.0.1, caFile: ${bad} }\n`);
    expect(msg).toMatch(/destinations\[0\]\.caFile: not a PEM certificate/);
    expect(msg).not.toMatch(/not-a-cert/);
  });

  it('names a secret that cannot be read, and a missing one', async () => {
    expect(await refusal('destinations:\n  - { name: a, type: webhook, url: "https://127.0.0.1/x", secretEnv: NOPE_SECRET }\n')).toMatch(/destinations\[0\]\.secretEnv: the environment variable is not set/);
    expect(await refusal('destinations:\n  - { name: a, type: webhook, url: "https://127.0.0.1/x", secretFile: /nonexistent/secret }\n')).toMatch(/destinations\[0\]\.secretFile: cannot read the file/);
    expect(await refusal('destinations:\n  - { name: a, type: webhook, url: "https://127.0.0.1/x" }\n')).toMatch(/destinations\[0\]\.secret: a webhook needs a signing secret/);
  });

  it('names a bad value and a duplicate name', async () => {
    expect(await refusal('destinations:\n  - { name: a, type: email, host: 127.0.0.1, from: nobody, to: [x@example.org] }\n')).toMatch(/destinations\[0\]\.from: Invalid email/);
    expect(await refusal('destinations:\n  - { name: a, type: webhook, url: "https://127.0.0.1/x", secret: s }\n  - { name: a, type: webhook, url: "https://127.0.0.1/y", secret: s }\n')).toMatch(
      /destinations\[1\]\.name: duplicate name/,
    );
  });
});
