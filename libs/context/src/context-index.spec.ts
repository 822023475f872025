/**
 * The in-memory context index as detection reads it: versions answered as of a time (the earliest
 * also before it; a termination dated later is not yet in force), encounters replaced by their
 * newest version and open only within start..end, co-worker lookup by own patient id; and the
 * matching-token normalization (case, accents, whitespace, NFKC) with domain separation.
 */
import { createSecretKey, randomBytes } from 'node:crypto';
import { ContextIndex } from './context-index';
import { ContextVersion } from './context-records';
import { MatchingTokenizer, normalizeMatchingValue } from './matching-tokens';

const DAY = 86_400_000;
const T = Date.parse('2026-05-10T00:00:00Z');
const user = (validFromMs: number, record: Record<string, unknown>): ContextVersion => ({ kind: 'users', validFromMs, receivedAtMs: validFromMs, record: { id: 'u1', status: 'active', ...record } as never });

describe('ContextIndex', () => {
  it('answers users as of a time', () => {
    const index = new ContextIndex();
    index.apply([user(T - 10 * DAY, { department: 'ed' }), user(T - 2 * DAY, { department: 'icu' }), user(T, { status: 'terminated', terminatedAt: new Date(T + DAY).toISOString(), department: 'icu' })]);
    expect(index.userAt('u1', T - 30 * DAY)?.department).toBe('ed'); // before the first version: the first
    expect(index.userAt('u1', T - 5 * DAY)?.department).toBe('ed');
    expect(index.userAt('u1', T - DAY)?.department).toBe('icu');
    // The terminated version is valid from T, but the termination is dated T + 1 day.
    expect(index.userAt('u1', T + 3_600_000)?.status).toBe('active');
    expect(index.userAt('u1', T + 2 * DAY)?.status).toBe('terminated');
    expect(index.userAt('nobody', T)).toBeUndefined();
    expect(index.status().users).toMatchObject({ records: 1, versions: 3 });
  });

  it('replaces an encounter by its newest version and answers the open ones', () => {
    const index = new ContextIndex();
    const enc = (record: Record<string, unknown>): ContextVersion => ({ kind: 'encounters', validFromMs: T, receivedAtMs: T, record: { id: 'e1', patientId: 'P1', participants: ['u1'], startMs: T - DAY, ...record } as never });
    index.applyOne(enc({}));
    expect(index.encountersAt('P1', T + 5 * DAY).map((e) => e.id)).toEqual(['e1']);
    index.applyOne(enc({ endMs: T, participants: ['u1', 'u2'], department: 'ed' }));
    expect(index.encountersAt('P1', T + 5 * DAY)).toEqual([]);
    expect(index.encountersAt('P1', T - 3_600_000)).toEqual([{ id: 'e1', patientId: 'P1', participants: ['u1', 'u2'], department: 'ed', startMs: T - DAY, endMs: T }]);
    expect(index.encountersAt('P1', T - 2 * DAY)).toEqual([]);
    // Moved to another patient: gone from the first.
    index.applyOne(enc({ patientId: 'P2' }));
    expect(index.encountersAt('P1', T - 3_600_000)).toEqual([]);
    expect(index.encountersAt('P2', T - 3_600_000).map((e) => e.id)).toEqual(['e1']);
    expect(index.status().encounters).toMatchObject({ records: 1, versions: 3 });
  });

  it('keeps the encounter version received last whatever order versions are applied in, when ordered by receipt (another instance\'s write read late)', () => {
    const enc = (receivedAtMs: number, record: Record<string, unknown>): ContextVersion => ({ kind: 'encounters', validFromMs: receivedAtMs, receivedAtMs, record: { id: 'e1', patientId: 'P1', participants: ['u1'], startMs: T - DAY, ...record } as never });
    const closed = enc(T + 2000, { endMs: T });
    const open = enc(T + 1000, {});
    const inOrder = new ContextIndex();
    inOrder.apply([open, closed]);
    const late = new ContextIndex();
    late.orderEncountersByReceipt();
    late.apply([closed, open]);
    for (const index of [inOrder, late]) {
      expect(index.encountersAt('P1', T + 5 * DAY)).toEqual([]);
      expect(index.encountersAt('P1', T - 3_600_000).map((e) => e.endMs)).toEqual([T]);
      expect(index.status().encounters).toMatchObject({ records: 1, versions: 2 });
    }
    // Without it (the embedded store, one writer, loaded in the order applied) the one applied last wins.
    const embedded = new ContextIndex();
    embedded.apply([closed, open]);
    expect(embedded.encountersAt('P1', T + 5 * DAY).map((e) => e.endMs)).toEqual([undefined]);
    // Users and patients take their place by validity time, not by arrival.
    const users = new ContextIndex();
    users.apply([user(T, { department: 'icu' }), user(T - 5 * DAY, { department: 'ed' })]);
    expect(users.userAt('u1', T - DAY)?.department).toBe('ed');
    expect(users.userAt('u1', T + DAY)?.department).toBe('icu');
  });

  it('answers the open encounters exactly at every start and end, asked again and again in any order, and after a change', () => {
    const index = new ContextIndex();
    const H = 3_600_000;
    const records: { id: string; patientId: string; participants: string[]; startMs: number; endMs?: number }[] = [
      { id: 'a', patientId: 'P1', participants: ['u1'], startMs: T, endMs: T + 4 * H },
      { id: 'b', patientId: 'P1', participants: ['u2'], startMs: T + 2 * H, endMs: T + 6 * H },
      { id: 'c', patientId: 'P1', participants: ['u3'], startMs: T + 8 * H },
      { id: 'd', patientId: 'P1', participants: ['u4'], startMs: T + 5 * H, endMs: T + 5 * H },
    ];
    for (const r of records) index.applyOne({ kind: 'encounters', validFromMs: T, receivedAtMs: T, record: r as never });
    const expected = (at: number) => records.filter((r) => r.patientId === 'P1' && r.startMs <= at && (r.endMs === undefined || at <= r.endMs)).map((r) => r.id).sort();
    const edges = records.flatMap((r) => [r.startMs, r.endMs ?? r.startMs]);
    const times = edges.flatMap((t) => [t - 1, t, t + 1, t + 0.5, t + H / 2]);
    // Forward, backward, and forward again (each answer is remembered for the span it holds in).
    const asked = [...times, ...[...times].reverse(), ...times];
    const wrong = asked.filter((t) => JSON.stringify(index.encountersAt('P1', t).map((e) => e.id).sort()) !== JSON.stringify(expected(t)));
    expect(wrong).toEqual([]);
    // A new encounter of the patient, and a changed end: the next answers follow them.
    index.applyOne({ kind: 'encounters', validFromMs: T, receivedAtMs: T, record: { id: 'e', patientId: 'P1', participants: ['u5'], startMs: T + H } as never });
    records.push({ id: 'e', patientId: 'P1', participants: ['u5'], startMs: T + H });
    index.applyOne({ kind: 'encounters', validFromMs: T, receivedAtMs: T, record: { ...records[2], endMs: T + 9 * H } as never });
    records[2] = { ...records[2], endMs: T + 9 * H };
    const after = [...times, T + 9 * H, T + 9 * H + 1, T + 20 * H].filter((t) => JSON.stringify(index.encountersAt('P1', t).map((e) => e.id).sort()) !== JSON.stringify(expected(t)));
    expect(after).toEqual([]);
  });

  it('answers patients as of a time, with their related persons and flags, whichever came first of record and encounter', () => {
    const index = new ContextIndex();
    const patient = (validFromMs: number, record: Record<string, unknown>): ContextVersion => ({ kind: 'patients', validFromMs, receivedAtMs: validFromMs, record: { id: 'P1', relatedPersons: [], vip: false, deceased: false, ...record } as never });
    // An encounter names the patient before any patient record: no patient yet, but its encounter.
    index.applyOne({ kind: 'encounters', validFromMs: T, receivedAtMs: T, record: { id: 'e1', patientId: 'P1', participants: ['u1'], startMs: T - DAY } as never });
    expect(index.patientAt('P1', T)).toBeUndefined();
    expect(index.latest('patients', 'P1')).toBeUndefined();
    index.apply([
      patient(T - 10 * DAY, { familyToken: 'ctk_family1', addressToken: 'ctk_address1', relatedPersons: [{ familyToken: 'ctk_rel1' }, { addressToken: 'ctk_reladdr' }] }),
      patient(T, { familyToken: 'ctk_family2', vip: true }), // moved house: no address yet, VIP from T
      patient(T - 5 * DAY, { familyToken: 'ctk_family1', addressToken: 'ctk_address1', deceased: false }), // arrived late, valid between the two
    ]);
    expect(index.patientAt('P1', T - 30 * DAY)).toEqual({ id: 'P1', familyToken: 'ctk_family1', addressToken: 'ctk_address1', relatedPersons: [{ familyToken: 'ctk_rel1' }, { addressToken: 'ctk_reladdr' }], vip: false, deceased: false });
    expect(index.patientAt('P1', T - 3 * DAY)).toEqual({ id: 'P1', familyToken: 'ctk_family1', addressToken: 'ctk_address1', relatedPersons: [], vip: false, deceased: false });
    expect(index.patientAt('P1', T + DAY)).toEqual({ id: 'P1', familyToken: 'ctk_family2', relatedPersons: [], vip: true, deceased: false });
    expect(index.latest('patients', 'P1')).toEqual({ id: 'P1', familyToken: 'ctk_family2', relatedPersons: [], vip: true, deceased: false });
    expect(index.patientAt('P2', T)).toBeUndefined();
    expect(index.encountersAt('P1', T).map((e) => e.id)).toEqual(['e1']);
    expect(index.status().patients).toMatchObject({ records: 1, versions: 3 });
  });

  it('finds the workforce member whose own record a patient is', () => {
    const index = new ContextIndex();
    index.applyOne(user(T, { patientId: 'MRN-1' }));
    expect(index.workforceMemberWithPatientId('MRN-1', T)?.id).toBe('u1');
    expect(index.workforceMemberWithPatientId('MRN-2', T)).toBeUndefined();
  });
});

describe('matching tokens', () => {
  const key = createSecretKey(randomBytes(32));
  const tokens = new MatchingTokenizer({ tokenizationKey: () => key });

  it('normalizes case, accents, punctuation, whitespace and compatibility forms', () => {
    expect(normalizeMatchingValue('  Müller-Lüdenscheidt\t')).toBe('muller ludenscheidt');
    expect(normalizeMatchingValue('ＧＡＲＣÍＡ')).toBe('garcia');
    expect(normalizeMatchingValue('12  Main St.')).toBe('12 main st');
    expect(tokens.token('name', 'O\u0301scar')).toBe(tokens.token('name', 'óscar'));
    expect(tokens.token('name', 'Rivera')).toMatch(/^ctk_[a-z2-7]{24}$/);
  });

  it('keeps names and addresses apart, and needs letters or digits', () => {
    expect(tokens.token('name', 'Baker Street')).not.toBe(tokens.token('address', 'Baker Street'));
    expect(tokens.token('name', ' -- ')).toBeUndefined();
    const other = new MatchingTokenizer({ tokenizationKey: () => createSecretKey(randomBytes(32)) });
    expect(other.token('name', 'Rivera')).not.toBe(tokens.token('name', 'Rivera'));
  });
});
