/**
 * Local time of an event instant as after-hours rules and baselines read it: minute of day and day
 * of week must agree with Intl's own reading of the zone for every minute around offset changes
 * (whole-hour and half-hour DST, a +05:45 zone, UTC), also when instants of different hours arrive
 * interleaved (an integration an hour behind, a nightly batch of yesterday) and the clock answers
 * from the offsets it remembers.
 */
import { ZoneClock } from './zone-clock';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

/** Minute of day and weekday of `ms` in `zone`, read from Intl directly. */
function intlLocal(zone: string, ms: number): [number, number] {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', hour: 'numeric', minute: 'numeric', weekday: 'short' }).formatToParts(new Date(ms));
  const get = (type: string) => parts.find((p) => p.type === type)!.value;
  return [Number(get('hour')) * 60 + Number(get('minute')), DAYS.indexOf(get('weekday').toLowerCase())];
}

/** Every minute of the 4 hours around `transition`, seconds inside the minute included, in an interleaved order. */
function instantsAround(transition: number): number[] {
  const out: number[] = [];
  for (let m = -120; m < 120; m++) {
    const t = transition + m * MINUTE + ((m * 7919) % 60) * 1000;
    out.push(t, t - HOUR, t - 26 * HOUR); // now, an hour behind, yesterday's batch
  }
  return out;
}

describe('ZoneClock', () => {
  const cases: [string, string, string][] = [
    ['America/New_York', 'spring forward (2026-03-08 02:00 local)', '2026-03-08T07:00:00Z'],
    ['America/New_York', 'fall back (2026-11-01 02:00 local)', '2026-11-01T06:00:00Z'],
    ['Europe/Berlin', 'spring forward (2026-03-29 02:00 local)', '2026-03-29T01:00:00Z'],
    ['Australia/Lord_Howe', 'half-hour DST change (2026-04-05 02:00 local)', '2026-04-04T15:00:00Z'],
    ['Australia/Lord_Howe', 'half-hour DST change (2026-10-04 02:00 local)', '2026-10-03T15:30:00Z'],
    ['Asia/Kathmandu', 'a +05:45 zone', '2026-06-01T00:00:00Z'],
    ['UTC', 'no offset change', '2026-03-08T07:00:00Z'],
    ['Etc/GMT+5', 'a fixed offset', '2026-03-08T07:00:00Z'],
  ];

  it.each(cases)('%s: %s reads as Intl does, minute by minute', (zone, _what, at) => {
    const clock = new ZoneClock(zone);
    const wrong: string[] = [];
    for (const t of instantsAround(Date.parse(at))) {
      const [minute, day] = intlLocal(zone, t);
      if (clock.minuteOfDay(t) !== minute || clock.dayOfWeek(t) !== day) {
        wrong.push(`${new Date(t).toISOString()}: ${clock.minuteOfDay(t)}/${clock.dayOfWeek(t)}, Intl ${minute}/${day}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('answers the same after its memory of hours fills up and is cleared', () => {
    const clock = new ZoneClock('America/New_York');
    const start = Date.parse('2025-01-01T00:30:00Z');
    const wrong: string[] = [];
    // Over 8,192 distinct hours (a year and more), revisiting the first ones at the end.
    for (let h = 0; h < 9_000; h += 1) clock.minuteOfDay(start + h * HOUR);
    for (let h = 0; h < 9_000; h += 97) {
      const t = start + h * HOUR;
      if (clock.minuteOfDay(t) !== intlLocal('America/New_York', t)[0]) wrong.push(new Date(t).toISOString());
    }
    expect(wrong).toEqual([]);
  });
});
