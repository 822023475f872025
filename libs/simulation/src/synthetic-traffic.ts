/**
 * Realistic synthetic access traffic for demos, tests and benchmarks (`auditctl seed`): a few
 * integrations, hundreds of clinical users, tens of thousands of patients, weekday working-hours
 * patterns, and a handful of planted suspicious patterns for detection to find. Deterministic for
 * a given seed. Benign traffic is built to stay clear of every default detection rule.
 */
import { AccessEvent } from '@app/core';

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
  /** The default rule expected to fire on it. */
  rule: string;
  /** Which actor, client or IP it is about (synthetic identifiers, not real PHI). */
  key: string;
  description: string;
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
  const dayStart = day.getTime() + 8 * 3600_000; // 08:00 UTC
  const dayLength = 9 * 3600_000; // until 17:00 UTC
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
      benign.push({ ...base, category: 'authentication', action: 'login', outcome: 'success', details: { department: u.dept } });
      continue;
    }
    const roll = rand();
    const patient = { id: mrn(u.panelStart + Math.floor(rand() * 40)) };
    const resource = { type: pick(u.integration.resources), id: `r-${Math.floor(rand() * 1e9).toString(36)}` };
    if (roll < 0.8) {
      benign.push({ ...base, category: 'data_access', action: 'read', outcome: 'success', patient, resource, purpose: 'TREAT' });
    } else if (roll < 0.9) {
      benign.push({ ...base, category: 'data_access', action: 'query', outcome: 'success', patient, resource: { type: resource.type }, purpose: 'TREAT', recordCount: 1 + Math.floor(rand() * 20) });
    } else if (roll < 0.97) {
      benign.push({ ...base, category: 'data_modification', action: pick(['create', 'update']), outcome: 'success', patient, resource, purpose: 'TREAT' });
    } else if (roll < 0.985) {
      // The occasional honest mistake: one denial, not a burst.
      benign.push({ ...base, category: 'data_access', action: 'read', outcome: 'denied', patient, resource, purpose: 'TREAT' });
    } else {
      benign.push({ ...base, category: 'system_access', action: 'tls_handshake', outcome: 'success', actor: { id: `svc-${u.integration.integration}`, type: 'service', ip: `10.30.0.${INTEGRATIONS.indexOf(u.integration) + 10}` }, tls: { clientSubject: `CN=${u.integration.integration}`, result: 'success' } });
    }
  }
  const events = [...benign, ...special].sort((a, b) => Date.parse(a.occurredAt) - Date.parse(b.occurredAt));
  return { events: events.slice(0, Math.max(options.events, special.length)), planted };
}

function plantSuspicious(
  dayStart: number,
  rand: () => number,
  mrn: (n: number) => string,
  at: (ms: number) => string,
  planted: PlantedPattern[],
): AccessEvent[] {
  const out: AccessEvent[] = [];
  const ev = (e: Omit<AccessEvent, 'id'>): AccessEvent => ({ id: uuidFrom(rand), ...e });
  const ehr = { system: 'ehr-gateway', integration: 'sample-ehr' };

  // 1. One user reads hundreds of distinct patients within minutes (bulk PHI read / snooping).
  const snoopStart = dayStart + 2 * 3600_000;
  for (let i = 0; i < 300; i++) {
    out.push(ev({ occurredAt: at(snoopStart + i * 1500), category: 'data_access', action: 'read', outcome: 'success', actor: { id: 'u-snoop-01', type: 'user', role: 'registrar', ip: '10.20.9.9' }, patient: { id: mrn(5000 + i * 37) }, resource: { type: 'Patient' }, purpose: 'TREAT', source: ehr }));
  }
  planted.push({ rule: 'bulk-phi-read', key: 'u-snoop-01', description: 'one user read 300 distinct patients in 7.5 minutes' });

  // 2. A client fails the mTLS handshake again and again.
  const tlsStart = dayStart + 3 * 3600_000;
  for (let i = 0; i < 30; i++) {
    out.push(ev({ occurredAt: at(tlsStart + i * 5000), category: 'security', action: 'tls_handshake', outcome: 'failure', actor: { id: 'unknown-client', type: 'service', ip: '198.51.100.77' }, tls: { clientSubject: 'CN=rogue-device', result: 'failure', reason: 'unknown_ca' }, source: { system: 'api-gateway' } }));
  }
  planted.push({ rule: 'mtls-failures-by-subject', key: 'CN=rogue-device', description: '30 failed mTLS handshakes in 2.5 minutes' });
  planted.push({ rule: 'mtls-failures-by-ip', key: '198.51.100.77', description: '30 failed mTLS handshakes from one IP' });

  // 3. A burst of permission denials for one user.
  const denyStart = dayStart + 4 * 3600_000;
  for (let i = 0; i < 40; i++) {
    out.push(ev({ occurredAt: at(denyStart + i * 4000), category: 'data_access', action: 'read', outcome: 'denied', actor: { id: 'u-denied-01', type: 'user', role: 'nurse', ip: '10.20.9.10' }, patient: { id: mrn(9000 + i) }, resource: { type: 'Observation' }, purpose: 'TREAT', source: ehr }));
  }
  planted.push({ rule: 'permission-denial-burst', key: 'u-denied-01', description: '40 denied reads in under 3 minutes' });
  return out;
}
