/**
 * The hospital simulator (`auditctl seed --hospital`, the privacy proof, `bench:privacy`): a pure,
 * seeded model of a hospital's workforce, patients and care relationships, and a week of 24/7
 * access traffic consistent with them, plus one planted instance of each privacy scenario.
 *
 * - Staff in departments with roles, shifts (day 07-15, evening 15-23, night 23-07), full-time
 *   (five days of seven) or per-diem (two), some on leave, some terminated; some are also patients.
 * - Patients with surnames, addresses and related persons; a few VIPs. Their records, and those of
 *   workforce members, are restricted: only their care team (encounter participants) opens them.
 * - Encounters (care relationships) per department: inpatient stays, ED visits, imaging and clinic
 *   visits, open and closed, each with a care team (physician, nurses, pharmacist, registrar, ...).
 * - Traffic: each staff member on shift reads and documents a stable number of patients whose
 *   encounters are open at that moment and explain the access (care team, an open encounter of their
 *   own department, or an ED consult under purpose ETREAT); services read in bulk (nightly billing)
 *   and by query (HIE). The benign part is therefore always explained, at the user's usual hours
 *   and usual volume: it must raise no alert.
 * - Integrations: the main EHR sends live; oncology's legacy EHR sends yesterday's log in one nightly
 *   batch at 02:00; radiology's PACS clock runs an hour behind (its events arrive stamped an hour old).
 *
 * Everything is deterministic for a seed. Context (users, patients, encounters) is held in memory,
 * sized by the hospital, not by the traffic; events are streamed hour by hour (`hospitalTraffic`),
 * each hour's randomness derived from (seed, staff, hour), so nothing holds a week of events.
 * Names are synthetic, from fixed pools.
 */
import { AccessEvent, UserStatus } from '@app/core';
import { CITIES, GIVEN_NAMES, STREETS, STREET_KINDS, SURNAMES } from './hospital-names';
import { prng } from './synthetic-traffic';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

// ---------------------------------------------------------------------------------------------
// Context records: the CONTRACT "Context feeds" shapes, in clear (the service tokenizes them).
// ---------------------------------------------------------------------------------------------

export type UserRecord = {
  id: string;
  family?: string;
  given?: string;
  department?: string;
  title?: string;
  status: UserStatus;
  terminatedAt?: string;
  homeAddress?: string;
  patientId?: string;
};

export type PatientRecord = {
  id: string;
  family?: string;
  address?: string;
  relatedPersons?: { family?: string; address?: string }[];
  vip?: boolean;
  deceased?: boolean;
};

export type EncounterRecord = {
  id: string;
  patient: { id: string };
  department?: string;
  participants?: string[];
  start: string;
  end?: string;
};

// ---------------------------------------------------------------------------------------------
// The model.
// ---------------------------------------------------------------------------------------------

export type ShiftName = 'day' | 'evening' | 'night';
const SHIFT_START_HOUR: Record<ShiftName, number> = { day: 7, evening: 15, night: 23 };
const SHIFT_LENGTH = 8 * HOUR;

/** How an integration delivers its audit log. */
export type Delivery = 'live' | 'nightly-batch' | 'clock-behind';

export interface Integration {
  system: string;
  integration: string;
  delivery: Delivery;
}

export const HOSPITAL_INTEGRATIONS = {
  ehr: { system: 'ehr', integration: 'ehr-main', delivery: 'live' },
  oncology: { system: 'onc-legacy-ehr', integration: 'onc-legacy', delivery: 'nightly-batch' },
  pacs: { system: 'pacs', integration: 'pacs', delivery: 'clock-behind' },
  billing: { system: 'billing', integration: 'billing', delivery: 'live' },
  hie: { system: 'hie-gateway', integration: 'hie', delivery: 'live' },
  encoder: { system: 'him-encoder', integration: 'encoder', delivery: 'nightly-batch' },
} as const satisfies Record<string, Integration>;

/** When the nightly batch arrives (after the day it covers), and how far behind the PACS clock runs. */
export const NIGHTLY_BATCH_AT = 2 * HOUR;
export const CLOCK_BEHIND = HOUR;

type DeptKind = 'ed' | 'inpatient' | 'imaging' | 'clinic' | 'pharmacy' | 'registration' | 'him';

interface DepartmentSpec {
  id: string;
  kind: DeptKind;
  weight: number;
  integration: Integration;
  /** Roles and their weights. */
  roles: [string, number][];
  /** Share of day / evening / night shifts. */
  shifts: [number, number, number];
  sensitivity?: string;
}

const CLINICAL_24_7: [number, number, number] = [0.5, 0.25, 0.25];
const DEPARTMENTS: DepartmentSpec[] = [
  { id: 'emergency', kind: 'ed', weight: 12, integration: HOSPITAL_INTEGRATIONS.ehr, roles: [['emergency_physician', 1], ['emergency_nurse', 3]], shifts: [0.4, 0.3, 0.3] },
  { id: 'internal-medicine', kind: 'inpatient', weight: 14, integration: HOSPITAL_INTEGRATIONS.ehr, roles: [['physician', 1], ['nurse', 3], ['therapist', 0.3]], shifts: CLINICAL_24_7 },
  { id: 'cardiology', kind: 'inpatient', weight: 9, integration: HOSPITAL_INTEGRATIONS.ehr, roles: [['physician', 1], ['nurse', 3]], shifts: CLINICAL_24_7 },
  { id: 'surgery', kind: 'inpatient', weight: 10, integration: HOSPITAL_INTEGRATIONS.ehr, roles: [['physician', 1], ['nurse', 3]], shifts: CLINICAL_24_7 },
  { id: 'icu', kind: 'inpatient', weight: 8, integration: HOSPITAL_INTEGRATIONS.ehr, roles: [['physician', 1], ['icu_nurse', 4]], shifts: CLINICAL_24_7 },
  { id: 'pediatrics', kind: 'inpatient', weight: 6, integration: HOSPITAL_INTEGRATIONS.ehr, roles: [['physician', 1], ['nurse', 3]], shifts: CLINICAL_24_7 },
  { id: 'obstetrics', kind: 'inpatient', weight: 5, integration: HOSPITAL_INTEGRATIONS.ehr, roles: [['physician', 1], ['nurse', 3]], shifts: CLINICAL_24_7 },
  { id: 'psychiatry', kind: 'inpatient', weight: 4, integration: HOSPITAL_INTEGRATIONS.ehr, roles: [['physician', 1], ['nurse', 3], ['therapist', 1]], shifts: CLINICAL_24_7, sensitivity: 'behavioral_health' },
  { id: 'oncology', kind: 'inpatient', weight: 7, integration: HOSPITAL_INTEGRATIONS.oncology, roles: [['physician', 1], ['nurse', 3]], shifts: CLINICAL_24_7 },
  { id: 'radiology', kind: 'imaging', weight: 6, integration: HOSPITAL_INTEGRATIONS.pacs, roles: [['radiologist', 1], ['radiology_technician', 2]], shifts: [0.6, 0.4, 0] },
  { id: 'outpatient-clinics', kind: 'clinic', weight: 8, integration: HOSPITAL_INTEGRATIONS.ehr, roles: [['physician', 1], ['nurse', 2]], shifts: [1, 0, 0] },
  { id: 'pharmacy', kind: 'pharmacy', weight: 5, integration: HOSPITAL_INTEGRATIONS.ehr, roles: [['pharmacist', 1]], shifts: [0.5, 0.3, 0.2] },
  { id: 'patient-access', kind: 'registration', weight: 6, integration: HOSPITAL_INTEGRATIONS.ehr, roles: [['registrar', 1]], shifts: [0.5, 0.3, 0.2] },
  { id: 'health-information-management', kind: 'him', weight: 3, integration: HOSPITAL_INTEGRATIONS.encoder, roles: [['coder', 3], ['him_analyst', 1]], shifts: [1, 0, 0] },
];

/** Distinct patients a role works with in one shift (before each person's own factor). */
const PATIENTS_PER_SHIFT: Record<string, number> = {
  physician: 12, emergency_physician: 14, radiologist: 16, nurse: 6, emergency_nurse: 8, icu_nurse: 3,
  therapist: 8, radiology_technician: 10, pharmacist: 20, registrar: 16, coder: 24, him_analyst: 16,
};
/** Share of a shift's events per role (relative to eventsPerShift). */
const ACTIVITY: Record<string, number> = { registrar: 0.5, radiology_technician: 0.7, therapist: 0.6, coder: 0.6, him_analyst: 0.5 };

export interface Staff {
  id: string;
  index: number;
  family: string;
  given: string;
  department: DepartmentSpec;
  title: string;
  shift: ShiftName;
  schedule: 'full-time' | 'per-diem';
  status: UserStatus;
  /** Epoch ms; the user is active before it. */
  terminatedAt?: number;
  homeAddress: string;
  patientId?: string;
  ip: string;
  /** Day indexes (-1 .. days-1) on whose date the person starts a shift. */
  workDays: Set<number>;
  /** Distinct patients per shift, and events per shift, for this person (stable: their baseline). */
  patientsPerShift: number;
  eventsPerShift: number;
}

export interface Patient {
  id: string;
  family: string;
  address: string;
  relatedPersons: { family: string; address: string }[];
  vip: boolean;
  deceased: boolean;
  /** VIP or workforce member: only the care team opens the record. */
  restricted: boolean;
  /** Planted for a scenario: never touched by benign traffic. */
  planted: boolean;
}

export interface Encounter {
  id: string;
  patientId: string;
  department: string;
  participants: string[];
  start: number;
  /** Infinity while open at the end of the simulation. */
  end: number;
  restricted: boolean;
}

export const PRIVACY_SCENARIOS = [
  'self-access', 'same-surname', 'same-address', 'related-person', 'coworker-record', 'vip-record',
  'terminated-user', 'department-mismatch', 'outside-usual-hours', 'unusual-volume', 'bulk-read',
] as const;
export type PrivacyScenario = (typeof PRIVACY_SCENARIOS)[number];

export interface PlantedScenario {
  scenario: PrivacyScenario;
  /** Default rules any one of which is expected to raise the single alert (the first is preferred). */
  rules: string[];
  /** Alert reason codes (CONTRACT "Alert reasons") the alert is expected to carry, one of them at least. */
  reasons: string[];
  actorId: string;
  patientIds: string[];
  eventIds: string[];
  /** The integration that delivers its events (nightly batch, clock behind, live). */
  integration: string;
  description: string;
}

/**
 * Mean audit events a staff member's shift produces by default (roles scale it: registrars and
 * coders log less). About two events a minute of an eight-hour shift: every chart section opened,
 * order, note and query is audited, so a 3,000-staff week is over 10 million events (issue 13).
 */
export const DEFAULT_EVENTS_PER_SHIFT = 900;

export interface HospitalOptions {
  /** Workforce size (default 3000). */
  staff?: number;
  /** Days of traffic (default 7). */
  days?: number;
  seed?: number;
  /** First day, 00:00 UTC (default: `days` days before today). */
  start?: Date;
  /** Mean audit events per staff shift (default DEFAULT_EVENTS_PER_SHIFT: a 3,000-staff week is over 10 million events). */
  eventsPerShift?: number;
  /** Registered patients per staff member (default 20). */
  patientsPerStaff?: number;
  /** Plant the privacy scenarios (default true). */
  plant?: boolean;
}

export interface Hospital {
  seed: number;
  start: number;
  end: number;
  days: number;
  eventsPerShift: number;
  staff: Staff[];
  patients: Patient[];
  encounters: Encounter[];
  planted: PlantedScenario[];
  /** Planted events (small), with their arrival times. */
  plantedEvents: SimulatedEvent[];
  /** Indexes for traffic generation. */
  encountersByDeptDay: Map<string, Encounter[][]>;
  encountersByParticipant: Map<string, Encounter[]>;
  encountersByPatient: Map<string, Encounter[]>;
  patientById: Map<string, Patient>;
}

/** An event and when the service receives it (the integration's delivery). */
export interface SimulatedEvent {
  event: AccessEvent;
  receivedAtMs: number;
}

// ---------------------------------------------------------------------------------------------
// Deterministic randomness.
// ---------------------------------------------------------------------------------------------

/** 32-bit hash of numbers: derives an independent PRNG stream for (seed, what, ...). */
function mix(...xs: number[]): number {
  let h = 0x9e3779b9;
  for (const x of xs) {
    h = Math.imul(h ^ (x >>> 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}
const stream = (...xs: number[]) => prng(mix(...xs));

const hex8 = (rand: () => number) => Math.floor(rand() * 0x100000000).toString(16).padStart(8, '0');
/** RFC 4122 version-4-shaped UUID from the PRNG. */
function uuid(rand: () => number): string {
  const a = hex8(rand);
  const b = hex8(rand);
  const c = hex8(rand);
  const d = hex8(rand);
  const variant = ((parseInt(c[0], 16) & 0x3) | 0x8).toString(16);
  return `${a}-${b.slice(0, 4)}-4${b.slice(5, 8)}-${variant}${c.slice(1, 4)}-${c.slice(4, 8)}${d}`;
}

const uniform = (rand: () => number, a: number, b: number) => a + rand() * (b - a);
const pickOne = <T>(rand: () => number, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
/** Skewed pick: low indexes (common surnames) more often. */
const pickSkewed = <T>(rand: () => number, xs: readonly T[]): T => xs[Math.floor(rand() * rand() * xs.length)];
function weighted<T>(rand: () => number, items: readonly [T, number][]): T {
  const total = items.reduce((s, [, w]) => s + w, 0);
  let r = rand() * total;
  for (const [item, w] of items) if ((r -= w) < 0) return item;
  return items[items.length - 1][0];
}
function shuffle<T>(rand: () => number, xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}
const pad = (n: number, width: number) => String(n).padStart(width, '0');

// Stream tags for mix().
const S_STAFF = 1, S_PATIENT = 2, S_ENC = 3, S_SHIFT = 4, S_HOUR = 5, S_SERVICE = 6, S_PLANT = 7, S_ADDR = 8;

function address(rand: () => number): string {
  return `${1 + Math.floor(rand() * 9999)} ${pickOne(rand, STREETS)} ${pickOne(rand, STREET_KINDS)}, ${pickOne(rand, CITIES)}`;
}

/** `days` days before today, 00:00 UTC. */
export function defaultHospitalStart(days: number, now = new Date()): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()) - days * DAY);
}

// ---------------------------------------------------------------------------------------------
// Building the hospital (context and plan).
// ---------------------------------------------------------------------------------------------

export function buildHospital(options: HospitalOptions = {}): Hospital {
  const seed = options.seed ?? 42;
  const staffCount = options.staff ?? 3000;
  const days = options.days ?? 7;
  if (!Number.isInteger(staffCount) || staffCount < 50) throw new Error('staff must be an integer of at least 50');
  if (!Number.isInteger(days) || days < 1) throw new Error('days must be a positive integer');
  const start = (options.start ?? defaultHospitalStart(days)).getTime();
  if (!Number.isFinite(start)) throw new Error('start must be a valid date');
  const end = start + days * DAY;
  const eventsPerShift = options.eventsPerShift ?? DEFAULT_EVENTS_PER_SHIFT;
  const rand = stream(seed, S_STAFF);

  // Staff: departments by weight, roles, shifts, schedules, status.
  const totalWeight = DEPARTMENTS.reduce((s, d) => s + d.weight, 0);
  const staff: Staff[] = [];
  for (let i = 0; i < staffCount; i++) {
    // Departments are filled in proportion (deterministic), so small hospitals still have each.
    const department = deptForIndex(i, staffCount, totalWeight);
    const title = weighted(rand, department.roles);
    const shiftRoll = rand();
    const [pd, pe] = department.shifts;
    const shift: ShiftName = shiftRoll < pd ? 'day' : shiftRoll < pd + pe ? 'evening' : 'night';
    const statusRoll = rand();
    const status: UserStatus = statusRoll < 0.03 ? 'leave' : statusRoll < 0.05 ? 'terminated' : 'active';
    const schedule = rand() < 0.08 ? 'per-diem' : 'full-time';
    const workDays = new Set<number>();
    if (status === 'active') {
      if (schedule === 'full-time') {
        // Two consecutive days off, rotating across the workforce.
        const off = Math.floor(rand() * 7);
        for (let d = -1; d < days; d++) if (((d + 7 - off) % 7) >= 2) workDays.add(d);
      } else {
        const first = Math.floor(rand() * 7);
        for (let d = -1; d < days; d++) if ((d + 7) % 7 === first || (d + 7) % 7 === (first + 3) % 7) workDays.add(d);
      }
    }
    const factor = uniform(rand, 0.8, 1.25);
    const nightFactor = shift === 'night' ? 0.7 : 1;
    const s: Staff = {
      id: `emp-${pad(i + 1, 5)}`,
      index: i,
      family: pickSkewed(rand, SURNAMES),
      given: pickOne(rand, GIVEN_NAMES),
      department,
      title,
      shift,
      schedule,
      status,
      homeAddress: address(rand),
      ip: `10.${10 + DEPARTMENTS.indexOf(department)}.${(i >> 8) & 255}.${i & 255}`,
      workDays,
      patientsPerShift: Math.max(2, Math.round((PATIENTS_PER_SHIFT[title] ?? 8) * factor * nightFactor)),
      eventsPerShift: Math.max(8, Math.round(eventsPerShift * (ACTIVITY[title] ?? 1) * factor * nightFactor)),
    };
    if (status === 'terminated') s.terminatedAt = start - Math.floor(uniform(rand, 1, 300)) * DAY;
    staff.push(s);
  }

  // Patients: the registered population; a few VIPs; workforce members who are patients too.
  const prand = stream(seed, S_PATIENT);
  const patients: Patient[] = [];
  const patientById = new Map<string, Patient>();
  const addPatient = (p: Omit<Patient, 'id'>, id = `MRN-${pad(patients.length + 1, 7)}`): Patient => {
    const patient = { id, ...p };
    patients.push(patient);
    patientById.set(patient.id, patient);
    return patient;
  };
  const patientCount = staffCount * (options.patientsPerStaff ?? 20);
  for (let i = 0; i < patientCount; i++) {
    const family = pickSkewed(prand, SURNAMES);
    const addr = address(prand);
    const relatedPersons: Patient['relatedPersons'] = [];
    const r = prand();
    if (r < 0.6) relatedPersons.push({ family, address: addr });
    if (r < 0.2) relatedPersons.push({ family: pickSkewed(prand, SURNAMES), address: address(prand) });
    const vip = prand() < 0.003;
    addPatient({ family, address: addr, relatedPersons, vip, deceased: prand() < 0.002, restricted: vip, planted: false });
  }
  // About 3% of the workforce are also registered patients (at least a handful, for the scenarios).
  const activeStaff = staff.filter((s) => s.status === 'active');
  const wantWorkforcePatients = Math.max(6, Math.round(staffCount * 0.03));
  for (const s of shuffle(prand, [...activeStaff]).slice(0, wantWorkforcePatients)) {
    const p = addPatient({ family: s.family, address: s.homeAddress, relatedPersons: [], vip: false, deceased: false, restricted: true, planted: false });
    s.patientId = p.id;
  }

  const encounters = buildEncounters(seed, start, end, staff, patients);
  const hospital: Hospital = {
    seed, start, end, days, eventsPerShift, staff, patients, encounters, planted: [], plantedEvents: [],
    encountersByDeptDay: new Map(), encountersByParticipant: new Map(), encountersByPatient: new Map(), patientById,
  };
  indexEncounters(hospital);
  if (options.plant ?? true) plantScenarios(hospital);
  return hospital;
}

function deptForIndex(i: number, n: number, totalWeight: number): DepartmentSpec {
  const position = ((i + 0.5) / n) * totalWeight;
  let acc = 0;
  for (const d of DEPARTMENTS) {
    acc += d.weight;
    if (position < acc) return d;
  }
  return DEPARTMENTS[DEPARTMENTS.length - 1];
}

/** Start of a person's shift on day `d` (epoch ms). */
function shiftStart(h: { start: number }, s: Staff, d: number): number {
  return h.start + d * DAY + SHIFT_START_HOUR[s.shift] * HOUR;
}

/** Whether the person works at `t` (a shift of theirs covers it, before any termination). */
export function worksAt(h: { start: number }, s: Staff, t: number): boolean {
  if (s.terminatedAt !== undefined && t >= s.terminatedAt) return false;
  const d = Math.floor((t - h.start) / DAY);
  for (const day of [d, d - 1]) {
    if (!s.workDays.has(day)) continue;
    const a = shiftStart(h, s, day);
    if (t >= a && t < a + SHIFT_LENGTH) return true;
  }
  return false;
}

function buildEncounters(seed: number, start: number, end: number, staff: Staff[], patients: Patient[]): Encounter[] {
  const rand = stream(seed, S_ENC);
  const encounters: Encounter[] = [];
  const byDept = new Map<string, Staff[]>();
  for (const s of staff) if (s.status === 'active') (byDept.get(s.department.id) ?? byDept.set(s.department.id, []).get(s.department.id)!).push(s);
  const ofShift = (dept: string, shift: ShiftName, roles?: string[]) => {
    const all = (byDept.get(dept) ?? []).filter((s) => !roles || roles.includes(s.title));
    const on = all.filter((s) => s.shift === shift);
    return on.length > 0 ? on : all;
  };
  const shiftOf = (t: number): ShiftName => {
    const hour = new Date(t).getUTCHours();
    return hour >= 7 && hour < 15 ? 'day' : hour >= 15 && hour < 23 ? 'evening' : 'night';
  };
  const benignPatients = patients.filter((p) => !p.planted);
  const add = (dept: DepartmentSpec, s: number, e: number, team: (t: number) => Staff[]) => {
    const patient = pickOne(rand, benignPatients);
    const participants = [...new Set(team(s).map((x) => x.id))];
    encounters.push({ id: '', patientId: patient.id, department: dept.id, participants, start: s, end: e >= end ? Infinity : e, restricted: patient.restricted });
  };
  const one = (xs: Staff[]) => (xs.length > 0 ? [pickOne(rand, xs)] : []);
  const registrar = (t: number) => one(ofShift('patient-access', shiftOf(t)));
  for (const dept of DEPARTMENTS) {
    const n = (byDept.get(dept.id) ?? []).length;
    if (n === 0) continue;
    const physicians = (t: number) => one(ofShift(dept.id, shiftOf(t), ['physician', 'emergency_physician', 'radiologist']));
    const nurses = () => (['day', 'evening', 'night'] as ShiftName[]).flatMap((sh) => one(ofShift(dept.id, sh, ['nurse', 'icu_nurse', 'emergency_nurse'])));
    if (dept.kind === 'inpatient') {
      const beds = Math.max(2, Math.round(n * 0.6));
      for (let b = 0; b < beds; b++) {
        let t = start - uniform(rand, 0, 5) * DAY;
        while (t < end) {
          const e = t + uniform(rand, 1, 7) * DAY;
          if (e > start) {
            add(dept, t, e, (at) => [...physicians(at), ...nurses(), ...one(ofShift('pharmacy', 'day')), ...registrar(at), ...(dept.id === 'psychiatry' || dept.id === 'internal-medicine' ? one(ofShift(dept.id, 'day', ['therapist'])) : [])]);
          }
          t = e + uniform(rand, 1, 12) * HOUR;
        }
      }
    } else if (dept.kind === 'ed') {
      const bays = Math.max(2, Math.round(n * 0.3));
      for (let b = 0; b < bays; b++) {
        let t = start - uniform(rand, 0, 6) * HOUR;
        while (t < end) {
          const e = t + uniform(rand, 2, 8) * HOUR;
          if (e > start) add(dept, t, e, (at) => [...physicians(at), ...one(ofShift(dept.id, shiftOf(at), ['emergency_nurse'])), ...registrar(at)]);
          t = e + uniform(rand, 0.5, 3) * HOUR;
        }
      }
    } else if (dept.kind === 'imaging' || dept.kind === 'clinic') {
      const rooms = Math.max(2, Math.round(n * (dept.kind === 'clinic' ? 0.5 : 0.3)));
      const [open, close] = dept.kind === 'clinic' ? [8, 17] : [7, 23];
      for (let d = 0; d < Math.round((end - start) / DAY); d++) {
        const dayStart = start + d * DAY;
        const weekday = new Date(dayStart).getUTCDay();
        if (dept.kind === 'clinic' && (weekday === 0 || weekday === 6)) continue;
        for (let r = 0; r < rooms; r++) {
          let t = dayStart + open * HOUR + uniform(rand, 0, 30) * MINUTE;
          while (t < dayStart + close * HOUR - HOUR) {
            const e = t + uniform(rand, dept.kind === 'clinic' ? 20 : 30, dept.kind === 'clinic' ? 60 : 90) * MINUTE;
            add(dept, t, e, (at) => [...physicians(at), ...(dept.kind === 'clinic' ? one(ofShift(dept.id, 'day', ['nurse'])) : one(ofShift(dept.id, shiftOf(at), ['radiology_technician']))), ...registrar(at)]);
            t = e + uniform(rand, 0, dept.kind === 'clinic' ? 30 : 60) * MINUTE;
          }
        }
      }
    }
  }
  encounters.sort((a, b) => a.start - b.start || a.patientId.localeCompare(b.patientId));
  encounters.forEach((e, i) => (e.id = `enc-${pad(i + 1, 7)}`));
  return encounters;
}

function indexEncounters(h: Hospital): void {
  h.encountersByDeptDay.clear();
  h.encountersByParticipant.clear();
  h.encountersByPatient.clear();
  for (const e of h.encounters) {
    (h.encountersByPatient.get(e.patientId) ?? h.encountersByPatient.set(e.patientId, []).get(e.patientId)!).push(e);
    let perDay = h.encountersByDeptDay.get(e.department);
    if (!perDay) h.encountersByDeptDay.set(e.department, (perDay = Array.from({ length: h.days + 1 }, () => [])));
    const first = Math.max(-1, Math.floor((e.start - h.start) / DAY));
    const last = Math.min(h.days - 1, Math.floor((Math.min(e.end, h.end - 1) - h.start) / DAY));
    for (let d = first; d <= last; d++) perDay[d + 1].push(e);
    for (const p of e.participants) (h.encountersByParticipant.get(p) ?? h.encountersByParticipant.set(p, []).get(p)!).push(e);
  }
}

// ---------------------------------------------------------------------------------------------
// Context records.
// ---------------------------------------------------------------------------------------------

export function userRecord(s: Staff): UserRecord {
  const r: UserRecord = { id: s.id, family: s.family, given: s.given, department: s.department.id, title: s.title, status: s.status, homeAddress: s.homeAddress };
  if (s.terminatedAt !== undefined) {
    r.status = 'terminated';
    r.terminatedAt = new Date(s.terminatedAt).toISOString();
  }
  if (s.patientId) r.patientId = s.patientId;
  return r;
}

export function patientRecord(p: Patient): PatientRecord {
  const r: PatientRecord = { id: p.id, family: p.family, address: p.address };
  if (p.relatedPersons.length > 0) r.relatedPersons = p.relatedPersons.map((x) => ({ ...x }));
  if (p.vip) r.vip = true;
  if (p.deceased) r.deceased = true;
  return r;
}

export function encounterRecord(e: Encounter): EncounterRecord {
  const r: EncounterRecord = { id: e.id, patient: { id: e.patientId }, department: e.department, participants: [...e.participants], start: new Date(e.start).toISOString() };
  if (Number.isFinite(e.end)) r.end = new Date(e.end).toISOString();
  return r;
}

/** The hospital's context feeds, as integrations post them. */
export function hospitalContext(h: Hospital): { users: UserRecord[]; patients: PatientRecord[]; encounters: EncounterRecord[] } {
  return { users: h.staff.map(userRecord), patients: h.patients.map(patientRecord), encounters: h.encounters.map(encounterRecord) };
}

/**
 * Extra context for scale (bench:privacy): users of the wider organisation who never appear in
 * the traffic (most long terminated), registered patients not seen this week, and closed
 * encounters of past years. Streamed: up to millions of records without holding them.
 */
export function* contextFiller(
  h: Hospital,
  want: { users: number; patients: number; encounters: number },
): Generator<{ kind: 'users'; record: UserRecord } | { kind: 'patients'; record: PatientRecord } | { kind: 'encounters'; record: EncounterRecord }> {
  const rand = stream(h.seed, S_ADDR, 99);
  for (let i = 0; i < want.users; i++) {
    const terminated = rand() < 0.8;
    const record: UserRecord = {
      id: `aff-${pad(i + 1, 6)}`, family: pickSkewed(rand, SURNAMES), given: pickOne(rand, GIVEN_NAMES), department: pickOne(rand, DEPARTMENTS).id,
      title: 'nurse', status: terminated ? 'terminated' : 'active', homeAddress: address(rand),
    };
    if (terminated) record.terminatedAt = new Date(h.start - Math.floor(uniform(rand, 30, 3000)) * DAY).toISOString();
    yield { kind: 'users', record };
  }
  for (let i = 0; i < want.patients; i++) {
    const family = pickSkewed(rand, SURNAMES);
    const addr = address(rand);
    yield { kind: 'patients', record: { id: `HIST-${pad(i + 1, 8)}`, family, address: addr, ...(rand() < 0.5 ? { relatedPersons: [{ family, address: addr }] } : {}) } };
  }
  for (let i = 0; i < want.encounters; i++) {
    const s = h.start - Math.floor(uniform(rand, 8, 3650)) * DAY + Math.floor(rand() * DAY);
    const patientId = want.patients > 0 ? `HIST-${pad(1 + Math.floor(rand() * want.patients), 8)}` : pickOne(rand, h.patients).id;
    yield {
      kind: 'encounters',
      record: {
        id: `henc-${pad(i + 1, 8)}`, patient: { id: patientId }, department: pickOne(rand, DEPARTMENTS).id,
        participants: [`aff-${pad(1 + Math.floor(rand() * Math.max(1, want.users)), 6)}`],
        start: new Date(s).toISOString(), end: new Date(s + Math.floor(uniform(rand, 1, 72)) * HOUR).toISOString(),
      },
    };
  }
}

// ---------------------------------------------------------------------------------------------
// Traffic.
// ---------------------------------------------------------------------------------------------

interface ShiftItem {
  encounter: Encounter;
  purpose: string;
  /** Coding a closed encounter: read at any time of the shift, not during the encounter. */
  anytime?: boolean;
}

/** The patients one person works with in the shift starting on day `d`: their stable volume, all explained. */
function shiftPanel(h: Hospital, s: Staff, d: number): ShiftItem[] {
  const rand = stream(h.seed, S_SHIFT, s.index, d + 1);
  const a = shiftStart(h, s, d);
  const b = a + SHIFT_LENGTH;
  const overlaps = (e: Encounter) => e.start < b && e.end > a && e.patientId !== s.patientId;
  const own = shuffle(rand, (h.encountersByParticipant.get(s.id) ?? []).filter(overlaps));
  const seen = new Set(own.map((e) => e.patientId));
  const items: ShiftItem[] = own.slice(0, s.patientsPerShift + 4).map((encounter) => ({ encounter, purpose: 'TREAT' }));
  const kind = s.department.kind;
  if (items.length < s.patientsPerShift && (kind === 'ed' || kind === 'inpatient' || kind === 'imaging' || kind === 'clinic')) {
    const pool: Encounter[] = [];
    for (const day of [d, d + 1]) for (const e of h.encountersByDeptDay.get(s.department.id)?.[day + 1] ?? []) if (!e.restricted && overlaps(e)) pool.push(e);
    for (const e of shuffle(rand, pool)) {
      if (items.length >= s.patientsPerShift) break;
      if (seen.has(e.patientId)) continue;
      seen.add(e.patientId);
      items.push({ encounter: e, purpose: 'TREAT' });
    }
  }
  // Coders and HIM analysts work a queue of encounters closed in the last three days, whose patient
  // is in care nowhere during the shift (a readmitted patient's chart is coded later); the queue
  // routes away charts of their own family and household, and restricted and behavioral-health ones.
  if (kind === 'him') {
    const pool: Encounter[] = [];
    for (const day of [d - 3, d - 2, d - 1, d]) {
      for (const perDay of h.encountersByDeptDay.values()) {
        for (const e of perDay[day + 1] ?? []) if (e.end >= a - 3 * DAY && e.end < a && e.department !== 'psychiatry' && !e.restricted) pool.push(e);
      }
    }
    for (const e of shuffle(rand, pool)) {
      if (items.length >= s.patientsPerShift) break;
      if (seen.has(e.patientId) || (h.encountersByPatient.get(e.patientId) ?? []).some((x) => x.start < b && x.end > a)) continue;
      const patient = h.patientById.get(e.patientId)!;
      if (patient.family === s.family || patient.address === s.homeAddress || patient.relatedPersons.some((r) => r.family === s.family || r.address === s.homeAddress)) continue;
      seen.add(e.patientId);
      items.push({ encounter: e, purpose: 'HOPERAT', anytime: true });
    }
  }
  // Physicians of inpatient wards are consulted on ED patients (emergency treatment purpose).
  if (s.title === 'physician' && kind === 'inpatient' && rand() < 0.3) {
    const ed = (h.encountersByDeptDay.get('emergency')?.[d + 1] ?? []).filter((e) => !e.restricted && overlaps(e) && !seen.has(e.patientId));
    if (ed.length > 0) items.push({ encounter: pickOne(rand, ed), purpose: 'ETREAT' });
  }
  return items;
}

const RESOURCES = ['Patient', 'Observation', 'MedicationRequest', 'Encounter', 'DiagnosticReport', 'Condition', 'DocumentReference'];

/** One person's events whose time falls in hour `hour` (index from the start), in time order. */
function staffHourEvents(h: Hospital, s: Staff, hour: number, panels: Map<string, ShiftItem[]>): AccessEvent[] {
  const hStart = h.start + hour * HOUR;
  const hEnd = hStart + HOUR;
  const out: AccessEvent[] = [];
  const d = Math.floor(hour / 24);
  for (const day of [d, d - 1]) {
    if (!s.workDays.has(day)) continue;
    const a = shiftStart(h, s, day);
    if (hEnd <= a || hStart >= a + SHIFT_LENGTH) continue;
    if (s.terminatedAt !== undefined && a + SHIFT_LENGTH > s.terminatedAt) continue;
    const key = `${s.index}:${day}`;
    let panel = panels.get(key);
    if (!panel) panels.set(key, (panel = shiftPanel(h, s, day)));
    const rand = stream(h.seed, S_HOUR, s.index, hour);
    const actor = { id: s.id, type: 'user' as const, role: s.title, ip: s.ip };
    const source = { system: s.department.integration.system, integration: s.department.integration.integration };
    if (a >= hStart && a >= h.start) {
      out.push({ id: uuid(rand), occurredAt: iso(a + Math.floor(rand() * 10 * MINUTE)), category: 'authentication', action: 'login', outcome: 'success', actor, source });
    }
    const eligible = panel.filter((it) => it.anytime || (it.encounter.start < hEnd && it.encounter.end > hStart));
    if (eligible.length === 0) continue;
    const n = Math.round((s.eventsPerShift / 8) * uniform(rand, 0.7, 1.3));
    for (let i = 0; i < n; i++) {
      const it = pickOne(rand, eligible);
      const lo = Math.max(hStart, it.anytime ? -Infinity : it.encounter.start, a, h.start);
      const hi = Math.min(hEnd, it.anytime ? Infinity : it.encounter.end, a + SHIFT_LENGTH);
      if (hi <= lo) continue;
      const t = Math.floor(lo + rand() * (hi - lo));
      const roll = rand();
      const type = pickOne(rand, RESOURCES);
      const event: AccessEvent = {
        id: uuid(rand), occurredAt: iso(t), category: 'data_access', action: 'read', outcome: 'success', actor,
        patient: { id: it.encounter.patientId }, resource: { type, id: `r-${Math.floor(rand() * 1e9).toString(36)}` }, purpose: it.purpose, source,
      };
      const sensitive = s.department.sensitivity !== undefined && it.encounter.department === s.department.id;
      if (roll < 0.72) {
        if (sensitive) event.sensitivity = [s.department.sensitivity!];
      } else if (roll < 0.84) {
        event.action = 'query';
        event.resource = { type };
        event.recordCount = 1 + Math.floor(rand() * 20);
      } else if (roll < 0.995) {
        event.category = 'data_modification';
        event.action = rand() < 0.5 ? 'create' : 'update';
        if (sensitive) event.sensitivity = [s.department.sensitivity!];
      } else {
        event.outcome = 'denied';
      }
      out.push(event);
    }
  }
  out.sort(byTime);
  return out;
}

/** Service accounts: nightly billing reads in bulk; the HIE queries open encounters all day. */
function serviceHourEvents(h: Hospital, hour: number): AccessEvent[] {
  const hStart = h.start + hour * HOUR;
  const rand = stream(h.seed, S_SERVICE, hour);
  const out: AccessEvent[] = [];
  const d = Math.floor(hour / 24);
  const hourOfDay = hour % 24;
  if (hourOfDay === 1 && d >= 1) {
    // Billing: every encounter that ended the day before, one claim read each.
    const billing = HOSPITAL_INTEGRATIONS.billing;
    const ended = (h.encountersByDeptDay.size > 0 ? [...h.encountersByDeptDay.values()].flatMap((perDay) => perDay[d]) : []).filter(
      (e) => e.end >= h.start + (d - 1) * DAY && e.end < h.start + d * DAY,
    );
    const unique = [...new Map(ended.map((e) => [e.id, e])).values()].sort((a, b) => a.id.localeCompare(b.id));
    unique.forEach((e, i) => {
      out.push({
        id: uuid(rand), occurredAt: iso(hStart + Math.floor((i / Math.max(1, unique.length)) * 40 * MINUTE)), category: 'data_access', action: 'read', outcome: 'success',
        actor: { id: 'svc-billing', type: 'service', ip: '10.40.0.20' }, patient: { id: e.patientId }, resource: { type: 'Claim' }, purpose: 'HPAYMT',
        source: { system: billing.system, integration: billing.integration },
      });
    });
  }
  const open = (h.encountersByDeptDay.get('emergency')?.[d + 1] ?? []).filter((e) => e.start <= hStart && e.end > hStart && !e.restricted);
  const hie = HOSPITAL_INTEGRATIONS.hie;
  for (let i = 0, n = Math.min(open.length, 5 + Math.floor(rand() * 10)); i < n; i++) {
    out.push({
      id: uuid(rand), occurredAt: iso(hStart + Math.floor(rand() * HOUR)), category: 'data_access', action: 'query', outcome: 'success',
      actor: { id: 'svc-hie', type: 'service', ip: '10.40.0.30' }, patient: { id: pickOne(rand, open).patientId }, resource: { type: 'DocumentReference' },
      purpose: 'TREAT', recordCount: 1 + Math.floor(rand() * 5), source: { system: hie.system, integration: hie.integration },
    });
  }
  return out;
}

const iso = (ms: number) => new Date(ms).toISOString();
/** Time order of canonical events (their occurredAt are all UTC ISO strings of one width). */
const byTime = (x: AccessEvent, y: AccessEvent) => (x.occurredAt < y.occurredAt ? -1 : x.occurredAt > y.occurredAt ? 1 : 0);

/** Receipt latency of a live integration (tens of ms to a second and a half). */
const latency = (rand: () => number) => 50 + Math.floor(rand() * 1450);

/**
 * The week's traffic in the order the service receives it, streamed hour by hour: live events as
 * they happen, PACS events an hour after their (behind) stamps, and each day's oncology log in one
 * batch at 02:00 the next day (the last one after the simulated days). Planted events are mixed in
 * at their arrival. Memory: one hour of traffic, plus one day of the nightly integration's.
 */
export function* hospitalTraffic(h: Hospital): Generator<SimulatedEvent> {
  const hours = h.days * 24;
  const panels = new Map<string, ShiftItem[]>();
  const working = h.staff.filter((s) => s.workDays.size > 0);
  const live = working.filter((s) => s.department.integration.delivery === 'live');
  const behind = working.filter((s) => s.department.integration.delivery === 'clock-behind');
  const nightly = working.filter((s) => s.department.integration.delivery === 'nightly-batch');
  const nightlyIntegrations = new Set(nightly.map((s) => s.department.integration.integration));
  const plantedBySlot = new Map<number, SimulatedEvent[]>();
  for (const p of h.plantedEvents) {
    // Nightly-batch events are placed in their batch in stamp order, like the rest of the day's log.
    const slot = Math.floor((p.receivedAtMs - h.start) / HOUR) + (nightlyIntegrations.has(p.event.source.integration!) ? 1_000_000 : 0);
    (plantedBySlot.get(slot) ?? plantedBySlot.set(slot, []).get(slot)!).push(p);
  }
  const lastSlot = hours + NIGHTLY_BATCH_AT / HOUR;
  for (let slot = 0; slot <= lastSlot; slot++) {
    const slotStart = h.start + slot * HOUR;
    const slotEnd = slotStart + HOUR;
    const rand = stream(h.seed, S_HOUR, 1_000_000, slot);
    const out: SimulatedEvent[] = [];
    const liveAt = (e: AccessEvent, delay: number) => out.push({ event: e, receivedAtMs: Math.min(slotEnd - 1, Date.parse(e.occurredAt) + delay) });
    if (slot < hours) {
      for (const s of live) for (const e of staffHourEvents(h, s, slot, panels)) liveAt(e, latency(rand));
      for (const e of serviceHourEvents(h, slot)) liveAt(e, latency(rand));
    }
    if (slot >= 1 && slot - 1 < hours) {
      for (const s of behind) for (const e of staffHourEvents(h, s, slot - 1, panels)) liveAt(e, CLOCK_BEHIND + latency(rand));
    }
    if (slot % 24 === NIGHTLY_BATCH_AT / HOUR && slot >= 24) {
      const d = (slot - NIGHTLY_BATCH_AT / HOUR) / 24 - 1;
      const batch: AccessEvent[] = [];
      for (let hr = d * 24; hr < (d + 1) * 24 && hr < hours; hr++) for (const s of nightly) batch.push(...staffHourEvents(h, s, hr, panels));
      batch.push(...(plantedBySlot.get(1_000_000 + slot) ?? []).map((p) => p.event));
      batch.sort(byTime);
      // The batch job uploads over ~20 minutes.
      batch.forEach((e, i) => out.push({ event: e, receivedAtMs: slotStart + 5 * MINUTE + Math.floor((i / Math.max(1, batch.length)) * 20 * MINUTE) }));
    }
    out.push(...(plantedBySlot.get(slot) ?? []));
    out.sort((x, y) => x.receivedAtMs - y.receivedAtMs);
    yield* out;
    // Forget the shifts that ended before this slot (the nightly batch replays a day: keep two).
    if (slot % 24 === 23) {
      const keepFrom = Math.floor(slot / 24) - 2;
      for (const key of panels.keys()) if (Number(key.split(':')[1]) < keepFrom) panels.delete(key);
    }
  }
}

/** When an event of `s`'s integration, stamped `t`, reaches the service. */
function arrivalOf(h: Hospital, s: Staff, t: number, rand: () => number): number {
  switch (s.department.integration.delivery) {
    case 'live':
      return t + latency(rand);
    case 'clock-behind':
      return t + CLOCK_BEHIND + latency(rand);
    case 'nightly-batch': {
      // Ahead of the day's batch, in stamp order (the batch job sends the day in time order).
      const d = Math.floor((t - h.start) / DAY);
      return h.start + (d + 1) * DAY + NIGHTLY_BATCH_AT + 4 * MINUTE + Math.floor(((t - h.start - d * DAY) / DAY) * MINUTE);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Planted privacy scenarios.
// ---------------------------------------------------------------------------------------------

function plantScenarios(h: Hospital): void {
  const rand = stream(h.seed, S_PLANT);
  const used = new Set<string>();
  const day = (k: number) => Math.min(k, h.days - 1);
  const candidates = shuffle(rand, h.staff.filter((s) => s.status === 'active' && s.schedule === 'full-time' && s.shift === 'day'));
  /** A full-time day worker (not yet used) matching `filter`, who works on `d` (and, for baselines, before). */
  function actor(d: number, filter: (s: Staff) => boolean): Staff;
  function actor(d: number, filter: (s: Staff) => boolean, optional: true): Staff | undefined;
  function actor(d: number, filter: (s: Staff) => boolean, optional = false): Staff | undefined {
    const s = candidates.find((c) => !used.has(c.id) && c.workDays.has(d) && filter(c));
    if (!s && !optional) throw new Error('the hospital is too small to plant every scenario (use more staff)');
    if (s) used.add(s.id);
    return s;
  }
  const liveDept = (s: Staff) => s.department.integration.delivery === 'live';
  const clinical = (s: Staff) => ['ed', 'inpatient', 'clinic'].includes(s.department.kind);
  const noRecord = (s: Staff) => s.patientId === undefined;
  /** A fresh registered patient, unrelated to `s`, with no encounter: any access to it is unexplained. */
  const fresh = (s: Staff, extra: Partial<Patient> = {}): Patient => {
    let family = pickSkewed(rand, SURNAMES);
    while (family === s.family) family = pickSkewed(rand, SURNAMES);
    const p: Patient = { id: `MRN-${pad(h.patients.length + 1, 7)}`, family, address: address(rand), relatedPersons: [], vip: false, deceased: false, restricted: false, planted: true, ...extra };
    h.patients.push(p);
    h.patientById.set(p.id, p);
    return p;
  };
  const read = (s: Staff, p: { id: string }, t: number, purpose = 'TREAT'): SimulatedEvent => {
    const event: AccessEvent = {
      id: uuid(rand), occurredAt: iso(t), category: 'data_access', action: 'read', outcome: 'success',
      actor: { id: s.id, type: 'user', role: s.title, ip: s.ip }, patient: { id: p.id }, resource: { type: 'Patient' }, purpose,
      source: { system: s.department.integration.system, integration: s.department.integration.integration },
    };
    return { event, receivedAtMs: arrivalOf(h, s, t, rand) };
  };
  const at = (d: number, hours: number) => h.start + d * DAY + hours * HOUR + Math.floor(rand() * 20) * MINUTE;
  const plant = (scenario: PrivacyScenario, rules: string[], reasons: string[], s: Staff, events: SimulatedEvent[], description: string) => {
    h.plantedEvents.push(...events);
    h.planted.push({
      scenario, rules, reasons, actorId: s.id, patientIds: [...new Set(events.map((e) => e.event.patient!.id))], eventIds: events.map((e) => e.event.id),
      integration: s.department.integration.integration, description,
    });
  };

  // self-access: a nurse opens her own record.
  const a = actor(day(2), (s) => liveDept(s) && clinical(s) && s.patientId !== undefined, true) ?? actor(day(2), (s) => liveDept(s) && clinical(s));
  if (a.patientId === undefined) {
    const own = fresh(a, { family: a.family, address: a.homeAddress, restricted: true });
    a.patientId = own.id;
  }
  plant('self-access', ['self-access'], ['self-access'], a, [read(a, { id: a.patientId! }, at(day(2), 10))], 'a workforce member opens their own medical record');

  // same-surname: a patient who shares the user's surname (no other link, no care relationship).
  const b = actor(day(2), (s) => liveDept(s) && clinical(s) && noRecord(s));
  const q = fresh(b, { family: b.family });
  plant('same-surname', ['same-surname'], ['same-surname'], b, [read(b, q, at(day(2), 11))], 'a patient with the user\'s surname, outside any care relationship');

  // same-address: someone at the user's home address, with another surname.
  const c = actor(day(3), (s) => liveDept(s) && clinical(s) && noRecord(s));
  const r = fresh(c, { address: c.homeAddress });
  plant('same-address', ['same-address'], ['same-address'], c, [read(c, r, at(day(3), 10))], 'a patient living at the user\'s home address');

  // related-person: the user is listed as the patient's related person (an in-law elsewhere).
  const dUser = actor(day(3), (s) => liveDept(s) && clinical(s) && noRecord(s));
  const sp = fresh(dUser, { relatedPersons: [{ family: dUser.family, address: dUser.homeAddress }] });
  plant('related-person', ['related-person'], ['related-person'], dUser, [read(dUser, sp, at(day(3), 12))], 'a patient whose related person is the user');

  // coworker-record: the record of another workforce member, outside any care relationship.
  const e = actor(day(4), (s) => liveDept(s) && clinical(s) && noRecord(s));
  const f = h.staff.find((s) => s.patientId !== undefined && s.id !== a.id && s.family !== e.family && s.homeAddress !== e.homeAddress)!;
  plant('coworker-record', ['coworker-record'], ['coworker-record'], e, [read(e, { id: f.patientId! }, at(day(4), 10))], 'a co-worker\'s medical record, outside any care relationship');

  // vip-record: a VIP's record, by someone outside her care team.
  const g = actor(day(4), (s) => liveDept(s) && clinical(s) && noRecord(s));
  const v = fresh(g, { vip: true, restricted: true });
  plant('vip-record', ['vip-record'], ['vip-record'], g, [read(g, v, at(day(4), 11))], 'a VIP\'s record, by someone outside her care team');

  // terminated-user: terminated at the start of day T, the account reads a ward patient on day T+1.
  const T = Math.max(0, day(3) - 1);
  const hUser = actor(T + 1 < h.days ? T + 1 : T, (s) => liveDept(s) && s.department.kind === 'inpatient' && noRecord(s) && s.workDays.has(T - 1));
  hUser.terminatedAt = h.start + T * DAY;
  hUser.status = 'terminated';
  const tAccess = at(Math.min(T + 1, h.days - 1), 9);
  const ward = h.encounters.find((x) => x.department === hUser.department.id && !x.restricted && x.start <= tAccess && x.end > tAccess);
  const wardPatient = ward ? { id: ward.patientId } : fresh(hUser);
  plant('terminated-user', ['terminated-user'], ['terminated-user'], hUser, [read(hUser, wardPatient, tAccess)], 'a terminated account reads a patient of its former ward');

  // department-mismatch: a radiology technician (PACS, clock an hour behind) opens an oncology inpatient's record.
  const i = actor(day(5), (s) => s.department.id === 'radiology' && noRecord(s));
  const tMismatch = at(day(5), 10);
  const other = h.encounters.find((x) => x.department !== i.department.id && !x.restricted && !x.participants.includes(i.id) && x.start <= tMismatch - HOUR && x.end > tMismatch + HOUR);
  const w = other ? { id: other.patientId } : fresh(i);
  plant('department-mismatch', ['department-mismatch', 'no-care-relationship'], ['department-mismatch', 'no-care-relationship'], i, [read(i, w, tMismatch)], 'a patient of another department, no care relationship (radiology PACS, clock an hour behind)');

  // outside-usual-hours: a clinic nurse (clinics work days only, as do her peers) opens an unexplained chart at 03:00.
  const j = actor(day(5), (s) => liveDept(s) && s.department.kind === 'clinic' && noRecord(s));
  const x = fresh(j);
  plant('outside-usual-hours', ['outside-usual-hours'], ['outside-usual-hours'], j, [read(j, x, h.start + day(5) * DAY + 3 * HOUR + Math.floor(rand() * 20) * MINUTE)], 'a day-shift clinic worker opens an unexplained chart at 03:00');

  // unusual-volume: a ward nurse reads 45+ patients of her own department in one shift (each explained
  // by an open encounter there, so no other rule applies), several times her and her peers' usual day,
  // at a pace under bulk-read's.
  const k = actor(day(5), (s) => liveDept(s) && s.department.kind === 'inpatient' && s.title === 'nurse' && noRecord(s));
  const volume = Math.max(45, k.patientsPerShift * 6);
  const kStart = h.start + day(5) * DAY + 8 * HOUR;
  const wardPatients = Array.from({ length: volume }, () => {
    const p = fresh(k);
    // Day-surgery admissions to her ward, added after the traffic plan: her colleagues never open them.
    h.encounters.push({ id: `enc-${pad(h.encounters.length + 1, 7)}`, patientId: p.id, department: k.department.id, participants: [], start: kStart - HOUR, end: kStart + 9 * HOUR, restricted: false });
    return p;
  });
  plant('unusual-volume', ['unusual-volume'], ['unusual-volume'], k, wardPatients.map((p, n) => read(k, p, kStart + Math.floor((n * 6 * HOUR) / volume))), `a ward nurse reads ${volume} distinct patients of her ward in one shift`);

  // bulk-read: a coder (HIM encoder, whose log arrives in the next night's batch) sweeps 60 charts in
  // 6 minutes: a burst for bulk-phi-read (a sweep of hundreds would be unusual volume as well).
  // She sweeps on a day off (from home), so her day is the sweep alone: under three times her peers'
  // usual day, whose baseline decides while her own is still being learned.
  const coder = (s: Staff) => s.department.kind === 'him' && s.title === 'coder' && noRecord(s) && !used.has(s.id);
  const offDay = (s: Staff) => [4, 5, 3, 6, 2].map(day).find((d) => d >= 1 && !s.workDays.has(d) && s.workDays.has(d - 1));
  const offCoder = candidates.find((s) => coder(s) && offDay(s) !== undefined);
  const sweepDay = offCoder ? offDay(offCoder)! : day(4);
  const l = offCoder ?? actor(day(4), coder);
  used.add(l.id);
  const lStart = at(sweepDay, 13);
  plant('bulk-read', ['bulk-phi-read'], ['bulk-read'], l, Array.from({ length: 60 }, (_, n) => read(l, fresh(l), lStart + n * 6000, 'HOPERAT')), 'a coder reads 60 charts in 6 minutes (arrives in the next night\'s batch)');
}
