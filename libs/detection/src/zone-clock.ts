/**
 * Local wall-clock time (minute of day, day of week) of an event instant in an IANA time zone,
 * for after-hours rules. Uses Intl.DateTimeFormat only to learn the zone's UTC offset, once per
 * minute of event time: offsets only change on whole minutes, and events arrive roughly in order,
 * so the hot path is arithmetic on a cached offset.
 */

const MS_PER_MINUTE = 60_000;
const MS_PER_DAY = 86_400_000;

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
  private cachedMinute = Number.NaN;
  private cachedOffsetMs = 0;

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
  }

  /** The instant shifted by the zone's offset: its UTC fields read as local wall-clock fields. */
  localMs(epochMs: number): number {
    const minute = Math.floor(epochMs / MS_PER_MINUTE);
    if (minute !== this.cachedMinute) {
      this.cachedOffsetMs = this.offsetAt(minute * MS_PER_MINUTE);
      this.cachedMinute = minute;
    }
    return epochMs + this.cachedOffsetMs;
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
