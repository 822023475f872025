/**
 * Evidence selection and summary, and the duration helpers alerts and runbooks use.
 */
import { formatDuration, parseDuration, tryParseDuration } from './duration';
import { EventRef } from './event-ref';
import { selectEvidence, summarizeEvidence } from './evidence';

const ref = (i: number, patient?: string, ip?: string): EventRef => ({ id: `e${i}`, ts: i * 1000, position: i, actor: `u${i % 2}`, patient, ip, system: 'ehr', integration: undefined });

describe('selectEvidence', () => {
  it('keeps everything under the cap', () => {
    expect(selectEvidence([ref(1), ref(2)], 5)).toEqual({ eventIds: ['e1', 'e2'], firstEventId: 'e1', lastEventId: 'e2', total: 2, truncated: false });
  });

  it('over the cap keeps first, last and the priority ones, in time order', () => {
    const refs = Array.from({ length: 10 }, (_, i) => ref(i));
    expect(selectEvidence(refs, 4, [7, 5]).eventIds).toEqual(['e0', 'e5', 'e7', 'e9']);
    expect(selectEvidence(refs, 3).eventIds).toEqual(['e0', 'e1', 'e9']);
    expect(selectEvidence(refs, 1).eventIds).toEqual(['e0', 'e9']);
  });
});

describe('summarizeEvidence', () => {
  it('counts patients (most touched first), accounts, IPs and the time span', () => {
    const summary = summarizeEvidence([ref(1, 'p-b', '10.0.0.1'), ref(2, 'p-a', '10.0.0.2'), ref(3, 'p-b', '10.0.0.1'), ref(4)]);
    expect(summary).toEqual({
      eventCount: 4,
      firstEventAt: new Date(1000).toISOString(),
      lastEventAt: new Date(4000).toISOString(),
      spanMs: 3000,
      distinctPatients: 2,
      topPatients: [
        { patientId: 'p-b', count: 2 },
        { patientId: 'p-a', count: 1 },
      ],
      distinctActors: 2,
      actors: ['u0', 'u1'],
      distinctSourceIps: 2,
      sourceIps: ['10.0.0.1', '10.0.0.2'],
      sourceSystems: ['ehr'],
      integrations: [],
    });
  });
});

describe('durations', () => {
  it('parses rule durations and refuses anything else', () => {
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('10m')).toBe(600_000);
    expect(parseDuration('2h')).toBe(7_200_000);
    expect(parseDuration('30d')).toBe(2_592_000_000);
    expect(parseDuration('1w')).toBe(604_800_000);
    expect(tryParseDuration('10 minutes')).toBeNull();
    expect(tryParseDuration('-5m')).toBeNull();
    expect(() => parseDuration('1.5h')).toThrow(/duration/);
  });

  it('formats for people', () => {
    expect(formatDuration(5_400_000)).toBe('1h 30m');
    expect(formatDuration(294_000)).toBe('4m 54s');
    expect(formatDuration(2_592_000_000)).toBe('30d');
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(250)).toBe('250ms');
  });
});
