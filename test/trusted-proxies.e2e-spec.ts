/**
 * X-Forwarded-For is believed only from TRUSTED_PROXIES: behind a configured proxy the access log
 * records the client's address; from any other sender (the default: no proxy trusted) a forged
 * header is ignored and the peer's own address is recorded. A bad TRUSTED_PROXIES stops start-up.
 */
import { loadConfig } from '@app/core';
import { startTestApp } from './support/test-app';

async function loggedIp(trustedProxies: string[], forwardedFor: string, sub: string): Promise<string | undefined> {
  const base = loadConfig({}).integrity!;
  const t = await startTestApp({ integrity: { ...base, trustedProxies } });
  try {
    const token = await t.token('soc_analyst', sub);
    const res = await fetch(`${t.baseUrl}/v1/events?limit=1`, { headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': forwardedFor } });
    expect(res.status).toBe(200);
    const officer = await t.client('auditor');
    const log = JSON.parse((await officer.request('GET', `/v1/access-log?actor=${sub}`)).body) as { entries: { ip?: string; action: string }[] };
    const query = log.entries.find((e) => e.action === 'events.query');
    expect(query).toBeDefined();
    return query!.ip;
  } finally {
    await t.close();
  }
}

describe('X-Forwarded-For and trusted proxies', () => {
  it('behind a trusted proxy, the logged IP is the client\'s', async () => {
    expect(await loggedIp(['127.0.0.1'], '198.51.100.23, 203.0.113.7', 'u-xff-trusted')).toBe('203.0.113.7');
  }, 60_000);

  it('from a sender that is not a trusted proxy, a forged header is ignored', async () => {
    expect(await loggedIp([], '203.0.113.99', 'u-xff-forged')).toBe('127.0.0.1');
    expect(await loggedIp(['10.0.0.0/8'], '203.0.113.99', 'u-xff-other')).toBe('127.0.0.1');
  }, 60_000);

  it('a bad TRUSTED_PROXIES stops start-up naming the key', () => {
    expect(() => loadConfig({ TRUSTED_PROXIES: '10.0.0.1,not-an-ip' })).toThrow(/TRUSTED_PROXIES/);
    expect(loadConfig({ TRUSTED_PROXIES: ' 10.0.0.1 , 192.168.0.0/16,loopback' }).integrity!.trustedProxies).toEqual(['10.0.0.1', '192.168.0.0/16', 'loopback']);
  });
});
