/**
 * X-Forwarded-For (or, with TRUSTED_PROXY_HEADER=forwarded, RFC 7239 `Forwarded`) is believed only
 * from TRUSTED_PROXIES: behind a configured proxy the access log records the client's address; from
 * any other sender (the default: no proxy trusted) a forged header is ignored and the peer's own
 * address is recorded. A bad TRUSTED_PROXIES or TRUSTED_PROXY_HEADER stops start-up.
 */
import { loadConfig } from '@app/core';
import { startTestApp } from './support/test-app';

async function loggedIp(trustedProxies: string[], forwardedFor: string, sub: string): Promise<string | undefined> {
  return (await loggedIps({ trustedProxies }, [{ sub, headers: { 'x-forwarded-for': forwardedFor } }]))[0];
}

/** One app with these settings; each request's access-log IP, in order (requests from 127.0.0.1). */
async function loggedIps(integrity: { trustedProxies: string[]; trustedProxyHeader?: 'x-forwarded-for' | 'forwarded' }, requests: { sub: string; headers: Record<string, string> }[]): Promise<(string | undefined)[]> {
  const base = loadConfig({}).integrity!;
  const t = await startTestApp({ integrity: { ...base, ...integrity } });
  try {
    const ips: (string | undefined)[] = [];
    const officer = await t.client('auditor');
    for (const { sub, headers } of requests) {
      const token = await t.token('soc_analyst', sub);
      const res = await fetch(`${t.baseUrl}/v1/events?limit=1`, { headers: { authorization: `Bearer ${token}`, ...headers } });
      expect(res.status).toBe(200);
      const log = JSON.parse((await officer.request('GET', `/v1/access-log?actor=${sub}`)).body) as { entries: { ip?: string; action: string }[] };
      const query = log.entries.find((e) => e.action === 'events.query');
      expect(query).toBeDefined();
      ips.push(query!.ip);
    }
    return ips;
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

  it('X-Forwarded-For mode ignores a Forwarded header, even from a trusted proxy', async () => {
    expect(await loggedIps({ trustedProxies: ['127.0.0.1'] }, [{ sub: 'u-xff-fwd', headers: { forwarded: 'for=203.0.113.44' } }])).toEqual(['127.0.0.1']);
  }, 60_000);
});

describe('Forwarded (RFC 7239) and trusted proxies (TRUSTED_PROXY_HEADER=forwarded)', () => {
  it('records the client behind trusted hops: quoted IPv6 with a port, several hops, obfuscated nodes; ignores X-Forwarded-For', async () => {
    const ips = await loggedIps({ trustedProxies: ['127.0.0.1', '10.0.0.0/8'], trustedProxyHeader: 'forwarded' }, [
      // One hop: the proxy on loopback says who its client was.
      { sub: 'u-fwd-one', headers: { forwarded: 'for=203.0.113.7;proto=https;by=127.0.0.1' } },
      // Several hops: loopback, then 10.1.2.3 (both trusted), then an IPv6 client with a port; the
      // left-most for= was written by that client itself and is not believed.
      { sub: 'u-fwd-hops', headers: { forwarded: 'for=198.51.100.1, for="[2001:db8:cafe::17]:4711", for="10.1.2.3:8443"' } },
      // The trusted 10.1.2.3 hides its client behind an obfuscated identifier: 10.1.2.3 is what is known.
      { sub: 'u-fwd-obf', headers: { forwarded: 'for=_Gazonk, for=10.1.2.3' } },
      // In this mode X-Forwarded-For is not read at all (a proxy passing a client's one through cannot be fooled).
      { sub: 'u-fwd-xff', headers: { 'x-forwarded-for': '203.0.113.66' } },
      // A malformed header is not believed at all.
      { sub: 'u-fwd-bad', headers: { forwarded: 'for="[2001:db8::1' } },
    ]);
    expect(ips).toEqual(['203.0.113.7', '2001:db8:cafe::17', '10.1.2.3', '127.0.0.1', '127.0.0.1']);
  }, 60_000);

  it('from a sender that is not a trusted proxy, a forged Forwarded header is ignored', async () => {
    expect(await loggedIps({ trustedProxies: ['10.0.0.0/8'], trustedProxyHeader: 'forwarded' }, [{ sub: 'u-fwd-forged', headers: { forwarded: 'for=203.0.113.99' } }])).toEqual(['127.0.0.1']);
    expect(await loggedIps({ trustedProxies: [], trustedProxyHeader: 'forwarded' }, [{ sub: 'u-fwd-none', headers: { forwarded: 'for="[2001:db8::99]"' } }])).toEqual(['127.0.0.1']);
  }, 60_000);

  it('behind a TLS-terminating proxy, proto=https of the trusted hop makes an https console form same-origin, and the sign-in is logged with the client IP', async () => {
    const base = loadConfig({}).integrity!;
    const t = await startTestApp({ integrity: { ...base, trustedProxies: ['127.0.0.1'], trustedProxyHeader: 'forwarded' } });
    try {
      const publicOrigin = `https://${new URL(t.baseUrl).host}`;
      const signIn = async (forwarded: string) => {
        const page = await fetch(`${t.baseUrl}/console/sign-in`);
        const cookie = page.headers.getSetCookie().find((c) => c.startsWith('console-signin='))!.split(';')[0]!;
        const csrf = /name="_csrf" value="([^"]+)"/.exec(await page.text())![1]!;
        const res = await fetch(`${t.baseUrl}/console/sign-in`, {
          method: 'POST',
          redirect: 'manual',
          headers: { cookie, origin: publicOrigin, forwarded, 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ _csrf: csrf, name: 'u-fwd-console', password: 'not-the-password' }),
        });
        return { status: res.status, text: await res.text() };
      };
      // The proxy says the client spoke https: the form's https Origin is this site; the password is checked (and wrong).
      expect((await signIn('for=203.0.113.8;proto=https')).status).toBe(401);
      // Without proto=, the service sees plain http and the https Origin is another site.
      const other = await signIn('for=203.0.113.8');
      expect(other.status).toBe(400);
      expect(other.text).toContain('came from another site');
      const officer = await t.client('auditor');
      const log = JSON.parse((await officer.request('GET', '/v1/access-log?actor=u-fwd-console')).body) as { entries: { ip?: string; action: string; outcome: string }[] };
      expect(log.entries.filter((e) => e.action === 'console.sign-in').map((e) => [e.outcome, e.ip])).toEqual([['failure', '203.0.113.8']]);
    } finally {
      await t.close();
    }
  }, 60_000);

  it('a bad TRUSTED_PROXY_HEADER stops start-up naming the key', () => {
    expect(() => loadConfig({ TRUSTED_PROXY_HEADER: 'x-real-ip' })).toThrow(/TRUSTED_PROXY_HEADER/);
    expect(loadConfig({}).integrity!.trustedProxyHeader).toBe('x-forwarded-for');
    expect(loadConfig({ TRUSTED_PROXY_HEADER: 'forwarded' }).integrity!.trustedProxyHeader).toBe('forwarded');
  });
});
