/** The canonical event's validation: the date-time check's fast path and the timestamp range, as integrations see them. */
import { fullFormats } from 'ajv-formats/dist/formats';
import { EventValidator, isRfc3339DateTime } from './event-validator';

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
