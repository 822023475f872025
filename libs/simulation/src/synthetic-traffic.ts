/**
 * Realistic synthetic access traffic for demos, tests and benchmarks (`auditctl seed`): a few
 * integrations, hundreds of clinical users, tens of thousands of patients, weekday working-hours
 * patterns (08:00-17:00 UTC), and one clear instance of each default detection rule's pattern,
 * listed in `planted` with the alert group (rule + groupBy values) it must raise. Deterministic for
 * a given seed.
 *
 * The benign part is built to stay clear of every default rule (detection-rules/*.yml), which the
 * simulation spec checks by running the real rules over it:
 * - users read and change only their own panel of at most 40 patients (bulk-phi-read needs 50),
 *   with purpose TREAT (also on sensitive segments), during working hours;
 * - denials are rare and scattered (permission-denial-burst needs 10 in 5 min for one user);
 *   a mistyped password is one failure then a success (brute-force needs 5 failures first);
 * - user exports are small (bulk-export needs 5,000 records in an hour); nobody uses break-glass;
 * - service accounts always call from their one host (service-account-new-ip), TLS handshakes
 *   succeed (mtls-failures-*), and every user is active only on this day (dormant-account-access).
 * Planted patterns needing history get it earlier in the traffic: the service account works from
 * its usual host from 08:05 before calling from a new IP, and the dormant account logged in 45
 * days before the traffic day.
 *
 * Rules that need context (users, patients, encounters) or learned baselines (outside-usual-hours,
 * unusual-volume) are not planted here: one day without context cannot show them (the hospital
 * simulator, hospital.ts, plants those). SEED_PLANTED_RULES lists what is planted.
 */
import { AccessEvent } from '@app/core';

/** The default rules this generator plants one instance of (the others need context or history). */
export const SEED_PLANTED_RULES: readonly string[] = [
  'break-glass-access',
  'brute-force-then-success',
  'bulk-export',
  'bulk-phi-read',
  'dormant-account-access',
  'mtls-failures-by-client',
  'mtls-failures-by-source-ip',
  'permission-denial-burst',
  'sensitive-segment-without-treatment',
  'service-account-new-ip',
];

/** Small, fast, seedable PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Deterministic RFC 4122 version-4-shaped UUID from the PRNG. */
function uuidFrom(rand: () => number): string {
  const hex: string[] = [];
  for (let i = 0; i < 32; i++) hex.push(Math.floor(rand() * 16).toString(16));
  hex[12] = '4';
  hex[16] = ((parseInt(hex[16], 16) & 0x3) | 0x8).toString(16);
  const s = hex.join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
}

export interface PlantedPattern {
  /** The default rule expected to fire on it (its id in detection-rules/). */
  rule: string;
  /** The alert group it raises: the rule's groupBy fields and their values (synthetic, not real PHI). */
  group: Record<string, string>;
  /** Short display form of the group (actor, client subject or IP). */
  key: string;
  description: string;
  /** Ids of the pattern's events (including history it needs). */
  eventIds: string[];
}

export interface TrafficOptions {
  events: number;
  seed?: number;
  /** Working day on which the traffic happens (UTC date); default: the last weekday before now. */
  day?: Date;
  /** Plant the suspicious patterns (default true; false gives purely benign traffic). */
  suspicious?: boolean;
  patients?: number;
  users?: number;
}

export interface Traffic {
  /** In event-time order. */
  events: AccessEvent[];
  planted: PlantedPattern[];
}

const CLINICAL_ROLES = ['physician', 'nurse', 'nurse', 'nurse', 'pharmacist', 'registrar', 'physician', 'therapist'];
const INTEGRATIONS = [
  { system: 'ehr-gateway', integration: 'sample-ehr', resources: ['Patient', 'Observation', 'MedicationRequest', 'Encounter', 'DiagnosticReport'] },
  { system: 'fhir-server', integration: 'fhir-r4', resources: ['Patient', 'Condition', 'AllergyIntolerance', 'Immunization'] },
  { system: 'lab-system', integration: 'lis', resources: ['DiagnosticReport', 'Observation'] },
];
const DEPARTMENTS = ['cardiology', 'oncology', 'emergency', 'pediatrics', 'radiology', 'internal-medicine'];
const SENSITIVE_SEGMENTS = ['behavioral_health', 'substance_use', 'vip'];
/** How many distinct patients one benign user works with (bulk-phi-read fires at 50). */
const PANEL_SIZE = 40;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Last weekday strictly before `now`, at 00:00 UTC. */
export function lastWorkingDay(now = new Date()): Date {
  const d = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  do d.setUTCDate(d.getUTCDate() - 1);
  while (d.getUTCDay() === 0 || d.getUTCDay() === 6);
  return d;
}

export function generateTraffic(options: TrafficOptions): Traffic {
  const rand = prng(options.seed ?? 42);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const patients = options.patients ?? 20_000;
  const userCount = options.users ?? 300;
  const day = options.day ?? lastWorkingDay();
  const dayStart = day.getTime() + 8 * HOUR; // 08:00 UTC
  const dayLength = 9 * HOUR; // until 17:00 UTC
  const users = Array.from({ length: userCount }, (_, i) => ({
    id: `u-${String(i + 1).padStart(4, '0')}`,
    role: CLINICAL_ROLES[i % CLINICAL_ROLES.length],
    dept: DEPARTMENTS[i % DEPARTMENTS.length],
    ip: `10.20.${Math.floor(i / 200)}.${(i % 200) + 20}`,
    integration: INTEGRATIONS[i % INTEGRATIONS.length],
    // Each user works with a panel of patients: repeated access is what normal looks like.
    panelStart: Math.floor(rand() * patients),
  }));
  const mrn = (n: number) => `MRN-${String((n % patients) + 1).padStart(6, '0')}`;
  const at = (ms: number) => new Date(ms).toISOString();

  const suspicious = options.suspicious ?? true;
  const planted: PlantedPattern[] = [];
  const special: AccessEvent[] = [];
  if (suspicious) special.push(...plantSuspicious(dayStart, rand, mrn, at, planted));
  const benignCount = Math.max(0, options.events - special.length);
  const benign: AccessEvent[] = [];
  const loggedIn = new Set<string>();
  for (let i = 0; i < benignCount; i++) {
    const u = users[Math.floor(rand() * users.length)];
    const t = dayStart + Math.floor((i / Math.max(1, benignCount)) * dayLength + rand() * 1000);
    const base = {
      id: uuidFrom(rand),
      occurredAt: at(t),
      actor: { id: u.id, type: 'user' as const, role: u.role, ip: u.ip },
      source: { system: u.integration.system, integration: u.integration.integration },
    };
    if (!loggedIn.has(u.id)) {
      loggedIn.add(u.id);
      if (rand() < 0.05) {
        // A mistyped password: one failure, then the successful login a few seconds later.
        benign.push({ ...base, category: 'authentication', action: 'login', outcome: 'failure', details: { reason: 'bad_password' } });
        benign.push({ ...base, id: uuidFrom(rand), occurredAt: at(t + 5000), category: 'authentication', action: 'login', outcome: 'success', details: { department: u.dept } });
        i++;
      } else {
        benign.push({ ...base, category: 'authentication', action: 'login', outcome: 'success', details: { department: u.dept } });
      }
      continue;
    }
    const roll = rand();
    const patient = { id: mrn(u.panelStart + Math.floor(rand() * PANEL_SIZE)) };
    const resource = { type: pick(u.integration.resources), id: `r-${Math.floor(rand() * 1e9).toString(36)}` };
    if (roll < 0.76) {
      benign.push({ ...base, category: 'data_access', action: 'read', outcome: 'success', patient, resource, purpose: 'TREAT' });
    } else if (roll < 0.8) {
      // Sensitive segments opened for treatment: allowed, and must not alert.
      benign.push({ ...base, category: 'data_access', action: 'read', outcome: 'success', patient, resource, purpose: 'TREAT', sensitivity: [pick(SENSITIVE_SEGMENTS)] });
    } else if (roll < 0.89) {
      benign.push({ ...base, category: 'data_access', action: 'query', outcome: 'success', patient, resource: { type: resource.type }, purpose: 'TREAT', recordCount: 1 + Math.floor(rand() * 20) });
    } else if (roll < 0.893) {
      // A small export (a discharge summary, a referral packet).
      benign.push({ ...base, category: 'data_access', action: 'export', outcome: 'success', patient, resource: { type: resource.type }, purpose: 'TREAT', recordCount: 1 + Math.floor(rand() * 50) });
    } else if (roll < 0.963) {
      benign.push({ ...base, category: 'data_modification', action: pick(['create', 'update']), outcome: 'success', patient, resource, purpose: 'TREAT' });
    } else if (roll < 0.978) {
      // The occasional honest mistake: one denial, not a burst.
      benign.push({ ...base, category: 'data_access', action: 'read', outcome: 'denied', patient, resource, purpose: 'TREAT' });
    } else {
      const k = INTEGRATIONS.indexOf(u.integration);
      benign.push({
        ...base,
        category: 'system_access',
        action: 'tls_handshake',
        outcome: 'success',
        actor: { id: `svc-${u.integration.integration}`, type: 'service', ip: `10.30.0.${k + 10}` },
        tls: { clientSubject: `CN=${u.integration.integration}`, result: 'success' },
      });
    }
  }
  const events = [...benign, ...special].sort((a, b) => Date.parse(a.occurredAt) - Date.parse(b.occurredAt));
  return { events, planted };
}

function plantSuspicious(
  dayStart: number,
  rand: () => number,
  mrn: (n: number) => string,
  at: (ms: number) => string,
  planted: PlantedPattern[],
): AccessEvent[] {
  const out: AccessEvent[] = [];
  const ehr = { system: 'ehr-gateway', integration: 'sample-ehr' };
  /** Adds the events of one pattern and records it. */
  const plant = (pattern: Omit<PlantedPattern, 'eventIds'>, events: Omit<AccessEvent, 'id'>[]) => {
    const withIds = events.map((e) => ({ id: uuidFrom(rand), ...e }) as AccessEvent);
    out.push(...withIds);
    planted.push({ ...pattern, eventIds: withIds.map((e) => e.id) });
  };
  const user = (id: string, role: string, ip: string) => ({ id, type: 'user' as const, role, ip });
  const times = (start: number, n: number, everyMs: number) => Array.from({ length: n }, (_, i) => start + i * everyMs);

  // bulk-phi-read: one user reads 300 distinct patients in 7.5 minutes (snooping / collection).
  const snooper = user('u-snoop-01', 'registrar', '10.20.9.9');
  plant(
    { rule: 'bulk-phi-read', group: { 'actor.id': snooper.id }, key: snooper.id, description: 'one user read 300 distinct patients in 7.5 minutes' },
    times(dayStart + 2 * HOUR, 300, 1500).map((t, i) => ({
      occurredAt: at(t), category: 'data_access', action: 'read', outcome: 'success', actor: snooper,
      patient: { id: mrn(5000 + i * 37) }, resource: { type: 'Patient' }, purpose: 'TREAT', source: ehr,
    })),
  );

  // mtls-failures-by-client and -by-source-ip: a device with an unknown CA hammers the endpoint.
  const gateway = { system: 'api-gateway', integration: 'api-gateway' };
  const tlsEvents = times(dayStart + 3 * HOUR, 30, 5000).map((t) => ({
    occurredAt: at(t), category: 'security' as const, action: 'tls_handshake', outcome: 'failure' as const,
    actor: { id: 'unknown-client', type: 'service' as const, ip: '198.51.100.77' },
    tls: { clientSubject: 'CN=rogue-device', result: 'failure' as const, reason: 'unknown_ca' }, source: gateway,
  }));
  const tlsIds = tlsEvents.map(() => uuidFrom(rand));
  out.push(...tlsEvents.map((e, i) => ({ id: tlsIds[i], ...e })));
  planted.push({ rule: 'mtls-failures-by-client', group: { 'tls.clientSubject': 'CN=rogue-device' }, key: 'CN=rogue-device', description: '30 failed mTLS handshakes in 2.5 minutes', eventIds: tlsIds });
  planted.push({ rule: 'mtls-failures-by-source-ip', group: { 'actor.ip': '198.51.100.77' }, key: '198.51.100.77', description: '30 failed mTLS handshakes from one IP', eventIds: tlsIds });

  // permission-denial-burst: one user walks records outside their role.
  const prober = user('u-denied-01', 'nurse', '10.20.9.10');
  plant(
    { rule: 'permission-denial-burst', group: { 'actor.id': prober.id }, key: prober.id, description: '40 denied reads in under 3 minutes' },
    times(dayStart + 4 * HOUR, 40, 4000).map((t, i) => ({
      occurredAt: at(t), category: 'data_access', action: 'read', outcome: 'denied', actor: prober,
      patient: { id: mrn(9000 + i) }, resource: { type: 'Observation' }, purpose: 'TREAT', source: ehr,
    })),
  );

  // brute-force-then-success: eight failed logins, then one that works.
  const guessed = user('u-brute-01', 'physician', '203.0.113.9');
  plant(
    { rule: 'brute-force-then-success', group: { 'actor.id': guessed.id }, key: guessed.id, description: '8 failed logins in 2.5 minutes, then a successful one' },
    [
      ...times(dayStart + 4.5 * HOUR, 8, 20_000).map((t) => ({
        occurredAt: at(t), category: 'authentication' as const, action: 'login', outcome: 'failure' as const, actor: guessed, source: ehr, details: { reason: 'bad_password' },
      })),
      { occurredAt: at(dayStart + 4.5 * HOUR + 180_000), category: 'authentication', action: 'login', outcome: 'success', actor: guessed, source: ehr },
    ],
  );

  // bulk-export: three large exports in half an hour (7,500 records; the rule fires at 5,000 in 1h).
  const exporter = user('u-export-01', 'registrar', '10.20.9.11');
  plant(
    { rule: 'bulk-export', group: { 'actor.id': exporter.id }, key: exporter.id, description: '3 exports of 2,500 records within 30 minutes' },
    times(dayStart + 5.5 * HOUR, 3, 15 * 60_000).map((t) => ({
      occurredAt: at(t), category: 'data_access', action: 'export', outcome: 'success', actor: exporter,
      resource: { type: 'Patient' }, purpose: 'OPERATIONS', recordCount: 2500, source: ehr,
    })),
  );

  // break-glass-access: an emergency override on one patient, then reads under it.
  const override = user('u-bg-01', 'physician', '10.20.9.12');
  const bgPatient = { id: mrn(12_345) };
  plant(
    { rule: 'break-glass-access', group: { 'actor.id': override.id, 'patient.id': bgPatient.id }, key: override.id, description: 'break-glass on one patient, followed by 3 reads' },
    [
      { occurredAt: at(dayStart + 6.5 * HOUR), category: 'data_access', action: 'break_glass', outcome: 'success', actor: override, patient: bgPatient, resource: { type: 'Patient' }, purpose: 'EMERGENCY', source: ehr },
      ...times(dayStart + 6.5 * HOUR + 30_000, 3, 60_000).map((t) => ({
        occurredAt: at(t), category: 'data_access' as const, action: 'read', outcome: 'success' as const, actor: override, patient: bgPatient,
        resource: { type: 'Observation' }, purpose: 'EMERGENCY', source: ehr,
      })),
    ],
  );

  // sensitive-segment-without-treatment: a behavioral-health record opened for "operations".
  const curious = user('u-curious-01', 'registrar', '10.20.9.13');
  const bhPatient = { id: mrn(7_777) };
  plant(
    { rule: 'sensitive-segment-without-treatment', group: { 'actor.id': curious.id, 'patient.id': bhPatient.id }, key: curious.id, description: 'a behavioral-health record read with purpose OPERATIONS' },
    [{ occurredAt: at(dayStart + 7 * HOUR), category: 'data_access', action: 'read', outcome: 'success', actor: curious, patient: bhPatient, resource: { type: 'Condition' }, purpose: 'OPERATIONS', sensitivity: ['behavioral_health'], source: ehr }],
  );

  // service-account-new-ip: the billing integration works from its host all day, then once from elsewhere.
  const billing = { system: 'billing', integration: 'billing' };
  const svc = (ip: string) => ({ id: 'svc-billing', type: 'service' as const, ip });
  const billingCall = (t: number, ip: string) => ({
    occurredAt: at(t), category: 'data_access' as const, action: 'query', outcome: 'success' as const, actor: svc(ip),
    resource: { type: 'Claim' }, purpose: 'PAYMENT', recordCount: 12, source: billing,
  });
  plant(
    { rule: 'service-account-new-ip', group: { 'actor.id': 'svc-billing' }, key: 'svc-billing', description: 'the billing service account, seen from 10.30.0.40 since 08:05, called from 203.0.113.50' },
    [
      ...times(dayStart + 5 * 60_000, 30, 10 * 60_000).map((t) => billingCall(t, '10.30.0.40')),
      billingCall(dayStart + 5 * HOUR + 7 * 60_000, '203.0.113.50'),
    ],
  );

  // dormant-account-access: an account last used 45 days ago logs in and reads two charts.
  const dormant = user('u-dormant-01', 'nurse', '10.20.9.14');
  plant(
    { rule: 'dormant-account-access', group: { 'actor.id': dormant.id }, key: dormant.id, description: 'an account idle for 45 days logs in again' },
    [
      { occurredAt: at(dayStart - 45 * DAY + 2 * HOUR), category: 'authentication', action: 'login', outcome: 'success', actor: dormant, source: ehr },
      { occurredAt: at(dayStart + 7.5 * HOUR), category: 'authentication', action: 'login', outcome: 'success', actor: dormant, source: ehr },
      ...times(dayStart + 7.5 * HOUR + 60_000, 2, 60_000).map((t, i) => ({
        occurredAt: at(t), category: 'data_access' as const, action: 'read', outcome: 'success' as const, actor: dormant,
        patient: { id: mrn(3_000 + i) }, resource: { type: 'Observation' }, purpose: 'TREAT', source: ehr,
      })),
    ],
  );

  // A day-shift nurse reads four charts at 22:30 UTC: quiet now that outside-usual-hours judges
  // against a learned pattern (one day is not one), no longer planted for after-hours-access.
  const night = user('u-night-01', 'nurse', '10.20.9.15');
  out.push(
    ...times(dayStart + 14.5 * HOUR, 4, 5 * 60_000).map(
      (t, i) =>
        ({
          id: uuidFrom(rand), occurredAt: at(t), category: 'data_access', action: 'read', outcome: 'success', actor: night,
          patient: { id: mrn(15_000 + i) }, resource: { type: 'Observation' }, purpose: 'TREAT', source: ehr,
        }) as AccessEvent,
    ),
  );
  return out;
}
