/**
 * The hospital simulator's invariants: deterministic, valid canonical events and CONTRACT context
 * records, benign traffic that the explanation stage explains in full (care team, department
 * encounter, ED consult; coders work closed charts of patients in care nowhere) at the staff
 * member's own shift hours, restricted records opened by their
 * care team only, the integrations' delivery (live, nightly batch, clock an hour behind), and each
 * planted scenario carrying exactly the relationship it is named for.
 */
import { createHash } from 'node:crypto';
import { AccessContext, EncounterContext, EventValidator, explainAccess, PatientContext, UserContext } from '@app/core';
import { buildHospital, DEFAULT_EVENTS_PER_SHIFT, EncounterRecord, Hospital, hospitalContext, hospitalTraffic, PatientRecord, SimulatedEvent, UserRecord } from '@app/simulation';

const START = new Date('2026-03-02T00:00:00Z'); // a Monday
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Test index over the clear records (a token here is the lower-cased value: equality is all that matters). */
function contextOf(records: { users: UserRecord[]; patients: PatientRecord[]; encounters: EncounterRecord[] }): AccessContext {
  const tok = (v?: string) => v?.toLowerCase();
  const users = new Map<string, UserRecord>(records.users.map((u) => [u.id, u]));
  const patients = new Map<string, PatientContext>(
    records.patients.map((p) => [
      p.id,
      { id: p.id, familyToken: tok(p.family), addressToken: tok(p.address), relatedPersons: (p.relatedPersons ?? []).map((r) => ({ familyToken: tok(r.family), addressToken: tok(r.address) })), vip: p.vip === true, deceased: p.deceased === true },
    ]),
  );
  const encounters = new Map<string, EncounterContext[]>();
  for (const e of records.encounters) {
    const list = encounters.get(e.patient.id) ?? [];
    list.push({ id: e.id, patientId: e.patient.id, department: e.department, participants: e.participants ?? [], startMs: Date.parse(e.start), endMs: e.end ? Date.parse(e.end) : undefined });
    encounters.set(e.patient.id, list);
  }
  const userAt = (id: string, at: number): UserContext | undefined => {
    const u = users.get(id);
    if (!u) return undefined;
    const terminated = u.status === 'terminated' && (!u.terminatedAt || Date.parse(u.terminatedAt) <= at);
    return { id: u.id, familyToken: tok(u.family), givenToken: tok(u.given), department: u.department, title: u.title, status: terminated ? 'terminated' : u.status === 'terminated' ? 'active' : u.status, homeAddressToken: tok(u.homeAddress), patientId: u.patientId };
  };
  const byPatientId = new Map(records.users.filter((u) => u.patientId).map((u) => [u.patientId!, u.id]));
  return {
    userAt,
    patientAt: (id) => patients.get(id),
    encountersAt: (id, at) => (encounters.get(id) ?? []).filter((e) => e.startMs <= at && (e.endMs === undefined || at <= e.endMs)),
    workforceMemberWithPatientId: (id, at) => (byPatientId.has(id) ? userAt(byPatientId.get(id)!, at) : undefined),
  };
}

describe('hospital simulator', () => {
  let hospital: Hospital;
  let traffic: SimulatedEvent[];
  beforeAll(() => {
    hospital = buildHospital({ staff: 300, days: 7, seed: 7, start: START, eventsPerShift: 60 });
    traffic = [...hospitalTraffic(hospital)];
  });

  it('is deterministic for a seed, and another seed gives another hospital', () => {
    const digest = (h: Hospital) => {
      const hash = createHash('sha256');
      hash.update(JSON.stringify(hospitalContext(h)));
      for (const { event, receivedAtMs } of hospitalTraffic(h)) hash.update(`${JSON.stringify(event)}${receivedAtMs}`);
      return hash.digest('hex');
    };
    const small = { staff: 120, days: 3, start: START, eventsPerShift: 20 };
    expect(digest(buildHospital({ ...small, seed: 3 }))).toBe(digest(buildHospital({ ...small, seed: 3 })));
    expect(digest(buildHospital({ ...small, seed: 3 }))).not.toBe(digest(buildHospital({ ...small, seed: 4 })));
  });

  it('produces valid canonical events with unique ids, received in order', () => {
    const validator = new EventValidator();
    const bad = traffic.flatMap(({ event }) => validator.errorsFor(event).map((e) => `${event.id} ${e.pointer} ${e.message}`));
    expect(bad).toEqual([]);
    expect(new Set(traffic.map((t) => t.event.id)).size).toBe(traffic.length);
    for (let i = 1; i < traffic.length; i++) expect(traffic[i].receivedAtMs).toBeGreaterThanOrEqual(traffic[i - 1].receivedAtMs);
    expect(traffic.length).toBeGreaterThan(50_000);
  });

  it('produces CONTRACT context records: users with departments and statuses, patients, open and closed encounters', () => {
    const { users, patients, encounters } = hospitalContext(hospital);
    expect(users).toHaveLength(300);
    const userKeys = new Set(['id', 'family', 'given', 'department', 'title', 'status', 'terminatedAt', 'homeAddress', 'patientId']);
    for (const u of users) for (const k of Object.keys(u)) expect(userKeys).toContain(k);
    expect(new Set(users.map((u) => u.status))).toEqual(new Set(['active', 'leave', 'terminated']));
    expect(new Set(users.map((u) => u.department)).size).toBeGreaterThanOrEqual(12);
    expect(users.filter((u) => u.patientId).length).toBeGreaterThanOrEqual(6);
    expect(patients.some((p) => p.vip)).toBe(true);
    expect(patients.some((p) => (p.relatedPersons ?? []).length > 0)).toBe(true);
    expect(encounters.some((e) => e.end === undefined)).toBe(true);
    expect(encounters.some((e) => e.end !== undefined && Date.parse(e.end) < START.getTime() + 7 * DAY)).toBe(true);
    const patientIds = new Set(patients.map((p) => p.id));
    const userIds = new Set(users.map((u) => u.id));
    for (const e of encounters) {
      expect(patientIds).toContain(e.patient.id);
      for (const p of e.participants ?? []) expect(userIds).toContain(p);
    }
  });

  it('explains every benign patient access (care team, department encounter, ED consult) by active staff on shift; coders code closed charts', () => {
    const context = contextOf(hospitalContext(hospital));
    const plantedIds = new Set(hospital.planted.flatMap((p) => p.eventIds));
    const staff = new Map(hospital.staff.map((s) => [s.id, s]));
    const kinds: Record<string, number> = {};
    const problems: string[] = [];
    for (const { event } of traffic) {
      if (plantedIds.has(event.id) || event.actor.type !== 'user') continue;
      const at = Date.parse(event.occurredAt);
      const user = context.userAt(event.actor.id, at)!;
      if (user.status !== 'active') problems.push(`${event.id} by a ${user.status} user`);
      const s = staff.get(event.actor.id)!;
      const shiftHour = { day: 7, evening: 15, night: 23 }[s.shift];
      const hourOfDay = new Date(at).getUTCHours();
      if ((hourOfDay - shiftHour + 24) % 24 >= 8) problems.push(`${event.id} at ${hourOfDay}:00 by a ${s.shift}-shift user`);
      if (!event.patient) continue;
      const explanation = explainAccess(event, context, at);
      const patient = context.patientAt(event.patient.id, at)!;
      if (s.department.id === 'health-information-management') {
        // Coding: no care relationship by nature, so the patient is in care nowhere, and no family or household.
        kinds.coding = (kinds.coding ?? 0) + 1;
        if (explanation.explained || context.encountersAt(event.patient.id, at).length > 0) problems.push(`${event.id} coding a patient in care`);
        const related = patient.familyToken === user.familyToken || patient.addressToken === user.homeAddressToken || patient.relatedPersons.some((r) => r.familyToken === user.familyToken || r.addressToken === user.homeAddressToken);
        if (related || patient.vip || event.purpose !== 'HOPERAT') problems.push(`${event.id} coding a related, VIP or non-operations chart`);
        continue;
      }
      kinds[explanation.kind] = (kinds[explanation.kind] ?? 0) + 1;
      if (!explanation.explained) problems.push(`${event.id} unexplained`);
      if (event.patient.id === user.patientId) problems.push(`${event.id} self-access`);
      const coworker = context.workforceMemberWithPatientId(event.patient.id, at);
      if ((patient.vip || coworker) && explanation.kind !== 'care-relationship') problems.push(`${event.id} restricted record outside the care team`);
    }
    expect(problems.slice(0, 10)).toEqual([]);
    // All three explanations occur, and the care team is the most common.
    expect(kinds['care-relationship']).toBeGreaterThan(0);
    expect(kinds['department-encounter']).toBeGreaterThan(0);
    expect(kinds.emergency).toBeGreaterThan(0);
    expect(kinds.coding).toBeGreaterThan(0);
  });

  it('keeps each user\'s daily volume of distinct patients steady (a baseline to learn)', () => {
    const perUserDay = new Map<string, Map<number, Set<string>>>();
    const plantedIds = new Set(hospital.planted.flatMap((p) => p.eventIds));
    for (const { event } of traffic) {
      if (!event.patient || event.actor.type !== 'user' || plantedIds.has(event.id)) continue;
      const day = Math.floor((Date.parse(event.occurredAt) - START.getTime() - 7 * HOUR) / DAY);
      const days = perUserDay.get(event.actor.id) ?? perUserDay.set(event.actor.id, new Map()).get(event.actor.id)!;
      (days.get(day) ?? days.set(day, new Set()).get(day)!).add(event.patient.id);
    }
    let spread = 0;
    let users = 0;
    for (const days of perUserDay.values()) {
      const counts = [...days.values()].map((s) => s.size).filter((n) => n > 0);
      if (counts.length < 3) continue;
      users++;
      if (Math.max(...counts) > 3 * Math.max(3, Math.min(...counts))) spread++;
    }
    expect(users).toBeGreaterThan(100);
    expect(spread / users).toBeLessThan(0.05);
  });

  it('delivers as the integrations do: live, the oncology and encoder logs in nightly batches, PACS an hour behind', () => {
    const lag = new Map<string, number[]>();
    for (const { event, receivedAtMs } of traffic) {
      const list = lag.get(event.source.integration!) ?? lag.set(event.source.integration!, []).get(event.source.integration!)!;
      list.push(receivedAtMs - Date.parse(event.occurredAt));
    }
    const max = (k: string) => Math.max(...lag.get(k)!);
    const min = (k: string) => Math.min(...lag.get(k)!);
    expect(max('ehr-main')).toBeLessThan(2_000);
    expect(min('pacs')).toBeGreaterThanOrEqual(HOUR);
    expect(max('pacs')).toBeLessThan(HOUR + 2_000);
    expect(min('onc-legacy')).toBeGreaterThanOrEqual(2 * HOUR);
    expect(max('onc-legacy')).toBeGreaterThan(DAY);
    expect(min('encoder')).toBeGreaterThanOrEqual(2 * HOUR);
    for (const { event, receivedAtMs } of traffic.filter((t) => ['onc-legacy', 'encoder'].includes(t.event.source.integration!))) {
      const stampDay = Math.floor((Date.parse(event.occurredAt) - START.getTime()) / DAY);
      expect(new Date(receivedAtMs).getUTCHours()).toBe(2);
      expect(Math.floor((receivedAtMs - START.getTime()) / DAY)).toBe(stampDay + 1);
    }
    expect(lag.get('billing')!.length).toBeGreaterThan(0);
    expect(lag.get('hie')!.length).toBeGreaterThan(0);
  });

  it('plants one instance of each privacy scenario, carrying exactly its relationship', () => {
    const records = hospitalContext(hospital);
    const context = contextOf(records);
    const events = new Map(traffic.map((t) => [t.event.id, t.event]));
    expect(hospital.planted.map((p) => p.scenario).sort()).toEqual(
      ['bulk-read', 'coworker-record', 'department-mismatch', 'outside-usual-hours', 'related-person', 'same-address', 'same-surname', 'self-access', 'terminated-user', 'unusual-volume', 'vip-record'].sort(),
    );
    expect(new Set(hospital.planted.map((p) => p.actorId)).size).toBe(hospital.planted.length);
    for (const p of hospital.planted) {
      const first = events.get(p.eventIds[0])!;
      expect(first).toBeDefined();
      const at = Date.parse(first.occurredAt);
      const user = context.userAt(p.actorId, at)!;
      const patient = context.patientAt(first.patient!.id, at)!;
      const explained = explainAccess(first, context, at).explained;
      const sameFamily = user.familyToken === patient.familyToken;
      const sameAddress = user.homeAddressToken === patient.addressToken;
      const related = patient.relatedPersons.some((r) => r.familyToken === user.familyToken && r.addressToken === user.homeAddressToken);
      const facts = { self: user.patientId === patient.id, sameFamily, sameAddress, related, vip: patient.vip, coworker: context.workforceMemberWithPatientId(patient.id, at) !== undefined, terminated: user.status === 'terminated', explained };
      const none = { self: false, sameFamily: false, sameAddress: false, related: false, vip: false, coworker: false, terminated: false, explained: false };
      const expected: Record<string, Partial<typeof facts>> = {
        'self-access': { self: true, sameFamily: true, sameAddress: true, coworker: true },
        'same-surname': { sameFamily: true },
        'same-address': { sameAddress: true },
        'related-person': { related: true },
        'coworker-record': { coworker: true },
        'vip-record': { vip: true },
        'terminated-user': { terminated: true, explained: true },
        'department-mismatch': {},
        'outside-usual-hours': {},
        'unusual-volume': { explained: true },
        'bulk-read': {},
      };
      expect({ scenario: p.scenario, ...facts }).toEqual({ scenario: p.scenario, ...none, ...expected[p.scenario] });
    }
    const byScenario = Object.fromEntries(hospital.planted.map((p) => [p.scenario, p]));
    expect(byScenario['bulk-read'].eventIds).toHaveLength(60);
    expect(byScenario['bulk-read'].integration).toBe('encoder');
    expect(byScenario['department-mismatch'].integration).toBe('pacs');
    const mismatch = events.get(byScenario['department-mismatch'].eventIds[0])!;
    expect(context.encountersAt(mismatch.patient!.id, Date.parse(mismatch.occurredAt)).length).toBeGreaterThan(0);
    expect(new Date(events.get(byScenario['outside-usual-hours'].eventIds[0])!.occurredAt).getUTCHours()).toBe(3);
  });

  it('at its default activity, a tenth of the issue\'s workforce makes a tenth of its 10-million-event week', () => {
    // Traffic grows linearly with the workforce (3,000 staff: 10.2 million events with seed 42).
    const tenth = buildHospital({ staff: 300, days: 7, seed: 42, start: START });
    expect(tenth.eventsPerShift).toBe(DEFAULT_EVENTS_PER_SHIFT);
    let events = 0;
    for (const _ of hospitalTraffic(tenth)) events++;
    expect(events).toBeGreaterThanOrEqual(1_000_000);
  });
});
