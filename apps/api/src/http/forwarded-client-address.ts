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
 */
import { isIP } from 'node:net';
import parseForwarded from 'forwarded-parse';

/** One `for=` node: an address, or a node that hides the client (`unknown`, obfuscated, absent). */
export type ForwardedNode = { address: string } | { hidden: true };

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
 * The `for=` nodes of a Forwarded header, nearest hop last (as proxies append); null when the
 * header (or any of its nodes) is malformed.
 */
export function parseForwardedFor(header: string): ForwardedNode[] | null {
  let elements: Record<string, string>[];
  try {
    elements = parseForwarded(header);
  } catch {
    return null;
  }
  const nodes: ForwardedNode[] = [];
  for (const element of elements) {
    const node = parseNode(element.for);
    if (node === null) return null;
    nodes.push(node);
  }
  return nodes;
}

/**
 * The client's address for a request from `peer` carrying `header` (string, or the lines Node
 * joined), believing hops only while the reporting address is trusted. Mirrors proxy-addr: the
 * peer is hop 0, the nearest `for=` hop 1, and so on.
 */
export function clientAddressFromForwarded(peer: string | undefined, header: string | string[] | undefined, trust: TrustFn): string | undefined {
  if (peer === undefined || header === undefined) return peer;
  const text = Array.isArray(header) ? header.join(', ') : header;
  if (text.trim() === '' || !trust(peer, 0)) return peer;
  const nodes = parseForwardedFor(text);
  if (nodes === null) return peer;
  let current = peer;
  for (let hop = 1; hop <= nodes.length; hop++) {
    const node = nodes[nodes.length - hop]!;
    if ('hidden' in node) return current;
    current = node.address;
    if (!trust(current, hop)) return current;
  }
  return current;
}

interface ExpressLike {
  request: object;
  get(setting: string): unknown;
}

/**
 * Makes `req.ip` of this Express app (and apps mounted in it) come from the Forwarded header,
 * with the app's compiled `trust proxy` (TRUSTED_PROXIES). X-Forwarded-For is then not consulted
 * for the address at all, so a client-sent one passed through by the proxy cannot spoof it.
 */
export function useForwardedHeaderForClientIp(app: ExpressLike): void {
  Object.defineProperty(app.request, 'ip', {
    configurable: true,
    enumerable: true,
    get(this: { app?: ExpressLike; socket?: { remoteAddress?: string }; headers?: Record<string, string | string[] | undefined> }) {
      const trust = (this.app ?? app).get('trust proxy fn') as TrustFn | undefined;
      const peer = this.socket?.remoteAddress;
      return trust ? clientAddressFromForwarded(peer, this.headers?.forwarded, trust) : peer;
    },
  });
}
