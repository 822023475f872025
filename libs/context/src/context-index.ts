/**
 * The in-memory AccessContext: every context version the store holds, loaded at start and updated on
 * every accepted write, answering detection's synchronous lookups as of the access time.
 *
 * Users and patients are versioned by validity time: a lookup at `t` answers the newest version
 * valid at `t` (the earliest version also answers for times before it: it is the best knowledge
 * there is of that record). A user whose version says `terminated` with a `terminatedAt` later than
 * `t` is answered as the version before it (or `active`): a user terminated today was active last
 * week. Encounters carry their own validity (start, end): the newest version of an encounter
 * replaces the older one, and a lookup answers the encounters open at `t`.
 *
 * Compact enough for 50,000 users, 2 million patients and 5 million encounters within 2 GiB
 * (bench/context.bench.ts): encounters live in columns (typed arrays), and actor ids and
 * departments are interned once.
 */
import { AccessContext, EncounterContext, PatientContext, UserContext } from '@app/core';
import { ContextKind, ContextVersion } from './context-records';

type Versioned<T> = T & { validFromMs: number };

export interface KindStatus {
  /** Distinct records (ids) known. */
  records: number;
  /** Versions received (each accepted upsert is one). */
  versions: number;
  /** When the newest version of this kind was received (RFC 3339), null when none. */
  newestReceivedAt: string | null;
}

export type ContextStatus = Record<ContextKind, KindStatus>;

const NO_RELATED: PatientContext['relatedPersons'] = Object.freeze([]) as unknown as PatientContext['relatedPersons'];
const NO_ENCOUNTERS: readonly EncounterContext[] = Object.freeze([]);

/** Inserts keeping validFromMs order; equal times keep arrival order (the later one wins). */
function insertVersion<T extends { validFromMs: number }>(versions: T[], v: T): void {
  let i = versions.length;
  while (i > 0 && versions[i - 1]!.validFromMs > v.validFromMs) i--;
  versions.splice(i, 0, v);
}

function versionAt<T extends { validFromMs: number }>(versions: T | T[], atMs: number): T {
  if (!Array.isArray(versions)) return versions;
  for (let i = versions.length - 1; i > 0; i--) if (versions[i]!.validFromMs <= atMs) return versions[i]!;
  return versions[0]!;
}

class Growable {
  f64a = new Float64Array(1024);
  f64b = new Float64Array(1024);
  i32a = new Int32Array(1024);
  i32b = new Int32Array(1024);
  u16 = new Uint16Array(1024);
  u8 = new Uint8Array(1024);

  ensure(n: number): void {
    if (n <= this.f64a.length) return;
    let cap = this.f64a.length;
    while (cap < n) cap *= 2;
    const grow = <A extends Float64Array | Int32Array | Uint16Array | Uint8Array>(a: A, make: (n: number) => A): A => {
      const b = make(cap);
      b.set(a as never);
      return b;
    };
    this.f64a = grow(this.f64a, (c) => new Float64Array(c));
    this.f64b = grow(this.f64b, (c) => new Float64Array(c));
    this.i32a = grow(this.i32a, (c) => new Int32Array(c));
    this.i32b = grow(this.i32b, (c) => new Int32Array(c));
    this.u16 = grow(this.u16, (c) => new Uint16Array(c));
    this.u8 = grow(this.u8, (c) => new Uint8Array(c));
  }
}

export class ContextIndex implements AccessContext {
  /** Set by ContextService: the matching tokenizer's name tokens (its own key). */
  private nameTokenizer: ((clear: string) => string | undefined) | null = null;
  private readonly users = new Map<string, Versioned<UserContext> | Versioned<UserContext>[]>();
  private readonly patients = new Map<string, Versioned<PatientContext> | Versioned<PatientContext>[]>();
  /** patient id -> encounter slot(s). */
  private readonly patientEncounters = new Map<string, number | number[]>();
  /** own medical record id -> user ids that named it (any version). */
  private readonly workforceByPatientId = new Map<string, string[]>();

  // Encounter columns: slot -> start (f64a), end (f64b, NaN while open), department (i32a, -1 none),
  // participants offset (i32b) and count (u16) into `parts`, dead flag (u8, replaced by a newer version).
  private readonly enc = new Growable();
  private encIds: string[] = [];
  private readonly encSlotById = new Map<string, number>();
  private parts = new Int32Array(4096);
  private partsUsed = 0;
  /**
   * Detection asks for the same patients' open encounters again and again (every chart section a
   * clinician opens is an event): per patient, the last answer and the span of time it holds for
   * (no encounter of the patient starts or ends inside it), bounded, dropped on any change.
   */
  private readonly openMemo = new Map<string, OpenEncounters>();
  private readonly strings: string[] = [];
  private readonly stringIds = new Map<string, number>();

  private readonly versionCounts: Record<ContextKind, number> = { users: 0, patients: 0, encounters: 0 };
  private readonly newest: Record<ContextKind, number> = { users: -Infinity, patients: -Infinity, encounters: -Infinity };

  /** How names searched for become matching tokens (the tokenizer the context's names went through). */
  useNameTokenizer(tokenize: (clear: string) => string | undefined): void {
    this.nameTokenizer = tokenize;
  }

  nameToken(clear: string): string | undefined {
    return this.nameTokenizer?.(clear);
  }

  /** Applies versions in the order they were received (the store's order). */
  apply(versions: readonly ContextVersion[]): void {
    for (const v of versions) this.applyOne(v);
  }

  applyOne(v: ContextVersion): void {
    this.versionCounts[v.kind]++;
    if (v.receivedAtMs > this.newest[v.kind]) this.newest[v.kind] = v.receivedAtMs;
    if (v.kind === 'users') this.applyUser({ ...(v.record as UserContext), validFromMs: v.validFromMs });
    else if (v.kind === 'patients') this.applyPatient(v.record as PatientContext, v.validFromMs);
    else this.applyEncounter(v.record as EncounterContext);
  }

  status(): ContextStatus {
    const kind = (k: ContextKind, records: number): KindStatus => ({
      records,
      versions: this.versionCounts[k],
      newestReceivedAt: Number.isFinite(this.newest[k]) ? new Date(this.newest[k]).toISOString() : null,
    });
    return { users: kind('users', this.users.size), patients: kind('patients', this.patients.size), encounters: kind('encounters', this.encSlotById.size) };
  }

  /** The newest version of a user or patient (by validity), for merging partial records; encounters: none. */
  latest(kind: ContextKind, id: string): UserContext | PatientContext | undefined {
    const versions = kind === 'users' ? this.users.get(id) : kind === 'patients' ? this.patients.get(id) : undefined;
    if (versions === undefined) return undefined;
    const v = Array.isArray(versions) ? versions[versions.length - 1]! : versions;
    const { validFromMs: _validFrom, ...record } = v;
    return record;
  }

  userAt(actorId: string, atMs: number): UserContext | undefined {
    const versions = this.users.get(actorId);
    if (versions === undefined) return undefined;
    const list = Array.isArray(versions) ? versions : [versions];
    let i = list.length - 1;
    while (i > 0 && list[i]!.validFromMs > atMs) i--;
    // A termination dated after `atMs`: the user was what the version before said (else active).
    for (; i >= 0; i--) {
      const v = list[i]!;
      if (v.status !== 'terminated' || v.terminatedAt === undefined || Date.parse(v.terminatedAt) <= atMs) return v;
      if (i === 0) return { ...v, status: 'active' };
    }
    return undefined;
  }

  patientAt(patientId: string, atMs: number): PatientContext | undefined {
    const versions = this.patients.get(patientId);
    return versions === undefined ? undefined : versionAt(versions, atMs);
  }

  /** The patient's encounters open at `atMs` (start <= atMs <= end). The answer is shared: do not change it. */
  encountersAt(patientId: string, atMs: number): readonly EncounterContext[] {
    const memo = this.openMemo.get(patientId);
    if (memo !== undefined && memo.from <= atMs && atMs < memo.until) return memo.open;
    const slots = this.patientEncounters.get(patientId);
    if (slots === undefined) return NO_ENCOUNTERS;
    // The span around atMs in which the answer holds: between the nearest start or end on either side.
    let from = -Infinity;
    let until = Infinity;
    let open: EncounterContext[] | null = null;
    const visit = (slot: number) => {
      if (this.enc.u8[slot] === 1) return;
      const start = this.enc.f64a[slot]!;
      const end = this.enc.f64b[slot]!;
      if (atMs < start) {
        if (start < until) until = start;
      } else if (Number.isNaN(end) || atMs <= end) {
        if (start > from) from = start;
        if (!Number.isNaN(end) && end < until) until = end; // still open at `end` itself: conservative
        (open ??= []).push(this.encounter(slot, patientId));
      } else if (end + 1 > from) from = end + 1; // closed before atMs: holds after `end` (times are whole ms; a fraction after it is asked again)
    };
    if (Array.isArray(slots)) for (const s of slots) visit(s);
    else visit(slots);
    const answer: readonly EncounterContext[] = open ?? NO_ENCOUNTERS;
    if (until > from) {
      if (this.openMemo.size >= OPEN_MEMO_LIMIT) this.openMemo.clear();
      this.openMemo.set(patientId, { from, until, open: answer });
    }
    return answer;
  }

  workforceMemberWithPatientId(patientId: string, atMs: number): UserContext | undefined {
    const ids = this.workforceByPatientId.get(patientId);
    if (!ids) return undefined;
    for (const id of ids) {
      const u = this.userAt(id, atMs);
      if (u?.patientId === patientId) return u;
    }
    return undefined;
  }

  private applyUser(u: Versioned<UserContext>): void {
    const existing = this.users.get(u.id);
    if (existing === undefined) this.users.set(u.id, u);
    else if (Array.isArray(existing)) insertVersion(existing, u);
    else {
      const list = [existing];
      insertVersion(list, u);
      this.users.set(u.id, list);
    }
    if (u.patientId !== undefined) {
      const ids = this.workforceByPatientId.get(u.patientId);
      if (!ids) this.workforceByPatientId.set(u.patientId, [u.id]);
      else if (!ids.includes(u.id)) ids.push(u.id);
    }
  }

  private applyPatient(p: PatientContext, validFromMs: number): void {
    const v: Versioned<PatientContext> = {
      id: p.id,
      familyToken: p.familyToken,
      addressToken: p.addressToken,
      relatedPersons: p.relatedPersons.length === 0 ? NO_RELATED : p.relatedPersons,
      vip: p.vip,
      deceased: p.deceased,
      validFromMs,
    };
    const existing = this.patients.get(p.id);
    if (existing === undefined) this.patients.set(p.id, v);
    else if (Array.isArray(existing)) insertVersion(existing, v);
    else {
      const list = [existing];
      insertVersion(list, v);
      this.patients.set(p.id, list);
    }
  }

  private intern(s: string): number {
    let id = this.stringIds.get(s);
    if (id === undefined) {
      id = this.strings.length;
      this.strings.push(s);
      this.stringIds.set(s, id);
    }
    return id;
  }

  private applyEncounter(e: EncounterContext): void {
    const old = this.encSlotById.get(e.id);
    // A replaced encounter may have moved between patients: forget every answer then.
    if (old !== undefined) this.openMemo.clear();
    else this.openMemo.delete(e.patientId);
    if (old !== undefined) this.enc.u8[old] = 1; // replaced: lookups skip it
    const slot = this.encIds.length;
    this.enc.ensure(slot + 1);
    this.encIds.push(e.id);
    this.encSlotById.set(e.id, slot);
    this.enc.f64a[slot] = e.startMs;
    this.enc.f64b[slot] = e.endMs ?? NaN;
    this.enc.i32a[slot] = e.department === undefined ? -1 : this.intern(e.department);
    const n = Math.min(e.participants.length, 65535);
    if (this.partsUsed + n > this.parts.length) {
      let cap = this.parts.length;
      while (cap < this.partsUsed + n) cap *= 2;
      const bigger = new Int32Array(cap);
      bigger.set(this.parts);
      this.parts = bigger;
    }
    this.enc.i32b[slot] = this.partsUsed;
    this.enc.u16[slot] = n;
    for (let i = 0; i < n; i++) this.parts[this.partsUsed++] = this.intern(e.participants[i]!);
    const slots = this.patientEncounters.get(e.patientId);
    if (slots === undefined) this.patientEncounters.set(e.patientId, slot);
    else if (Array.isArray(slots)) {
      if (old !== undefined) removeFrom(slots, old);
      slots.push(slot);
    } else if (slots === old) this.patientEncounters.set(e.patientId, slot);
    else this.patientEncounters.set(e.patientId, [slots, slot]);
  }

  private openAt(slot: number, atMs: number): boolean {
    if (this.enc.u8[slot] === 1) return false;
    const end = this.enc.f64b[slot]!;
    return this.enc.f64a[slot]! <= atMs && (Number.isNaN(end) || atMs <= end);
  }

  private encounter(slot: number, patientId: string): EncounterContext {
    const from = this.enc.i32b[slot]!;
    const participants: string[] = new Array(this.enc.u16[slot]!);
    for (let i = 0; i < participants.length; i++) participants[i] = this.strings[this.parts[from + i]!]!;
    const dept = this.enc.i32a[slot]!;
    const end = this.enc.f64b[slot]!;
    const e: EncounterContext = { id: this.encIds[slot]!, patientId, participants, startMs: this.enc.f64a[slot]! };
    if (dept >= 0) e.department = this.strings[dept];
    if (!Number.isNaN(end)) e.endMs = end;
    return e;
  }
}

/** Patients whose last open-encounter answer is remembered (a hospital's patients in care, and more). */
const OPEN_MEMO_LIMIT = 100_000;

interface OpenEncounters {
  /** The answer holds for from <= t < until. */
  from: number;
  until: number;
  open: readonly EncounterContext[];
}

function removeFrom(list: number[], value: number): void {
  const i = list.indexOf(value);
  if (i >= 0) list.splice(i, 1);
}

/** The index's first name (bench/privacy.bench.ts uses it); ContextIndex avoids the clash with detection's example context. */
export { ContextIndex as InMemoryAccessContext };
