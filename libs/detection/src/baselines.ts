/**
 * Baselines learned from history, for rules that judge an access against what is usual: each
 * user's usual hours of work and usual daily volume of distinct patients, and the same for their
 * peer group (role and department). The engine teaches the book every successful patient access
 * by a user (after the rules judged it, so an access never counts towards its own baseline), in
 * the engine's time zone; rules read it through `baseline:` conditions (condition-compiler.ts).
 *
 * A day stays open (its hours and patients still collecting, late events included) while it is one
 * of the two newest days seen for the key; older days are folded into the history. Only folded
 * days count as history, and never the day being judged. State is small per key (24 counters, a
 * bounded list of daily counts, the open days' patient sets) and goes into the engine snapshot.
 */
import { ZoneClock } from './zone-clock';

const MS_PER_DAY = 86_400_000;
/** Daily distinct-patient counts kept per key (the usual volume is a high percentile of them). */
const DAILY_HISTORY = 60;
/** Member-day counts kept per peer group. */
const PEER_DAILY_HISTORY = 400;
/** Days kept open for late events (today and yesterday). */
const OPEN_DAYS = 2;

interface OpenDay {
  day: number;
  hours: number; // bit mask of local hours with activity
  patients: Set<string>;
  peer: string;
}

interface Pattern {
  /** Days folded into the history. */
  days: number;
  /** Per local hour: folded days with activity in that hour. */
  hourDays: number[];
  /** Recent folded days' distinct patient counts (newest last). */
  daily: number[];
}

interface UserBaseline extends Pattern {
  open: OpenDay[];
  /** Bumped whenever the history before the newest open day changes (cached views go stale). */
  version: number;
  cached: { day: number; version: number; view: BaselineView } | null;
}

/** What a `baseline:` condition asks about one group (the user, or the peer group). */
export interface BaselineView {
  /** Days of history learned. */
  days: number;
  /** Share of learned days with activity in the local hour `hour` or the hours beside it. */
  hourShare(hour: number): number;
  /** The usual daily number of distinct patients (90th percentile of the learned days), 0 without history. */
  usualDailyPatients(): number;
}

const EMPTY_VIEW: BaselineView = { days: 0, hourShare: () => 0, usualDailyPatients: () => 0 };

function newPattern(): Pattern {
  return { days: 0, hourDays: new Array<number>(24).fill(0), daily: [] };
}

function percentile90(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.9))];
}

function viewOf(p: Pattern | undefined): BaselineView {
  if (!p || p.days === 0) return EMPTY_VIEW;
  let usual = -1;
  return {
    days: p.days,
    hourShare: (hour) => {
      const h = p.hourDays;
      const active = Math.max(h[(hour + 23) % 24], h[hour], h[(hour + 1) % 24]);
      return active / p.days;
    },
    usualDailyPatients: () => (usual >= 0 ? usual : (usual = percentile90(p.daily))),
  };
}

function fold(target: Pattern, hours: number, patients: number, cap: number): void {
  target.days++;
  for (let h = 0; h < 24; h++) if (hours & (1 << h)) target.hourDays[h]++;
  target.daily.push(patients);
  if (target.daily.length > cap) target.daily.splice(0, target.daily.length - cap);
}

export interface BaselineSnapshot {
  users: [id: string, days: number, hourDays: number[], daily: number[], open: [day: number, hours: number, patients: string[], peer: string][]][];
  peers: [key: string, days: number, hourDays: number[], daily: number[]][];
}

export class BaselineBook {
  private users = new Map<string, UserBaseline>();
  private peerGroups = new Map<string, Pattern>();
  /** Views of the peer groups, dropped when a member's day is folded in. */
  private peerViews = new Map<string, BaselineView>();
  private readonly clock: ZoneClock;

  constructor(timeZone: string) {
    this.clock = new ZoneClock(timeZone);
  }

  /** The peer group key of a user: role and department (either may be unknown). */
  static peerKey(role: string | undefined, department: string | undefined): string {
    return `${role ?? '-'}|${department ?? '-'}`;
  }

  localDay(ts: number): number {
    return Math.floor(this.clock.localMs(ts) / MS_PER_DAY);
  }

  localHour(ts: number): number {
    return Math.floor(this.clock.minuteOfDay(ts) / 60);
  }

  /** Learns one successful patient access by `userId` at `ts`. */
  learn(userId: string, peer: string, patientId: string, ts: number): void {
    this.learnAt(userId, peer, patientId, this.localDay(ts), this.localHour(ts));
  }

  /** `learn` with the access's local day and hour already known (the engine reads them once per event). */
  learnAt(userId: string, peer: string, patientId: string, day: number, hour: number): void {
    let user = this.users.get(userId);
    if (!user) {
      user = { ...newPattern(), open: [], version: 0, cached: null };
      this.users.set(userId, user);
    }
    let open: OpenDay | undefined;
    for (let i = 0; i < user.open.length; i++) if (user.open[i].day === day) open = user.open[i];
    if (!open) {
      const newest = user.open.reduce((m, d) => Math.max(m, d.day), -Infinity);
      user.version++;
      if (day < newest - (OPEN_DAYS - 1)) {
        // Older than the open days: counts towards the history directly (its hour, one patient more).
        if (user.hourDays[hour] < user.days) user.hourDays[hour]++;
        return;
      }
      open = { day, hours: 0, patients: new Set(), peer };
      user.open.push(open);
      user.open.sort((a, b) => a.day - b.day);
      while (user.open.length > OPEN_DAYS) this.closeDay(user, user.open.shift()!);
    } else if (open !== user.open[user.open.length - 1] || (user.cached !== null && user.cached.day > day)) {
      user.version++; // the day is already history for a later day's (cached) view
    }
    open.hours |= 1 << hour;
    open.patients.add(patientId);
    open.peer = peer;
  }

  /** Distinct patients `userId` touched on the local day of `ts`, counting `patientId` too. */
  patientsOnDay(userId: string, ts: number, patientId: string | undefined): number {
    return this.patientsOn(userId, this.localDay(ts), patientId);
  }

  /** Distinct patients `userId` touched on local day `day`, counting `patientId` too. */
  patientsOn(userId: string, day: number, patientId: string | undefined): number {
    const user = this.users.get(userId);
    let open: OpenDay | undefined;
    if (user) for (let i = 0; i < user.open.length; i++) if (user.open[i].day === day) open = user.open[i];
    if (!open) return patientId === undefined ? 0 : 1;
    return open.patients.size + (patientId !== undefined && !open.patients.has(patientId) ? 1 : 0);
  }

  /** The user's own learned pattern (history before the day of `ts`). */
  user(userId: string, ts: number): BaselineView {
    return this.userOn(userId, this.localDay(ts));
  }

  /** The user's own learned pattern (history before local day `day`). */
  userOn(userId: string, day: number): BaselineView {
    const user = this.users.get(userId);
    if (!user) return EMPTY_VIEW;
    const cached = user.cached;
    if (cached !== null && cached.day === day && cached.version === user.version) return cached.view;
    const earlierOpen = user.open.filter((d) => d.day < day);
    let view: BaselineView;
    if (earlierOpen.length === 0) view = viewOf({ days: user.days, hourDays: [...user.hourDays], daily: [...user.daily] });
    else {
      // Yesterday is still open (late events): count it as history for today.
      const p: Pattern = { days: user.days, hourDays: [...user.hourDays], daily: [...user.daily] };
      for (const d of earlierOpen) fold(p, d.hours, d.patients.size, DAILY_HISTORY);
      view = viewOf(p);
    }
    user.cached = { day, version: user.version, view };
    return view;
  }

  /** The peer group's learned pattern (every member's folded days). */
  peers(peer: string): BaselineView {
    let view = this.peerViews.get(peer);
    if (view === undefined) {
      const p = this.peerGroups.get(peer);
      view = viewOf(p ? { days: p.days, hourDays: [...p.hourDays], daily: [...p.daily] } : undefined);
      this.peerViews.set(peer, view);
    }
    return view;
  }

  get size(): number {
    return this.users.size;
  }

  /**
   * Fresh arrays throughout: the snapshot is serialized in turns while the engine learns on, and
   * must keep what the baselines were at its position.
   */
  snapshot(): BaselineSnapshot {
    const steps = this.snapshotSteps();
    for (;;) {
      const next = steps.next();
      if (next.done) return next.value;
    }
  }

  /** snapshot() in steps of a few hundred users (DetectionEngine.snapshotInTurns); no learning until it returns. */
  *snapshotSteps(): Generator<void, BaselineSnapshot, void> {
    const users: BaselineSnapshot['users'] = [];
    for (const [id, u] of this.users) {
      users.push([id, u.days, [...u.hourDays], [...u.daily], u.open.map((d) => [d.day, d.hours, [...d.patients], d.peer])]);
      if (users.length % 256 === 0) yield;
    }
    const peers: BaselineSnapshot['peers'] = [...this.peerGroups].map(([key, p]) => [key, p.days, [...p.hourDays], [...p.daily]]);
    return { users, peers };
  }

  restore(state: unknown): void {
    const s = state as BaselineSnapshot | undefined;
    this.users = new Map();
    this.peerGroups = new Map();
    this.peerViews = new Map();
    if (!s || !Array.isArray(s.users) || !Array.isArray(s.peers)) return;
    for (const [id, days, hourDays, daily, open] of s.users) {
      this.users.set(id, {
        days,
        hourDays: [...hourDays],
        daily: [...daily],
        open: open.map(([day, hours, patients, peer]) => ({ day, hours, patients: new Set(patients), peer })),
        version: 0,
        cached: null,
      });
    }
    for (const [key, days, hourDays, daily] of s.peers) this.peerGroups.set(key, { days, hourDays: [...hourDays], daily: [...daily] });
  }

  private closeDay(user: UserBaseline, day: OpenDay): void {
    fold(user, day.hours, day.patients.size, DAILY_HISTORY);
    this.peerViews.delete(day.peer);
    let peer = this.peerGroups.get(day.peer);
    if (!peer) {
      peer = newPattern();
      this.peerGroups.set(day.peer, peer);
    }
    fold(peer, day.hours, day.patients.size, PEER_DAILY_HISTORY);
  }
}
