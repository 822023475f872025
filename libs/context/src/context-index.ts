/**
 * The in-memory AccessContext: every context version the store holds, loaded at start and updated on
 * every accepted write, answering detection's synchronous lookups as of the access time.
 *
 * Users and patients are versioned by validity time: a lookup at `t` answers the newest version
 * valid at `t` (the earliest version also answers for times before it: it is the best knowledge
 * there is of that record). A user whose version says `terminated` with a `terminatedAt` later than
 * `t` is answered as the version before it (or `active`): a user terminated today was active last
 * week. Encounters carry their own validity (start, end): the newest version of an encounter
 * replaces the older one (the one applied last; with `orderEncountersByReceipt`, set for the
 * Elasticsearch store whose other instances' writes arrive late, the one received last, as its
 * start-up load orders them), and a lookup answers the encounters open at `t`.
 *
 * Compact enough for 50,000 users, 2 million patients and 5 million encounters well within 2 GiB
 * (bench/context.bench.ts, bench/privacy.bench.ts): patients and encounters live in columns (typed
 * arrays and flat arrays of token strings, no object per record), a patient id is held once for
 * its record and its encounters (which form a chain per patient), encounter ids are found through
 * an open-addressing table instead of a Map, and actor ids and departments are interned once.
 * Lookups build the PatientContext / EncounterContext objects detection reads on demand.
 */
import { AccessContext, EncounterContext, PatientContext, RelatedPersonContext, UserContext } from '@app/core';
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

const NO_ENCOUNTERS: readonly EncounterContext[] = Object.freeze([]);

/** Inserts keeping validFromMs order; equal times keep arrival order (the later one wins). */
function insertVersion<T extends { validFromMs: number }>(versions: T[], v: T): void {
  let i = versions.length;
  while (i > 0 && versions[i - 1]!.validFromMs > v.validFromMs) i--;
  versions.splice(i, 0, v);
}

type Column = Float64Array | Int32Array | Uint16Array | Uint8Array;

/** `a` with room for `n` entries (grown by half, so a column wastes at most a third of itself). */
function room<A extends Column>(a: A, n: number, make: (n: number) => A, fill?: number): A {
  if (n <= a.length) return a;
  let cap = a.length;
  while (cap < n) cap = Math.ceil(cap * 1.5) + 1024;
  const b = make(cap);
  b.set(a as never);
  if (fill !== undefined) b.fill(fill as never, a.length);
  return b;
}

/** FNV-1a of a string's UTF-16 code units (the encounter id table's hash). */
function hashOf(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * The same text as one flat string. Ids built by concatenation (generators, templates) are chains
 * of pieces that cost twice a flat string's memory once used as keys; JSON text round-trips every
 * string exactly. Done once per new patient or encounter id.
 */
function flat(s: string): string {
  return s.length < 13 ? s : (JSON.parse(JSON.stringify(s)) as string);
}

/** Patient flags (a version's). */
const VIP = 1;
const DECEASED = 2;

export class ContextIndex implements AccessContext {
  /** Set by ContextService: the matching tokenizer's name tokens (its own key). */
  private nameTokenizer: ((clear: string) => string | undefined) | null = null;
  private readonly users = new Map<string, Versioned<UserContext> | Versioned<UserContext>[]>();
  /** own medical record id -> user ids that named it (any version). */
  private readonly workforceByPatientId = new Map<string, string[]>();

  // Patients, by slot: one slot per patient id named by a patient record or an encounter. The id,
  // the head of its encounter chain (-1 none) and its version: a version slot, -1 (no record yet)
  // or -2 (several versions, in `patientVersions`, by validity).
  private readonly patientSlots = new Map<string, number>();
  private patientIds: string[] = [];
  private patientEncHead = new Int32Array(1024).fill(-1);
  private patientVersion = new Int32Array(1024).fill(-1);
  private readonly patientVersions = new Map<number, number[]>();
  private patientRecords = 0;
  // Patient versions, by version slot: valid from, flags, tokens (family, address), related persons
  // (start and count of token pairs in `related`).
  private pvValidFrom = new Float64Array(1024);
  private pvFlags = new Uint8Array(1024);
  private pvFamily: (string | undefined)[] = [];
  private pvAddress: (string | undefined)[] = [];
  private pvRelatedStart = new Int32Array(1024);
  private pvRelatedCount = new Uint16Array(1024);
  private related: (string | undefined)[] = [];
  private patientVersionCount = 0;

  // Encounters, by slot: start, end (NaN while open), department (-1 none), participants (offset
  // and count into `parts`), replaced by a newer version (dead), next encounter of the same patient.
  // Ids: `encIds` plus an open-addressing table of slots by id hash (no Map entry per encounter).
  private encStart = new Float64Array(1024);
  private encEnd = new Float64Array(1024);
  private encDept = new Int32Array(1024);
  private encParts = new Int32Array(1024);
  private encPartCount = new Uint16Array(1024);
  private encDead = new Uint8Array(1024);
  private encNext = new Int32Array(1024);
  /** With `orderEncountersByReceipt`: when each encounter version was received (else empty). */
  private encReceived = new Float64Array(0);
  private byReceipt = false;
  private encIds: string[] = [];
  private encRecords = 0;
  private encTable = new Int32Array(2048).fill(-1);
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

  /**
   * An encounter version received before the one applied is kept out (an older version read late
   * from another instance must not replace a newer one). Call before applying anything.
   */
  orderEncountersByReceipt(): void {
    this.byReceipt = true;
  }

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
    else this.applyEncounter(v.record as EncounterContext, v.receivedAtMs);
  }

  status(): ContextStatus {
    const kind = (k: ContextKind, records: number): KindStatus => ({
      records,
      versions: this.versionCounts[k],
      newestReceivedAt: Number.isFinite(this.newest[k]) ? new Date(this.newest[k]).toISOString() : null,
    });
    return { users: kind('users', this.users.size), patients: kind('patients', this.patientRecords), encounters: kind('encounters', this.encRecords) };
  }

  /** The newest version of a user or patient (by validity), for merging partial records; encounters: none. */
  latest(kind: ContextKind, id: string): UserContext | PatientContext | undefined {
    if (kind === 'patients') {
      const slot = this.patientSlots.get(id);
      if (slot === undefined) return undefined;
      const v = this.patientVersion[slot]!;
      if (v === -1) return undefined;
      const list = v === -2 ? this.patientVersions.get(slot)! : null;
      return this.patientOf(slot, list === null ? v : list[list.length - 1]!);
    }
    const versions = kind === 'users' ? this.users.get(id) : undefined;
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

  /** The patient as of `atMs` (the newest version valid then; the earliest before any). A fresh object each call. */
  patientAt(patientId: string, atMs: number): PatientContext | undefined {
    const slot = this.patientSlots.get(patientId);
    if (slot === undefined) return undefined;
    const v = this.patientVersion[slot]!;
    if (v === -1) return undefined;
    if (v !== -2) return this.patientOf(slot, v);
    const list = this.patientVersions.get(slot)!;
    let i = list.length - 1;
    while (i > 0 && this.pvValidFrom[list[i]!]! > atMs) i--;
    return this.patientOf(slot, list[i]!);
  }

  /** The patient's encounters open at `atMs` (start <= atMs <= end). The answer is shared: do not change it. */
  encountersAt(patientId: string, atMs: number): readonly EncounterContext[] {
    const memo = this.openMemo.get(patientId);
    if (memo !== undefined && memo.from <= atMs && atMs < memo.until) return memo.open;
    const pslot = this.patientSlots.get(patientId);
    if (pslot === undefined || this.patientEncHead[pslot] === -1) return NO_ENCOUNTERS;
    // The span around atMs in which the answer holds: between the nearest start or end on either side.
    let from = -Infinity;
    let until = Infinity;
    let open: EncounterContext[] | null = null;
    for (let slot = this.patientEncHead[pslot]!; slot !== -1; slot = this.encNext[slot]!) {
      if (this.encDead[slot] === 1) continue;
      const start = this.encStart[slot]!;
      const end = this.encEnd[slot]!;
      if (atMs < start) {
        if (start < until) until = start;
      } else if (Number.isNaN(end) || atMs <= end) {
        if (start > from) from = start;
        if (!Number.isNaN(end) && end < until) until = end; // still open at `end` itself: conservative
        (open ??= []).push(this.encounter(slot, patientId));
      } else if (end + 1 > from) from = end + 1; // closed before atMs: holds after `end` (times are whole ms; a fraction after it is asked again)
    }
    // The chain runs newest first: answer in the order the encounters arrived.
    const answer: readonly EncounterContext[] = open === null ? NO_ENCOUNTERS : open.reverse();
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

  /** The slot of a patient id (made on first mention, by a patient record or an encounter). */
  private patientSlot(id: string): number {
    let slot = this.patientSlots.get(id);
    if (slot === undefined) {
      slot = this.patientIds.length;
      const key = flat(id);
      this.patientIds.push(key);
      this.patientSlots.set(key, slot);
      this.patientEncHead = room(this.patientEncHead, slot + 1, (n) => new Int32Array(n), -1);
      this.patientVersion = room(this.patientVersion, slot + 1, (n) => new Int32Array(n), -1);
    }
    return slot;
  }

  private applyPatient(p: PatientContext, validFromMs: number): void {
    const v = this.patientVersionCount++;
    const n = v + 1;
    this.pvValidFrom = room(this.pvValidFrom, n, (c) => new Float64Array(c));
    this.pvFlags = room(this.pvFlags, n, (c) => new Uint8Array(c));
    this.pvRelatedStart = room(this.pvRelatedStart, n, (c) => new Int32Array(c));
    this.pvRelatedCount = room(this.pvRelatedCount, n, (c) => new Uint16Array(c));
    this.pvValidFrom[v] = validFromMs;
    this.pvFlags[v] = (p.vip ? VIP : 0) | (p.deceased ? DECEASED : 0);
    this.pvFamily.push(p.familyToken);
    this.pvAddress.push(p.addressToken);
    const count = Math.min(p.relatedPersons.length, 65535);
    this.pvRelatedStart[v] = this.related.length / 2;
    this.pvRelatedCount[v] = count;
    for (let i = 0; i < count; i++) this.related.push(p.relatedPersons[i]!.familyToken, p.relatedPersons[i]!.addressToken);

    const slot = this.patientSlot(p.id);
    const current = this.patientVersion[slot]!;
    if (current === -1) {
      this.patientVersion[slot] = v;
      this.patientRecords++;
      return;
    }
    const list = current === -2 ? this.patientVersions.get(slot)! : [current];
    // Keep validity order; equal times keep arrival order (the later one wins).
    let i = list.length;
    while (i > 0 && this.pvValidFrom[list[i - 1]!]! > validFromMs) i--;
    list.splice(i, 0, v);
    this.patientVersions.set(slot, list);
    this.patientVersion[slot] = -2;
  }

  /** A patient version as the PatientContext detection reads. */
  private patientOf(slot: number, v: number): PatientContext {
    const count = this.pvRelatedCount[v]!;
    const relatedPersons: RelatedPersonContext[] = new Array(count);
    for (let i = 0, at = this.pvRelatedStart[v]! * 2; i < count; i++, at += 2) {
      const r: RelatedPersonContext = {};
      const family = this.related[at];
      const address = this.related[at + 1];
      if (family !== undefined) r.familyToken = family;
      if (address !== undefined) r.addressToken = address;
      relatedPersons[i] = r;
    }
    const flags = this.pvFlags[v]!;
    const p: PatientContext = { id: this.patientIds[slot]!, relatedPersons, vip: (flags & VIP) !== 0, deceased: (flags & DECEASED) !== 0 };
    const family = this.pvFamily[v];
    const address = this.pvAddress[v];
    if (family !== undefined) p.familyToken = family;
    if (address !== undefined) p.addressToken = address;
    return p;
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

  /** The slot of an encounter id, or -1. */
  private encounterSlot(id: string): number {
    const mask = this.encTable.length - 1;
    for (let i = hashOf(id) & mask; ; i = (i + 1) & mask) {
      const slot = this.encTable[i]!;
      if (slot === -1 || this.encIds[slot] === id) return slot;
    }
  }

  /** Records an encounter id's (new) slot in the id table, growing it to stay at most half full. */
  private indexEncounterId(id: string, slot: number): void {
    if (this.encRecords * 2 > this.encTable.length) {
      const old = this.encTable;
      this.encTable = new Int32Array(old.length * 2).fill(-1);
      const mask = this.encTable.length - 1;
      for (let s = 0; s < this.encIds.length; s++) {
        if (this.encDead[s] === 1) continue;
        let i = hashOf(this.encIds[s]!) & mask;
        while (this.encTable[i] !== -1) i = (i + 1) & mask;
        this.encTable[i] = s;
      }
    }
    const mask = this.encTable.length - 1;
    let i = hashOf(id) & mask;
    while (this.encTable[i] !== -1 && this.encIds[this.encTable[i]!] !== id) i = (i + 1) & mask;
    this.encTable[i] = slot;
  }

  private applyEncounter(e: EncounterContext, receivedAtMs: number): void {
    const old = this.encounterSlot(e.id);
    if (this.byReceipt && old !== -1 && receivedAtMs < this.encReceived[old]!) return; // a newer version is applied already
    // A replaced encounter may have moved between patients: forget every answer then.
    if (old !== -1) {
      this.encDead[old] = 1; // replaced: lookups skip it
      this.openMemo.clear();
    } else {
      this.openMemo.delete(e.patientId);
      this.encRecords++;
    }
    const slot = this.encIds.length;
    const n = slot + 1;
    const id = old === -1 ? flat(e.id) : this.encIds[old]!;
    this.encStart = room(this.encStart, n, (c) => new Float64Array(c));
    this.encEnd = room(this.encEnd, n, (c) => new Float64Array(c));
    this.encDept = room(this.encDept, n, (c) => new Int32Array(c));
    this.encParts = room(this.encParts, n, (c) => new Int32Array(c));
    this.encPartCount = room(this.encPartCount, n, (c) => new Uint16Array(c));
    this.encDead = room(this.encDead, n, (c) => new Uint8Array(c));
    this.encNext = room(this.encNext, n, (c) => new Int32Array(c));
    if (this.byReceipt) {
      this.encReceived = room(this.encReceived, n, (c) => new Float64Array(c));
      this.encReceived[slot] = receivedAtMs;
    }
    this.encIds.push(id);
    this.indexEncounterId(id, slot);
    this.encStart[slot] = e.startMs;
    this.encEnd[slot] = e.endMs ?? NaN;
    this.encDept[slot] = e.department === undefined ? -1 : this.intern(e.department);
    const count = Math.min(e.participants.length, 65535);
    this.parts = room(this.parts, this.partsUsed + count, (c) => new Int32Array(c));
    this.encParts[slot] = this.partsUsed;
    this.encPartCount[slot] = count;
    for (let i = 0; i < count; i++) this.parts[this.partsUsed++] = this.intern(e.participants[i]!);
    // Newest first in the patient's chain.
    const pslot = this.patientSlot(e.patientId);
    this.encNext[slot] = this.patientEncHead[pslot]!;
    this.patientEncHead[pslot] = slot;
  }

  private encounter(slot: number, patientId: string): EncounterContext {
    const from = this.encParts[slot]!;
    const participants: string[] = new Array(this.encPartCount[slot]!);
    for (let i = 0; i < participants.length; i++) participants[i] = this.strings[this.parts[from + i]!]!;
    const dept = this.encDept[slot]!;
    const end = this.encEnd[slot]!;
    const e: EncounterContext = { id: this.encIds[slot]!, patientId, participants, startMs: this.encStart[slot]! };
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


/** The index's first name (bench/privacy.bench.ts uses it); ContextIndex avoids the clash with detection's example context. */
export { ContextIndex as InMemoryAccessContext };
