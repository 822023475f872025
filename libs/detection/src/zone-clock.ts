/**
 * Local wall-clock time (minute of day, day of week) of an event instant in an IANA time zone,
 * for after-hours rules and baselines. Uses Intl.DateTimeFormat only to learn the zone's UTC offset,
 * and remembers it per hour of event time: a zone's offset changes on whole minutes and at most once
 * in an hour, so an hour whose first and last minutes share an offset has it throughout (an hour
 * with a transition is answered minute by minute). Events of several integrations arrive
 * interleaved (one an hour behind, a nightly batch of yesterday), so the hours seen recently are
 * kept, not only the last one; a zone without offset changes (UTC) is pure arithmetic.
 */

const MS_PER_MINUTE = 60_000;
const MS_PER_HOUR = 3_600_000;
const MS_PER_DAY = 86_400_000;
/** Hours of event time whose offsets are remembered (about a year; cleared when full). */
const HOURS_KEPT = 8_192;

export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/** Whether the runtime knows this IANA zone name. */
export function isValidTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

function floorMod(value: number, modulus: number): number {
  return ((value % modulus) + modulus) % modulus;
}

export class ZoneClock {
  private readonly format: Intl.DateTimeFormat;
  /** A zone that never changes offset (UTC, Etc/GMT+5): its offset in ms; NaN otherwise. */
  private readonly fixedOffsetMs: number;
  /** Hour of event time -> the offset throughout it (NaN: the offset changes inside it). */
  private readonly hourOffsets = new Map<number, number>();
  private lastHour = Number.NaN;
  private lastHourOffsetMs = 0;

  constructor(readonly zone: string) {
    this.format = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    const resolved = this.format.resolvedOptions().timeZone;
    this.fixedOffsetMs = resolved === 'UTC' || resolved === 'Etc/UTC' || resolved === 'Etc/GMT' || /^Etc\/GMT[+-]\d{1,2}$/.test(resolved) ? this.offsetAt(0) : Number.NaN;
  }

  /** The instant shifted by the zone's offset: its UTC fields read as local wall-clock fields. */
  localMs(epochMs: number): number {
    if (this.fixedOffsetMs === this.fixedOffsetMs) return epochMs + this.fixedOffsetMs; // not NaN
    const hour = Math.floor(epochMs / MS_PER_HOUR);
    if (hour === this.lastHour) return epochMs + this.lastHourOffsetMs;
    let offset = this.hourOffsets.get(hour);
    if (offset === undefined) {
      const first = this.offsetAt(hour * MS_PER_HOUR);
      const last = this.offsetAt(hour * MS_PER_HOUR + MS_PER_HOUR - MS_PER_MINUTE);
      offset = first === last ? first : Number.NaN;
      if (this.hourOffsets.size >= HOURS_KEPT) this.hourOffsets.clear();
      this.hourOffsets.set(hour, offset);
    }
    // An hour with a transition in it: this minute's own offset.
    if (offset !== offset) return epochMs + this.offsetAt(Math.floor(epochMs / MS_PER_MINUTE) * MS_PER_MINUTE);
    this.lastHour = hour;
    this.lastHourOffsetMs = offset;
    return epochMs + offset;
  }

  /** 0..1439, local. */
  minuteOfDay(epochMs: number): number {
    return Math.floor(floorMod(this.localMs(epochMs), MS_PER_DAY) / MS_PER_MINUTE);
  }

  /** 0 = Sunday .. 6 = Saturday, local. */
  dayOfWeek(epochMs: number): number {
    // 1970-01-01 was a Thursday.
    return floorMod(Math.floor(this.localMs(epochMs) / MS_PER_DAY) + 4, 7);
  }

  private offsetAt(epochMs: number): number {
    const fields: Record<string, number> = {};
    for (const part of this.format.formatToParts(new Date(epochMs))) {
      if (part.type !== 'literal') fields[part.type] = Number(part.value);
    }
    const asUtc = Date.UTC(fields.year, fields.month - 1, fields.day, fields.hour % 24, fields.minute, fields.second);
    return asUtc - Math.floor(epochMs / 1000) * 1000;
  }
}
