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
