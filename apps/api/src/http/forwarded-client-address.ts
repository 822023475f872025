/**
 * The client address behind trusted proxies from the standard `Forwarded` header (RFC 7239), for
 * deployments whose proxy writes that header instead of `X-Forwarded-For`
 * (TRUSTED_PROXY_HEADER=forwarded). Same semantics as Express's X-Forwarded-For handling: starting
 * from the connection's peer, each hop is believed only while the address that reported it is in
 * TRUSTED_PROXIES; the first address that is not a trusted proxy is the client. A header from a
 * sender that is not a trusted proxy is ignored (the peer's own address is the client's).
 *
 * `for=` nodes: IPv4, quoted `"[IPv6]"`, either with a port (`"192.0.2.43:47011"`,
 * `"[2001:db8::17]:4711"`), `unknown`, or an obfuscated identifier (`_hidden`, RFC 7239 §6.3).
 * When the walk reaches `unknown`, an obfuscated node, or a hop without `for=`, the client is
 * hidden behind the proxy that reported it, and that proxy's address is the nearest known one.
 * A header that does not parse (or a `for=` that is none of the above) is not believed at all: the
 * peer's address is used. Header values are never logged (they may carry client addresses).
 *
 * The protocol the client used (`req.protocol`, `req.secure`: the console's same-origin check) is
 * the `proto=` of the element that named the client, else the connection's own; X-Forwarded-Proto
 * is not read in this mode either.
 */
import { isIP } from 'node:net';
import parseForwarded from 'forwarded-parse';

/** One `for=` node: an address, or a node that hides the client (`unknown`, obfuscated, absent). */
export type ForwardedNode = { address: string } | { hidden: true };

/** One hop of the header: its `for=` node and, when given, `proto=` (lower case, http or https). */
export interface ForwardedHop {
  node: ForwardedNode;
  proto?: 'http' | 'https';
}

/** Proxy-addr's trust function (Express `trust proxy fn`): is `address`, at hop `i`, a trusted proxy? */
export type TrustFn = (address: string, i: number) => boolean;

const OBFUSCATED = /^_[A-Za-z0-9._-]+$/;
const PORT = /^(?:\d{1,5}|_[A-Za-z0-9._-]+)$/;

/** A `for=` value (already unquoted) as a node; null when it is none of RFC 7239 §6's forms. */
export function parseNode(value: string | undefined): ForwardedNode | null {
  if (value === undefined) return { hidden: true };
  if (value.toLowerCase() === 'unknown' || OBFUSCATED.test(value)) return { hidden: true };
  let host = value;
  let port: string | undefined;
  if (value.startsWith('[')) {
    const close = value.indexOf(']');
    if (close < 0) return null;
    host = value.slice(1, close);
    const rest = value.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) return null;
      port = rest.slice(1);
    }
    if (isIP(host) !== 6) return null;
  } else {
    const colon = value.indexOf(':');
    if (colon >= 0) {
      host = value.slice(0, colon);
      port = value.slice(colon + 1);
    }
    if (host.toLowerCase() === 'unknown' || OBFUSCATED.test(host)) return port === undefined || PORT.test(port) ? { hidden: true } : null;
    if (isIP(host) !== 4) return null;
  }
  if (port !== undefined && (!PORT.test(port) || (/^\d+$/.test(port) && Number(port) > 65_535))) return null;
  return { address: host };
}

/**
 * The hops of a Forwarded header, nearest hop last (as proxies append); null when the header (or
 * any of its `for=` or `proto=` values) is malformed.
 */
export function parseForwardedHops(header: string): ForwardedHop[] | null {
  let elements: Record<string, string>[];
  try {
    elements = parseForwarded(header);
  } catch {
    return null;
  }
  const hops: ForwardedHop[] = [];
  for (const element of elements) {
    const node = parseNode(element.for);
    if (node === null) return null;
    const hop: ForwardedHop = { node };
    if (element.proto !== undefined) {
      const proto = element.proto.toLowerCase();
      if (proto !== 'http' && proto !== 'https') return null;
      hop.proto = proto;
    }
    hops.push(hop);
  }
  return hops;
}

/** The `for=` nodes of a Forwarded header, nearest hop last; null when malformed. */
export function parseForwardedFor(header: string): ForwardedNode[] | null {
  return parseForwardedHops(header)?.map((h) => h.node) ?? null;
}

/** Who the client is, and (when a trusted hop said) which protocol it used. */
export interface ForwardedClient {
  address: string | undefined;
  proto?: 'http' | 'https';
}

/**
 * The client of a request from `peer` carrying `header` (string, or the lines Node joined),
 * believing hops only while the reporting address is trusted. Mirrors proxy-addr: the peer is hop
 * 0, the nearest `for=` hop 1, and so on. `proto` is that of the element that named the client.
 */
export function resolveForwarded(peer: string | undefined, header: string | string[] | undefined, trust: TrustFn): ForwardedClient {
  if (peer === undefined || header === undefined) return { address: peer };
  const text = Array.isArray(header) ? header.join(', ') : header;
  if (text.trim() === '' || !trust(peer, 0)) return { address: peer };
  const hops = parseForwardedHops(text);
  if (hops === null) return { address: peer };
  let current = peer;
  for (let i = 1; i <= hops.length; i++) {
    const hop = hops[hops.length - i]!;
    if ('hidden' in hop.node) return { address: current, ...(hop.proto ? { proto: hop.proto } : {}) };
    current = hop.node.address;
    if (!trust(current, i) || i === hops.length) return { address: current, ...(hop.proto ? { proto: hop.proto } : {}) };
  }
  return { address: current };
}

/** The client's address only (see resolveForwarded). */
export function clientAddressFromForwarded(peer: string | undefined, header: string | string[] | undefined, trust: TrustFn): string | undefined {
  return resolveForwarded(peer, header, trust).address;
}

interface ExpressLike {
  request: object;
  get(setting: string): unknown;
}

/**
 * Makes `req.ip` and `req.protocol` (so `req.secure`) of this Express app, and of apps mounted in
 * it, come from the Forwarded header, with the app's compiled `trust proxy` (TRUSTED_PROXIES).
 * X-Forwarded-For and X-Forwarded-Proto are then not consulted at all, so client-sent ones passed
 * through by the proxy cannot spoof them.
 */
export function useForwardedHeaderForClientIp(app: ExpressLike): void {
  type Req = { app?: ExpressLike; socket?: { remoteAddress?: string; encrypted?: boolean }; headers?: Record<string, string | string[] | undefined> };
  const resolve = (req: Req): ForwardedClient => {
    const trust = (req.app ?? app).get('trust proxy fn') as TrustFn | undefined;
    const peer = req.socket?.remoteAddress;
    return trust ? resolveForwarded(peer, req.headers?.forwarded, trust) : { address: peer };
  };
  Object.defineProperty(app.request, 'ip', {
    configurable: true,
    enumerable: true,
    get(this: Req) {
      return resolve(this).address;
    },
  });
  Object.defineProperty(app.request, 'protocol', {
    configurable: true,
    enumerable: true,
    get(this: Req) {
      return resolve(this).proto ?? (this.socket?.encrypted ? 'https' : 'http');
    },
  });
}
