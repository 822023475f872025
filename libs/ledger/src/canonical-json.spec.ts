/** RFC 8785 (JCS) canonical form: the bytes the hash chain and checkpoint signatures cover. */
import { canonicalize } from './canonical-json';

describe('canonicalize (RFC 8785)', () => {
  it('sorts keys by UTF-16 code units, not by code point or locale (RFC 8785 section 3.2.3 example)', () => {
    // The RFC's sorting example: by UTF-16 code units the emoji U+1F600 (surrogates 0xD83D 0xDE00)
    // comes before U+FB33, although by code point it comes after.
    const input = { '\u20ac': 'Euro Sign', '\r': 'Carriage Return', '\ufb33': 'Hebrew Letter Dalet With Dagesh', '1': 'One', '\ud83d\ude00': 'Emoji: Grinning Face', '\u0080': 'Control', '\u00f6': 'Latin Small Letter O With Diaeresis' };
    expect(canonicalize(input)).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
  });

  it('serializes numbers, strings and literals as ECMAScript does (RFC 8785 section 3.2.2 example)', () => {
    const input = { numbers: [333333333.33333329, 1e30, 4.5, 2e-3, 0.000000000000000000000000001], string: '\u20ac$\u000f\nA\'B"\\\\"/', literals: [null, true, false] };
    expect(canonicalize(input)).toBe(
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
  });

  it('leaves out undefined members, writes undefined array items as null, and nests', () => {
    expect(canonicalize({ b: [1, undefined, { d: 2, c: undefined }], a: undefined, 'k"q': -0 })).toBe('{"b":[1,null,{"d":2}],"k\\"q":0}');
  });

  it('refuses what JSON cannot carry', () => {
    expect(() => canonicalize({ n: Number.NaN })).toThrow(TypeError);
    expect(() => canonicalize({ n: Infinity })).toThrow(TypeError);
    expect(() => canonicalize({ f: () => 1 })).toThrow(TypeError);
  });

  it('orders keys by code units for objects of any size (inline sort up to 24 keys, the default sort beyond)', () => {
    const pool = ['', 'a', 'B', 'b', 'aa', '10', '9', '0', '1.5', '-1', '\u00e9', '\uffff', '\ud83d\ude00', '\ud800', '\u0000', 'Z', 'z', '~', '_', 'id', 'ID', 'actor', 'actors', 'patient', '\u20ac'];
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    for (let round = 0; round < 200; round++) {
      const n = 1 + Math.floor(random() * 40);
      const obj: Record<string, string> = {};
      while (Object.keys(obj).length < n) {
        const key = pool[Math.floor(random() * pool.length)] + (random() < 0.5 ? '' : String(Math.floor(random() * 30)));
        obj[key] = key;
      }
      const expected = '{' + Object.keys(obj).sort().map((k) => `${JSON.stringify(k)}:${JSON.stringify(obj[k])}`).join(',') + '}';
      expect(canonicalize(obj)).toBe(expected);
    }
  });

  it('gives the same text for the same content whatever the key order of the input', () => {
    const a = { id: 'x', actor: { type: 'user', id: 'u1', ip: '10.0.0.1' }, details: { z: 1, a: 'b' } };
    const b = { details: { a: 'b', z: 1 }, actor: { ip: '10.0.0.1', id: 'u1', type: 'user' }, id: 'x' };
    expect(canonicalize(a)).toBe(canonicalize(b));
    expect(canonicalize(a)).toBe('{"actor":{"id":"u1","ip":"10.0.0.1","type":"user"},"details":{"a":"b","z":1},"id":"x"}');
  });
});

/** An independent reading of RFC 8785 for the values below: JSON.stringify's text, keys in code-unit order. */
function reference(value: unknown): string {
  if (Array.isArray(value)) return '[' + value.map((v) => (v === undefined ? 'null' : reference(v))).join(',') + ']';
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj)
      .filter((k) => obj[k] !== undefined)
      .sort();
    return '{' + keys.map((k) => `${JSON.stringify(k)}:${reference(obj[k])}`).join(',') + '}';
  }
  return JSON.stringify(value);
}

describe('canonicalize: the byte writer and the string builder give the same text', () => {
  let seed = 11;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
  // Mostly text the writer copies as is, sometimes (3 % of the strings) text it leaves to the string builder.
  const plainTexts = ['', 'a', 'u-0001', 'Patient/123', '10.20.9.14', 'x'.repeat(300), "it's ~ok~ {[,:]}"];
  const otherTexts = ['say "hi"', 'back\\slash', 'tab\there', 'line\n', '\u0000', '\u007f', '\u0080', 'caf\u00e9', '\u20ac', '\ud83d\ude00', '\ud800'];
  const numbers = [0, -0, 1, 7, 9, 10, 99, 100, 12345, 2147483647, 2147483648, -1, -2147483648, 1.5, 0.1, 1e21, 1e-7, 333333333.33333329, Number.MAX_SAFE_INTEGER, 5e-324];
  const plainKeys = ['id', 'actor', 'action', 'type', 'ip', 'a', 'B', '10', '9', 'details', 'x.y', '_', 'Z'];
  const otherKeys = ['\u00e9', 'k"q', 'tab\t', 'back\\', '\ud83d\ude00', '\ufb33'];
  const text = () => (random() < 0.03 ? pick(otherTexts) : pick(plainTexts)) + (random() < 0.5 ? '' : String(Math.floor(random() * 100)));
  const key = () => (random() < 0.03 ? pick(otherKeys) : pick(plainKeys));
  function randomValue(depth: number): unknown {
    const r = random();
    if (depth > 3 || r < 0.35) return text();
    if (r < 0.55) return pick(numbers);
    if (r < 0.6) return pick([true, false, null]);
    if (r < 0.75) return Array.from({ length: Math.floor(random() * 4) }, () => (random() < 0.1 ? undefined : randomValue(depth + 1)));
    const obj: Record<string, unknown> = {};
    const n = Math.floor(random() * (random() < 0.1 ? 40 : 6));
    for (let i = 0; i < n; i++) obj[key() + (random() < 0.3 ? String(i) : '')] = random() < 0.1 ? undefined : randomValue(depth + 1);
    return obj;
  }

  it('for 5,000 random objects and arrays (ASCII, escapes, non-ASCII, numbers, undefined members and items)', () => {
    for (let i = 0; i < 5000; i++) {
      const value = random() < 0.8 ? randomValue(3 - Math.floor(random() * 3)) : randomValue(0);
      expect(canonicalize(value)).toBe(reference(value));
    }
  });

  it('for events of the canonical shape', () => {
    const event = {
      id: '5bc5cbb7-c8c8-4862-9243-da469509637c',
      occurredAt: '2026-10-23T10:00:00.000Z',
      category: 'data_access',
      action: 'read',
      outcome: 'success',
      actor: { id: 'u-0001', type: 'user', role: 'nurse', ip: '10.20.9.14', userAgent: 'Mozilla/5.0 (X11)' },
      patient: { id: 'MRN-1' },
      resource: { type: 'Observation', id: 'obs-1' },
      purpose: 'TREAT',
      query: { text: 'Patient?name=smith&birthdate=1970' },
      source: { system: 'ehr', integration: 'ehr-1' },
      recordCount: 12,
      tls: { result: 'success', clientSubject: 'CN=ehr' },
      sensitivity: ['psychiatry', 'HIV'],
      details: { ward: '4B', bed: 12, urgent: true, ratio: 0.25, z: -3 },
    };
    expect(canonicalize(event)).toBe(reference(event));
    expect(canonicalize({ ...event, actor: { ...event.actor, id: 'Ren\u00e9e' } })).toBe(reference({ ...event, actor: { ...event.actor, id: 'Ren\u00e9e' } }));
    expect(canonicalize({ ...event, query: { text: 'name="smith"' } })).toBe(reference({ ...event, query: { text: 'name="smith"' } }));
  });

  it('for a text larger than the writer\'s buffer, and for a getter that canonicalizes while the writer runs', () => {
    const big = { list: Array.from({ length: 3000 }, (_, i) => ({ n: i, s: 'abcdefghijklmnopqrstuvwxyz' })) };
    expect(canonicalize(big).length).toBeGreaterThan(64 * 1024);
    expect(canonicalize(big)).toBe(reference(big));
    const inner = { b: [1, 'two'], a: { c: null } };
    const outer = {
      z: 1,
      get nested() {
        return canonicalize(inner);
      },
    };
    expect(canonicalize(outer)).toBe(reference({ z: 1, nested: reference(inner) }));
    expect(canonicalize(outer)).toBe('{"nested":"{\\"a\\":{\\"c\\":null},\\"b\\":[1,\\"two\\"]}","z":1}');
  });

  it('refuses what JSON cannot carry, also deep inside an object', () => {
    expect(() => canonicalize({ a: { b: [1, Number.NaN] } })).toThrow(new TypeError('JCS: non-finite numbers cannot be serialized'));
    expect(() => canonicalize({ a: [{ f: () => 1 }] })).toThrow(new TypeError('JCS: cannot serialize a function'));
    expect(() => canonicalize({ a: 10n })).toThrow(new TypeError('JCS: cannot serialize a bigint'));
  });
});
