/** The canonical event's validation: the date-time check's fast path and the timestamp range, as integrations see them. */
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { fullFormats } from 'ajv-formats/dist/formats';
import { ACCESS_EVENT_SCHEMA } from './access-event.schema';
import { EventValidator, isPlainValidEvent, isRfc3339DateTime } from './event-validator';

const ajvFormatsDateTime = (fullFormats['date-time'] as { validate: (s: string) => boolean }).validate;

describe('isRfc3339DateTime', () => {
  it('accepts the forms integrations send', () => {
    for (const s of ['2026-12-07T08:05:00.000Z', '2026-12-07T08:05:00Z', '2024-02-29T23:59:59.999999999Z', '2000-02-29T00:00:00z', '1970-01-01t00:00:00Z']) {
      expect(isRfc3339DateTime(s)).toBe(true);
    }
  });

  it('says what ajv-formats says for edge cases (dates, times, leap seconds, offsets, separators)', () => {
    const cases = [
      '2023-02-29T00:00:00Z', '1900-02-29T00:00:00Z', '2000-02-29T00:00:00Z', '2100-02-29T00:00:00Z', '2024-02-30T00:00:00Z',
      '2024-04-31T00:00:00Z', '2024-12-31T00:00:00Z', '2024-00-10T00:00:00Z', '2024-13-10T00:00:00Z', '2024-01-00T00:00:00Z', '2024-01-32T00:00:00Z',
      '2024-01-01T24:00:00Z', '2024-01-01T23:60:00Z', '2024-01-01T23:59:60Z', '2024-01-01T22:59:60Z', '2024-01-01T23:59:61Z', '2024-01-01T23:59:60.5Z',
      '2024-01-01T18:59:60-05:00', '2024-01-01T08:05:00+01:00', '2024-01-01T08:05:00+0100', '2024-01-01T08:05:00+01', '2024-01-01T08:05:00',
      '2024-01-01 08:05:00Z', '2024-01-01\t08:05:00Z', '2024-01-01T08:05:00.Z', '2024-01-01T08:05:00.1Z', '2024-01-01T08:05:00,1Z',
      '2024-01-01T08:05Z', '2024-1-01T08:05:00Z', '20240-01-01T08:05:00Z', '2024-01-01TT08:05:00Z', '2024-01-01T08:05:00ZZ', '2024-01-01T08:05:00.0a0Z',
      '２０２４-01-01T08:05:00Z', '2024-01-01T08:05:00.٣Z', '', 'Z', '2024-01-01T08:05:00.000+00:00', '2024-01-01T08:05:00.' + '1'.repeat(60) + 'Z',
    ];
    for (const s of cases) expect([s, isRfc3339DateTime(s)]).toEqual([s, ajvFormatsDateTime(s)]);
  });

  it('says what ajv-formats says for 40,000 random variations of a timestamp', () => {
    let seed = 5;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const alphabet = '0123456789-:.TtZz +';
    let accepted = 0;
    for (let i = 0; i < 40_000; i++) {
      const y = String(1890 + Math.floor(random() * 230)).padStart(4, '0');
      const two = (max: number) => String(Math.floor(random() * max)).padStart(2, '0');
      let s = `${y}-${two(14)}-${two(33)}T${two(25)}:${two(61)}:${two(62)}${random() < 0.5 ? '.' + '123456789'.slice(0, Math.floor(random() * 9)) : ''}Z`;
      // Sometimes change one character to anything of the timestamp alphabet.
      if (random() < 0.3) {
        const at = Math.floor(random() * s.length);
        s = s.slice(0, at) + alphabet[Math.floor(random() * alphabet.length)] + s.slice(at + 1);
      }
      const expected = ajvFormatsDateTime(s);
      if (isRfc3339DateTime(s) !== expected) throw new Error(`differs from ajv-formats for ${s}`);
      if (expected) accepted++;
    }
    expect(accepted).toBeGreaterThan(5_000);
  });
});

describe('EventValidator: occurredAt', () => {
  const validator = new EventValidator();
  const event = (occurredAt: string) => ({
    id: '5bc5cbb7-c8c8-4862-9243-da469509637c',
    occurredAt,
    category: 'data_access',
    action: 'read',
    outcome: 'success',
    actor: { id: 'u-1', type: 'user' },
    source: { system: 'ehr' },
  });

  it('accepts valid timestamps in UTC and with offsets', () => {
    expect(validator.errorsFor(event('2026-12-07T08:05:00.000Z'))).toEqual([]);
    expect(validator.errorsFor(event('2026-12-07T08:05:00+01:00'))).toEqual([]);
    expect(validator.errorsFor(event('1970-01-01T00:00:00Z'))).toEqual([]);
    expect(validator.errorsFor(event('9999-12-31T23:59:59.999Z'))).toEqual([]);
  });

  it('refuses impossible dates with the format error, and instants outside 1970..9999 (UTC) with the range error', () => {
    expect(validator.errorsFor(event('2023-02-29T08:05:00Z'), 3)).toEqual([{ index: 3, pointer: '/occurredAt', message: 'must match format "date-time"' }]);
    expect(validator.errorsFor(event('2026-12-07T24:05:00Z'))).toEqual([{ pointer: '/occurredAt', message: 'must match format "date-time"' }]);
    expect(validator.errorsFor(event('1969-12-31T23:59:59.999Z'))).toEqual([{ pointer: '/occurredAt', message: 'must be a timestamp between 1970 and 9999' }]);
    expect(validator.errorsFor(event('1970-01-01T00:30:00+01:00'))).toEqual([{ pointer: '/occurredAt', message: 'must be a timestamp between 1970 and 9999' }]);
    expect(validator.errorsFor(event('9999-12-31T23:30:00-01:00'))).toEqual([{ pointer: '/occurredAt', message: 'must be a timestamp between 1970 and 9999' }]);
    expect(validator.errorsFor(event('9999-12-31T23:00:00-01:00'))).toEqual([{ pointer: '/occurredAt', message: 'must be a timestamp between 1970 and 9999' }]);
    expect(validator.errorsFor(event('9999-12-31T22:59:59.999-01:00'))).toEqual([]);
  });
});

describe('isPlainValidEvent: says true only for events ajv accepts', () => {
  // The schema compiled as EventValidator did before the fast paths: ajv and ajv-formats' own date-time.
  const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
  addFormats(ajv, ['date-time', 'uuid', 'ipv4', 'ipv6']);
  const ajvAccepts = ajv.compile(ACCESS_EVENT_SCHEMA);

  // mulberry32: a small PRNG whose sequence does not cycle early.
  let seed = 23;
  const random = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
  const full = () => ({
    id: pick(['5bc5cbb7-c8c8-4862-9243-da469509637c', 'URN:UUID:5BC5CBB7-C8C8-4862-9243-DA469509637C']),
    occurredAt: pick(['2026-12-07T08:05:00.000Z', '2026-12-07T08:05:00+01:00', '2024-02-29T23:59:59Z']),
    category: pick(['data_access', 'authentication', 'security']),
    action: pick(['read', 'login', 'export:bulk', 'v1/query-2']),
    outcome: pick(['success', 'failure', 'denied']),
    actor: { id: 'u-0001', type: pick(['user', 'service']), role: 'nurse', ip: pick(['10.20.9.14', '2001:db8::1', '::ffff:10.0.0.1']), userAgent: 'Mozilla/5.0' },
    patient: { id: 'MRN-1' },
    resource: { type: 'Observation', id: 'obs-1' },
    purpose: 'TREAT',
    query: { text: 'Patient?name=smith' },
    source: { system: 'ehr', integration: 'ehr-1' },
    recordCount: pick([0, 12, 1_000_000_000]),
    tls: { result: pick(['success', 'failure']), clientSubject: 'CN=ehr', reason: 'expired' },
    sensitivity: ['psychiatry', 'HIV'],
    details: { ward: '4B', bed: 12, urgent: true, ratio: -0.5 },
  });
  const optional = ['actor.role', 'actor.ip', 'actor.userAgent', 'patient', 'resource', 'resource.id', 'purpose', 'query', 'source.integration', 'recordCount', 'tls', 'tls.clientSubject', 'tls.reason', 'sensitivity', 'details'];
  const paths = ['id', 'occurredAt', 'category', 'action', 'outcome', 'actor', 'actor.id', 'actor.type', 'actor.role', 'actor.ip', 'actor.userAgent', 'patient', 'patient.id', 'resource', 'resource.type', 'resource.id', 'purpose', 'query', 'query.text', 'source', 'source.system', 'source.integration', 'recordCount', 'tls', 'tls.result', 'tls.clientSubject', 'tls.reason', 'sensitivity', 'details'];
  // Values that break some field: types, bounds (in code units and in code points), formats, enums, patterns.
  const astral = '\ud83d\ude00';
  const bad: unknown[] = [
    undefined, null, 42, 1.5, -1, 1_000_000_001, true, '', ' ', 'x', 'Read', 'read me', '_read', 'a'.repeat(64), 'a'.repeat(65), 'a'.repeat(128), 'a'.repeat(129),
    'a'.repeat(256), 'a'.repeat(257), astral.repeat(40), astral.repeat(200), astral.repeat(300), 'a'.repeat(512), 'a'.repeat(513), 'a'.repeat(4096), 'a'.repeat(4097),
    '10.20.9.256', '10.20.9', '2001:db8::g', '2026-13-07T08:05:00Z', '2026-12-07T08:05:00', '5bc5cbb7-c8c8-4862-9243-da469509637', 'user', 'service', 'robot', 'success', 'denied',
    [], ['a', 'a'], ['a', 'b'], ['bad token'], Array.from({ length: 17 }, (_, i) => `s${i}`), Array.from({ length: 16 }, (_, i) => `s${i}`),
    {}, { id: 'x' }, { id: 'x', type: 'user' }, { type: 'Patient' }, { text: 'q' }, { system: 's' }, { result: 'success' }, { extra: 1 },
    { 'bad key': 1 }, { k: 'a'.repeat(257) }, { k: astral.repeat(200) }, { k: null }, { k: [1] }, { k: {} }, Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, i])),
    { ['k'.repeat(65)]: 1 }, { ['a'.repeat(64)]: 1 },
  ];
  const setAt = (obj: Record<string, unknown>, path: string, value: unknown) => {
    const [head, tail] = path.split('.');
    if (tail === undefined) {
      if (value === undefined) delete obj[head];
      else obj[head] = value;
      return;
    }
    const inner = obj[head];
    if (inner !== null && typeof inner === 'object' && !Array.isArray(inner)) setAt(inner as Record<string, unknown>, tail, value);
  };

  const check = (e: unknown) => {
    const fastSays = isPlainValidEvent(e);
    const ajvSays = ajvAccepts(e);
    if (fastSays && !ajvSays) throw new Error(`the fast path accepts what ajv refuses: ${JSON.stringify(e)}`);
    return { fastSays, ajvSays };
  };

  it('on every field of a full and of a minimal event set to each breaking value in turn', () => {
    const minimal = () => {
      const e: Record<string, unknown> = full();
      for (const path of optional) setAt(e, path, undefined);
      return e;
    };
    let refused = 0;
    for (const make of [full, minimal]) {
      for (const path of paths) {
        for (const value of bad) {
          const e: Record<string, unknown> = make();
          // A member the minimal event lacks is put back first, so that its own bounds are tested.
          if (path.includes('.') && (e as Record<string, unknown>)[path.split('.')[0]] === undefined) (e as Record<string, unknown>)[path.split('.')[0]] = (full() as Record<string, unknown>)[path.split('.')[0]];
          setAt(e, path, value);
          if (!check(e).ajvSays) refused++;
        }
      }
    }
    expect(refused).toBeGreaterThan(2_000);
  });

  it('on 20,000 events: full, trimmed, with a broken field or an unknown member', () => {
    let fast = 0;
    let accepted = 0;
    for (let i = 0; i < 20_000; i++) {
      const e: Record<string, unknown> = full();
      for (const path of optional) if (random() < 0.4) setAt(e, path, undefined);
      const r = random();
      if (r < 0.6) setAt(e, pick(paths), pick(bad));
      else if (r < 0.7) setAt(e, pick(['extra', 'actor.extra', 'source.extra', 'tls.extra', 'patient.extra', 'query.extra', 'resource.extra']), 'x');
      const { fastSays, ajvSays } = check(e);
      if (fastSays) fast++;
      if (ajvSays) accepted++;
    }
    // It must actually be the path the usual events take: nearly every event ajv accepts.
    expect(accepted).toBeGreaterThan(5_000);
    expect(fast / accepted).toBeGreaterThan(0.9);
  });

  it('leaves non-objects and events with missing required members to ajv', () => {
    for (const value of [null, [], 'event', 42, [full()]]) expect(isPlainValidEvent(value)).toBe(false);
    for (const key of ['id', 'occurredAt', 'category', 'action', 'outcome', 'actor', 'source']) {
      const e: Record<string, unknown> = full();
      delete e[key];
      expect(isPlainValidEvent(e)).toBe(false);
    }
    expect(isPlainValidEvent(full())).toBe(true);
  });

  it('gives the same errors as before for broken events (ajv writes them)', () => {
    const validator = new EventValidator();
    const e: Record<string, unknown> = full();
    e.action = 'read me';
    (e.actor as Record<string, unknown>).ip = '10.20.9.256';
    e.recordCount = -1;
    expect(validator.errorsFor(e, 0)).toEqual([
      { index: 0, pointer: '/action', message: 'must match pattern "^[A-Za-z0-9][A-Za-z0-9_.:/-]*$"' },
      { index: 0, pointer: '/actor/ip', message: 'must match a schema in anyOf' },
      { index: 0, pointer: '/recordCount', message: 'must be >= 0' },
    ]);
  });
});
