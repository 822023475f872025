/**
 * RFC 7239 `Forwarded` handling: which `for=` nodes are read, and which address is the client's
 * for a given peer and TRUSTED_PROXIES (Express's own compiled trust function, as the app uses it).
 */
import express from 'express';
import { clientAddressFromForwarded, parseForwardedFor, parseNode, resolveForwarded, TrustFn } from './forwarded-client-address';

/** Express's compiled `trust proxy` for TRUSTED_PROXIES, exactly as app.ts sets it. */
function trusting(...proxies: string[]): TrustFn {
  const app = express();
  app.set('trust proxy', proxies.length > 0 ? proxies : false);
  return app.get('trust proxy fn') as TrustFn;
}

describe('parseNode (RFC 7239 §6 node forms)', () => {
  it.each([
    ['192.0.2.43', { address: '192.0.2.43' }],
    ['192.0.2.43:47011', { address: '192.0.2.43' }],
    ['[2001:db8:cafe::17]', { address: '2001:db8:cafe::17' }],
    ['[2001:db8:cafe::17]:4711', { address: '2001:db8:cafe::17' }],
    ['192.0.2.43:_port-9', { address: '192.0.2.43' }],
    ['unknown', { hidden: true }],
    ['UNKNOWN', { hidden: true }],
    ['_hidden', { hidden: true }],
    ['_SEVKISEK', { hidden: true }],
    ['unknown:1234', { hidden: true }],
    [undefined, { hidden: true }],
  ])('reads %s', (value, node) => {
    expect(parseNode(value)).toEqual(node);
  });

  it.each([
    ['2001:db8:cafe::17'], // IPv6 must be bracketed
    ['[192.0.2.43]'],
    ['[2001:db8::1'],
    ['[2001:db8::1]4711'],
    ['192.0.2.43:70000'],
    ['192.0.2.43:'],
    ['999.0.2.43'],
    ['client.example.com'],
    ['_'],
    [''],
  ])('refuses %s', (value) => {
    expect(parseNode(value)).toBeNull();
  });
});

describe('parseForwardedFor', () => {
  it('reads quoted IPv6 with ports, several hops and other parameters, nearest hop last', () => {
    expect(parseForwardedFor('for=192.0.2.60;proto=http;by=203.0.113.43, For="[2001:db8:cafe::17]:4711", for=unknown, by=10.0.0.1')).toEqual([
      { address: '192.0.2.60' },
      { address: '2001:db8:cafe::17' },
      { hidden: true },
      { hidden: true },
    ]);
  });

  it('refuses a malformed header or node as a whole', () => {
    expect(parseForwardedFor('for="[2001:db8::1]')).toBeNull();
    expect(parseForwardedFor('for=2001:db8::1')).toBeNull();
    expect(parseForwardedFor('for=a b')).toBeNull();
    expect(parseForwardedFor('for=192.0.2.1, for="not-an-address"')).toBeNull();
    expect(parseForwardedFor('')).toBeNull();
  });
});

describe('clientAddressFromForwarded (same walk as X-Forwarded-For)', () => {
  it('behind one trusted proxy, the client is its for=', () => {
    expect(clientAddressFromForwarded('127.0.0.1', 'for=203.0.113.7', trusting('127.0.0.1'))).toBe('203.0.113.7');
  });

  it('walks trusted hops from the nearest and stops at the first address that is not a proxy', () => {
    const header = 'for=198.51.100.1, for="[2001:db8:cafe::17]:4711", for="10.1.2.3:8443"';
    expect(clientAddressFromForwarded('127.0.0.1', header, trusting('127.0.0.1', '10.0.0.0/8'))).toBe('2001:db8:cafe::17');
    // Only the peer trusted: the nearest hop is the client, whatever it claims further left.
    expect(clientAddressFromForwarded('127.0.0.1', header, trusting('127.0.0.1'))).toBe('10.1.2.3');
    // Every hop trusted: the farthest is the client.
    expect(clientAddressFromForwarded('127.0.0.1', header, trusting('127.0.0.1', '10.0.0.0/8', '2001:db8::/32'))).toBe('198.51.100.1');
  });

  it('ignores the header from a peer that is not a trusted proxy', () => {
    expect(clientAddressFromForwarded('192.0.2.9', 'for=203.0.113.99', trusting('127.0.0.1'))).toBe('192.0.2.9');
    expect(clientAddressFromForwarded('127.0.0.1', 'for=203.0.113.99', trusting())).toBe('127.0.0.1');
  });

  it('stops at the proxy that reports unknown, an obfuscated node or no for=', () => {
    const trust = trusting('127.0.0.1', '10.0.0.0/8');
    expect(clientAddressFromForwarded('127.0.0.1', 'for=198.51.100.1, for=_hidden, for=10.1.2.3', trust)).toBe('10.1.2.3');
    expect(clientAddressFromForwarded('127.0.0.1', 'for=198.51.100.1, for=unknown', trust)).toBe('127.0.0.1');
    expect(clientAddressFromForwarded('127.0.0.1', 'for=198.51.100.1, by=10.0.0.1;proto=https', trust)).toBe('127.0.0.1');
  });

  it('believes nothing of a malformed header: the peer is the client', () => {
    expect(clientAddressFromForwarded('127.0.0.1', 'for="[2001:db8::1]', trusting('127.0.0.1'))).toBe('127.0.0.1');
    expect(clientAddressFromForwarded('127.0.0.1', 'for=evil.example', trusting('127.0.0.1'))).toBe('127.0.0.1');
  });

  it('reads repeated header lines as one list, in order', () => {
    expect(clientAddressFromForwarded('127.0.0.1', ['for=198.51.100.1', 'for=10.1.2.3'], trusting('127.0.0.1', '10.0.0.0/8'))).toBe('198.51.100.1');
  });

  it('without a header, the peer is the client', () => {
    expect(clientAddressFromForwarded('127.0.0.1', undefined, trusting('127.0.0.1'))).toBe('127.0.0.1');
    expect(clientAddressFromForwarded('127.0.0.1', '  ', trusting('127.0.0.1'))).toBe('127.0.0.1');
  });
});

describe('resolveForwarded: the protocol the client used', () => {
  const trust = trusting('127.0.0.1', '10.0.0.0/8');

  it('is the proto= of the element that named the client', () => {
    expect(resolveForwarded('127.0.0.1', 'for=203.0.113.7;proto=HTTPS', trust)).toEqual({ address: '203.0.113.7', proto: 'https' });
    expect(resolveForwarded('127.0.0.1', 'for=203.0.113.7;proto=http, for=10.1.2.3;proto=https', trust)).toEqual({ address: '203.0.113.7', proto: 'http' });
    expect(resolveForwarded('127.0.0.1', 'for=_hidden;proto=https', trust)).toEqual({ address: '127.0.0.1', proto: 'https' });
  });

  it('is not taken from an untrusted sender, an element without proto=, or a malformed header', () => {
    expect(resolveForwarded('192.0.2.9', 'for=203.0.113.7;proto=https', trust)).toEqual({ address: '192.0.2.9' });
    expect(resolveForwarded('127.0.0.1', 'for=203.0.113.7', trust)).toEqual({ address: '203.0.113.7' });
    expect(resolveForwarded('127.0.0.1', 'for=203.0.113.7;proto=gopher', trust)).toEqual({ address: '127.0.0.1' });
  });
});
