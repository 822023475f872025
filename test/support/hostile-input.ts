/**
 * Seeded generator of malformed and hostile requests for the fuzz test: wrong types, unknown
 * fields, huge strings, deep nesting, invalid UTF-8, prototype-pollution keys, duplicate keys,
 * wrong content types and encodings, truncated JSON, out-of-range numbers, foreign sources, odd
 * methods and paths, and header abuse. Every case carries a unique marker in the VALUES it sends
 * (never as a key name, which validation errors may legitimately name), so a test can prove no
 * response echoes what was submitted. Every case is built to be refused: none may store anything.
 */
import { randomUUID } from 'node:crypto';
import type { RawRequest } from './raw-http';

export interface HostileCase {
  kind: string;
  marker: string;
  request: RawRequest;
  /** Statuses that count as a correct refusal (all 4xx); empty = any 4xx. */
  expect?: number[];
}

/** Small, fast, seeded PRNG (mulberry32). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export class HostileInputGenerator {
  private readonly rand: () => number;
  private n = 0;

  constructor(
    seed: number,
    private readonly tokens: { integration: string; otherIntegration: string; analyst: string },
  ) {
    this.rand = seededRandom(seed);
  }

  private int(max: number): number {
    return Math.floor(this.rand() * max);
  }
  private pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /** A valid event whose string values carry the marker (so any echo of them is detectable). */
  private event(marker: string): Record<string, Json> {
    return {
      id: randomUUID(),
      occurredAt: '2026-03-02T10:15:00.000Z',
      category: 'data_access',
      action: 'read',
      outcome: 'success',
      actor: { id: `dr-${marker}`, type: 'user', role: 'physician', ip: '10.1.2.3', userAgent: `agent-${marker}` },
      patient: { id: `MRN-${marker}` },
      resource: { type: 'Observation', id: `obs-${marker}` },
      purpose: 'TREAT',
      source: { system: 'ehr-gateway', integration: 'sample-ehr' },
      details: { note: `n-${marker}` },
    };
  }

  private headers(token: string | null, contentType: string | null = 'application/json'): Record<string, string> {
    const h: Record<string, string> = {};
    if (contentType !== null) h['content-type'] = contentType;
    if (token !== null) h.authorization = `Bearer ${token}`;
    return h;
  }

  private post(kind: string, marker: string, body: Buffer | string, opts: { token?: string | null; contentType?: string | null; extraHeaders?: Record<string, string>; expect?: number[] } = {}): HostileCase {
    const headers = { ...this.headers(opts.token === undefined ? this.tokens.integration : opts.token, opts.contentType === undefined ? 'application/json' : opts.contentType), ...(opts.extraHeaders ?? {}) };
    return { kind, marker, request: { method: 'POST', path: '/v1/events', headers, body }, expect: opts.expect };
  }

  /** Wraps one event as a single body or inside a batch of valid siblings, at a random index. */
  private wrap(bad: Json, marker: string): Json {
    if (this.rand() < 0.5) return bad;
    const events: Json[] = Array.from({ length: 1 + this.int(5) }, () => this.event(marker));
    events.splice(this.int(events.length + 1), 0, bad);
    return { events };
  }

  next(): HostileCase {
    const marker = `ZQ${(this.n++).toString(36)}X${this.int(1e9).toString(36)}`;
    const generators = [
      () => this.wrongType(marker),
      () => this.unknownField(marker),
      () => this.hugeString(marker),
      () => this.deepNesting(marker),
      () => this.invalidUtf8(marker),
      () => this.prototypeKeys(marker),
      () => this.duplicateKeys(marker),
      () => this.wrongContentType(marker),
      () => this.truncated(marker),
      () => this.numbers(marker),
      () => this.foreignSource(marker),
      () => this.badShape(marker),
      () => this.headerAbuse(marker),
      () => this.oddRequests(marker),
      () => this.randomBytes(marker),
    ];
    return this.pick(generators)();
  }

  private wrongType(marker: string): HostileCase {
    const e = this.event(marker);
    const field = this.pick(['id', 'occurredAt', 'category', 'action', 'outcome', 'actor', 'source', 'patient', 'recordCount', 'sensitivity', 'details', 'actor.id', 'actor.type', 'source.system', 'patient.id', 'tls', 'resource']);
    // Values of a type the field never accepts (strings go to object fields, objects to strings).
    const objectFields = ['actor', 'source', 'patient', 'details', 'tls', 'resource'];
    const wrong: Json[] = objectFields.includes(field)
      ? [`v-${marker}`, 42, [`v-${marker}`], true]
      : field === 'recordCount'
        ? [`v-${marker}`, -1, 1.5, { v: marker }]
        : field === 'sensitivity'
          ? [`v-${marker}`, { v: marker }, [1, 2], [{ v: marker }]]
          : [42, true, [`v-${marker}`], { v: `v-${marker}` }, null];
    const value = this.pick(wrong);
    const [a, b] = field.split('.');
    if (b) (e[a!] as Record<string, Json>)[b] = value;
    else e[a!] = value;
    return this.post('wrong-type', marker, JSON.stringify(this.wrap(e, marker)), { expect: [400] });
  }

  private unknownField(marker: string): HostileCase {
    const e = this.event(marker);
    const where = this.pick(['top', 'actor', 'patient', 'source', 'resource']);
    const name = this.pick(['ssn', 'name', 'dob', 'diagnosis', 'notes', 'address', 'extra']);
    const target = where === 'top' ? e : (e[where] as Record<string, Json>);
    target[name] = this.pick([`v-${marker}`, { nested: `v-${marker}` }, [`v-${marker}`], 7]);
    return this.post('unknown-field', marker, JSON.stringify(this.wrap(e, marker)), { expect: [400] });
  }

  private hugeString(marker: string): HostileCase {
    const e = this.event(marker);
    // All beyond every field's maxLength (512); bodies past MAX_BODY_BYTES are rarer (they cost the most to send).
    const size = this.rand() < 0.92 ? this.pick([600, 5000, 9000, 70_000]) : this.pick([600_000, 1_100_000, 2_500_000]);
    const value = `${marker}-${'x'.repeat(size)}`;
    const field = this.pick(['actor.id', 'patient.id', 'details.note', 'action', 'actor.userAgent', 'source.system']);
    const [a, b] = field.split('.');
    if (b) (e[a!] as Record<string, Json>)[b] = value;
    else e[a!] = value;
    return this.post('huge-string', marker, JSON.stringify(this.wrap(e, marker)), { expect: [400, 413] });
  }

  private deepNesting(marker: string): HostileCase {
    const depth = this.rand() < 0.95 ? this.pick([7, 9, 20, 200, 5000]) : 100_000;
    const e = this.event(marker);
    const style = this.int(3);
    const open = style === 0 ? '['.repeat(depth) : style === 1 ? '{"a":'.repeat(depth) : '[{"a":'.repeat(depth);
    const close = style === 0 ? ']'.repeat(depth) : style === 1 ? '}'.repeat(depth) : '}]'.repeat(depth);
    const inner = `${open}"v-${marker}"${close}`;
    const text = JSON.stringify(e).replace(/"details":\{[^}]*\}/, `"details":${inner}`);
    return this.post('deep-nesting', marker, text, { expect: [400, 413] });
  }

  private invalidUtf8(marker: string): HostileCase {
    const bad = this.pick([[0xc3, 0x28], [0xff], [0xfe, 0xff], [0xc0, 0xaf], [0xe0, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0x80], [0xe2, 0x82]]);
    const text = JSON.stringify(this.wrap(this.event(marker), marker));
    const at = text.indexOf(marker) + 2;
    const body = Buffer.concat([Buffer.from(text.slice(0, at)), Buffer.from(bad), Buffer.from(text.slice(at))]);
    return this.post('invalid-utf8', marker, body, { expect: [400] });
  }

  private prototypeKeys(marker: string): HostileCase {
    const key = this.pick(['__proto__', 'constructor', 'prototype', '\\u005f_proto__', 'constr\\u0075ctor']);
    const text = JSON.stringify(this.wrap(this.event(marker), marker));
    const where = this.pick(['"actor":{', '"details":{', '"source":{', '{"id"']);
    const injected = where === '{"id"' ? `{"${key}":{"isAdmin":"v-${marker}"},"id"` : `${where}"${key}":{"polluted":"v-${marker}"},`;
    return this.post('prototype-key', marker, text.replace(where, injected), { expect: [400] });
  }

  private duplicateKeys(marker: string): HostileCase {
    const text = JSON.stringify(this.wrap(this.event(marker), marker));
    const dup = this.pick([
      ['"outcome":"success"', `"outcome":"success","outcome":"denied"`],
      ['"patient":{"id":"', `"patient":{"id":"MRN-other-${marker}","id":"`],
      ['"category":"data_access"', '"category":"data_access","\\u0063ategory":"security"'],
      ['"source":{', `"source":{"system":"v-${marker}",`],
    ] as const);
    return this.post('duplicate-key', marker, text.replace(dup[0], dup[1]), { expect: [400] });
  }

  private wrongContentType(marker: string): HostileCase {
    const body = JSON.stringify(this.event(marker));
    const variant = this.int(10);
    if (variant === 0) return this.post('content-type', marker, body, { contentType: null, expect: [415] });
    if (variant === 1) return this.post('content-encoding', marker, body, { extraHeaders: { 'content-encoding': this.pick(['gzip', 'deflate', 'br', 'x-custom']) }, expect: [415] });
    const type = this.pick([
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/xml',
      'application/json; charset=latin1',
      'application/json; charset=utf-16',
      'application/jsonx',
      'text/json',
      '*/*',
      'application/octet-stream',
      'application/json; charset="iso-8859-1"',
    ]);
    return this.post('content-type', marker, body, { contentType: type, expect: [415] });
  }

  private truncated(marker: string): HostileCase {
    const text = JSON.stringify(this.wrap(this.event(marker), marker));
    return this.post('truncated', marker, text.slice(0, 1 + this.int(text.length - 2)), { expect: [400] });
  }

  private numbers(marker: string): HostileCase {
    const text = JSON.stringify(this.wrap(this.event(marker), marker));
    // Not JSON, or overflowing: refused anywhere.
    const neverValid = ['1e400', '-1e400', '1' + '0'.repeat(400), '0x10', 'NaN', 'Infinity', '-Infinity', '01', '1.', '.5', '+1', '1e', '--1'];
    // JSON numbers a record count may not be (negative, fractional, above the maximum).
    const badCount = ['-1', '1.5', '-0.5', '18446744073709551616', '1e10', '9007199254740993'];
    if (this.rand() < 0.5) {
      const value = this.pick([...neverValid, ...badCount]);
      return this.post('number', marker, text.replace('"purpose":"TREAT"', `"purpose":"TREAT","recordCount":${value}`), { expect: [400] });
    }
    const value = this.pick(neverValid);
    return this.post('number', marker, text.replace('"details":{', `"details":{"n":${value},"m":"v-${marker}",`), { expect: [400] });
  }

  private foreignSource(marker: string): HostileCase {
    const e = this.event(marker);
    const variant = this.int(3);
    if (variant === 0) (e.source as Record<string, Json>).integration = `other-${marker.toLowerCase()}`;
    if (variant === 1) (e.source as Record<string, Json>).integration = 'sample-ehr';
    if (variant === 2) (e.source as Record<string, Json>).integration = 'billing';
    // The other integration's token posting sample-ehr's (or a third party's) events.
    const token = variant === 1 ? this.tokens.otherIntegration : this.tokens.integration;
    return this.post('foreign-source', marker, JSON.stringify(this.wrap(e, marker)), { token, expect: [403] });
  }

  private badShape(marker: string): HostileCase {
    const body = this.pick<Json>([
      [],
      [this.event(marker)],
      `v-${marker}`,
      42,
      null,
      { events: `v-${marker}` },
      { events: [] },
      { events: {} },
      { events: [null, `v-${marker}`] },
      { events: [this.event(marker)], extra: `v-${marker}` },
      { events: Array.from({ length: 1001 }, () => ({ id: `v-${marker}` })) },
      {},
    ]);
    return this.post('bad-shape', marker, JSON.stringify(body), { expect: [400, 413] });
  }

  private headerAbuse(marker: string): HostileCase {
    const body = JSON.stringify(this.event(marker));
    const variant = this.int(9);
    switch (variant) {
      case 0:
        return this.post('header-auth', marker, body, { token: null, extraHeaders: { authorization: `Bearer ${marker}` }, expect: [401] });
      case 1:
        return this.post('header-auth', marker, body, { token: null, extraHeaders: { authorization: `Bearer ${'A'.repeat(9000)}${marker}` }, expect: [401, 431] });
      case 2:
        return this.post('header-auth', marker, body, { token: null, extraHeaders: { authorization: `Basic ${Buffer.from(`${marker}:${marker}`).toString('base64')}` }, expect: [401] });
      case 3:
        return this.post('header-auth', marker, body, { token: null, extraHeaders: { authorization: `Bearer ${this.tokens.integration}.${marker}` }, expect: [401] });
      case 4:
        return this.post('header-auth', marker, body, { token: null, extraHeaders: { authorization: `bearer  ${this.tokens.analyst}` }, expect: [403] });
      case 5: // a huge header block
        return this.post('header-size', marker, body, { extraHeaders: { 'x-padding': `${marker}${'p'.repeat(20_000)}` }, expect: [431] });
      case 6: // spoofed forwarding and identity headers are not trusted, and the event is still bad
        return this.post('header-spoof', marker, JSON.stringify({ ...this.event(marker), outcome: `v-${marker}` }), {
          extraHeaders: { 'x-forwarded-for': `203.0.113.9, ${marker}`, 'x-client-cert': marker, 'x-ssl-client-s-dn': `CN=${marker}`, 'x-integration': marker, forwarded: `for=${marker}` },
          expect: [400],
        });
      case 7: // a chunked (streamed) body, no Content-Length, holding an invalid event
        return this.post('header-chunked', marker, JSON.stringify({ ...this.event(marker), outcome: `v-${marker}` }), { extraHeaders: { 'transfer-encoding': 'chunked' }, expect: [400] });
      default: // many headers
        return this.post('header-count', marker, JSON.stringify({ ...this.event(marker), category: `v-${marker}` }), {
          extraHeaders: Object.fromEntries(Array.from({ length: 150 }, (_, i) => [`x-h${i}`, `v-${marker}`])),
          expect: [400, 431],
        });
    }
  }

  private oddRequests(marker: string): HostileCase {
    const token = this.tokens.integration;
    const variant = this.int(8);
    const h = this.headers(token);
    switch (variant) {
      case 0:
        return { kind: 'method', marker, request: { method: this.pick(['PUT', 'PATCH', 'DELETE']), path: `/v1/events/${randomUUID()}`, headers: h, body: JSON.stringify(this.event(marker)) }, expect: [404] };
      case 1:
        return { kind: 'path', marker, request: { method: 'GET', path: `/v1/events/${marker}`, headers: this.headers(this.tokens.analyst) }, expect: [400] };
      case 2:
        return { kind: 'path', marker, request: { method: 'GET', path: `/v1/events/%E0%A4%A-${marker}`, headers: this.headers(this.tokens.analyst) }, expect: [400, 404] };
      case 3:
        return { kind: 'path', marker, request: { method: 'POST', path: `/v1/events/../events?x=${marker}`, headers: h, body: '{' }, expect: [400, 404] };
      case 4:
        return { kind: 'query', marker, request: { method: 'GET', path: `/v1/events?limit=${marker}&patient=${marker}`, headers: this.headers(this.tokens.analyst) }, expect: [400] };
      case 5:
        return { kind: 'query', marker, request: { method: 'GET', path: `/v1/events?colour=${marker}&from=${marker}`, headers: this.headers(this.tokens.analyst) }, expect: [400] };
      case 6:
        return { kind: 'path', marker, request: { method: 'POST', path: `/v1/${marker}`, headers: h, body: JSON.stringify(this.event(marker)) }, expect: [404] };
      default:
        return { kind: 'url-size', marker, request: { method: 'GET', path: `/v1/events?actor=${marker}${'a'.repeat(20_000)}`, headers: this.headers(this.tokens.analyst) }, expect: [400, 414, 431] };
    }
  }

  private randomBytes(marker: string): HostileCase {
    const size = 1 + this.int(4096);
    const bytes = Buffer.alloc(size);
    for (let i = 0; i < size; i++) bytes[i] = this.int(256);
    // Sometimes start like JSON so the body gets past the first character.
    const prefix = this.pick(['', '{', '{"events":[', `{"id":"${marker}",`, '[']);
    return this.post('random-bytes', marker, Buffer.concat([Buffer.from(prefix), bytes, Buffer.from(marker)]), { expect: [400] });
  }
}
