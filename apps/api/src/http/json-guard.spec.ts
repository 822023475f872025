/**
 * json-guard tests: every kind of hostile JSON is found and located by pointer (never by value),
 * and valid JSON within the limits always passes (checked against JSON.stringify output of a
 * seeded generator, so the scan cannot refuse what a client legitimately sends).
 */
import { inspectJson, JsonLimits } from './json-guard';

const limits: JsonLimits = { maxDepth: 8, maxStringLength: 64 };
const check = (text: string, l: JsonLimits = limits) => inspectJson(text, l);

describe('inspectJson', () => {
  it('passes ordinary events and batches', () => {
    expect(check('{"id":"a","actor":{"id":"x","type":"user"},"sensitivity":["vip"],"recordCount":3}')).toBeNull();
    expect(check(' { "events" : [ { "a" : 1 } , { "a" : 2.5e3 } , { } , [ ] ] } ')).toBeNull();
    expect(check('"just a string"')).toBeNull();
    expect(check('[true,false,null,-0.5,1E-7]')).toBeNull();
    expect(check('{"s":"quote \\" backslash \\\\ unicode \\u00e9 pair \\ud83d\\ude00"}')).toBeNull();
  });

  it('refuses nesting deeper than the limit, pointing at the container', () => {
    const deep = '{"a":'.repeat(8) + '1' + '}'.repeat(8);
    expect(check(deep)).toBeNull();
    const deeper = '{"events":[{"details":' + '[[[[[[[1]]]]]]]' + '}]}';
    expect(check(deeper)).toMatchObject({ kind: 'depth', pointer: '/events/0/details/0/0/0/0/0' });
    expect(check('['.repeat(100_000))).toMatchObject({ kind: 'depth' });
  });

  it('refuses long strings and keys, counting raw characters', () => {
    expect(check(`{"a":"${'x'.repeat(64)}"}`)).toBeNull();
    expect(check(`{"a":"${'x'.repeat(65)}"}`)).toMatchObject({ kind: 'string-length', pointer: '/a' });
    expect(check(`{"events":[{},{"b":["ok","${'y'.repeat(100)}"]}]}`)).toMatchObject({ kind: 'string-length', pointer: '/events/1/b/1', path: ['events', 1, 'b', 1] });
    expect(check(`{"${'k'.repeat(300)}":1}`)).toMatchObject({ kind: 'key-length' });
  });

  it('refuses duplicate keys, also when one is written with escapes', () => {
    expect(check('{"a":1,"b":{"c":1,"c":2}}')).toMatchObject({ kind: 'duplicate-key', pointer: '/b/c' });
    expect(check('{"id":"x","\\u0069d":"y"}')).toMatchObject({ kind: 'duplicate-key', pointer: '/id' });
    // The same key in sibling objects is fine.
    expect(check('{"events":[{"id":1},{"id":2}]}')).toBeNull();
    // Many keys (Set path) and a duplicate far apart.
    const many = Array.from({ length: 200 }, (_, i) => `"k${i}":${i}`).join(',');
    expect(check(`{${many}}`)).toBeNull();
    expect(check(`{${many},"k7":1}`)).toMatchObject({ kind: 'duplicate-key', pointer: '/k7' });
  });

  it('refuses prototype-pollution keys anywhere, escaped or not', () => {
    expect(check('{"__proto__":{"admin":true}}')).toMatchObject({ kind: 'forbidden-key', pointer: '/__proto__' });
    expect(check('{"a":[{"constructor":{"prototype":{}}}]}')).toMatchObject({ kind: 'forbidden-key', pointer: '/a/0/constructor' });
    expect(check('{"\\u005f_proto__":1}')).toMatchObject({ kind: 'forbidden-key' });
    expect(check('{"x":"__proto__"}')).toBeNull(); // as a value it is just text
  });

  it('refuses numbers that overflow and escaped lone surrogates', () => {
    expect(check('{"n":1e400}')).toMatchObject({ kind: 'number-range', pointer: '/n' });
    expect(check('{"n":-' + '9'.repeat(400) + '}')).toMatchObject({ kind: 'number-range' });
    expect(check('{"n":123456789012345678901234567890}')).toBeNull();
    expect(check('{"s":"\\ud800"}')).toMatchObject({ kind: 'unicode', pointer: '/s' });
    expect(check('{"\\udc00x":1}')).toMatchObject({ kind: 'unicode' });
  });

  it('reports what it cannot follow as syntax, without throwing', () => {
    for (const bad of ['', '{', '{"a"', '{"a":}', '{"a":1,}', '[1,]', '{"a":1}}', '{"a":1} x', '{a:1}', '"open', '{"a":"\\x"}', 'nul', '[1 2]', '{"a" 1}', '}']) {
      expect({ bad, v: check(bad)?.kind }).toEqual({ bad, v: 'syntax' });
    }
  });

  it('never refuses valid JSON within the limits (seeded generator against JSON.stringify)', () => {
    let seed = 20260302;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const alphabet = 'abc"\\/\n\t\u00e9\u20ac\ud83d\ude00 {}[]:,~';
    const chars = Array.from(alphabet); // code points: lone surrogates are refused on purpose
    const str = (max = 12) => Array.from({ length: Math.floor(rand() * max) }, () => chars[Math.floor(rand() * chars.length)]).join('');
    const value = (depth: number): unknown => {
      const r = rand();
      if (depth >= 6 || r < 0.3) return [str(), Math.floor(rand() * 1e6) / 7, rand() < 0.5, null, -Math.floor(rand() * 1e15)][Math.floor(rand() * 5)];
      if (r < 0.6) return Array.from({ length: Math.floor(rand() * 4) }, () => value(depth + 1));
      const o: Record<string, unknown> = {};
      for (let k = 0; k < rand() * 5; k++) o[`k${k}${str(3)}`] = value(depth + 1);
      return o;
    };
    for (let i = 0; i < 2000; i++) {
      const text = JSON.stringify(value(0), null, i % 3 === 0 ? 2 : undefined);
      const found = check(text, { maxDepth: 10, maxStringLength: 1000 });
      if (found) throw new Error(`refused valid JSON (${found.kind} at ${found.pointer}): ${text}`);
    }
  });
});
