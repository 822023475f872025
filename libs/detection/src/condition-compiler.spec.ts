/**
 * Each condition operator, the combinators, details fields and time-of-day / day-of-week
 * conditions in a time zone (including across a daylight-saving change).
 */
import { AccessEvent } from '@app/core';
import { compileWhere, indexHints, Issue, Predicate } from './condition-compiler';
import { EventFacts } from './event-facts';
import { InMemoryAccessContext } from './in-memory-access-context';
import { event, T0 } from './test-support';

function compile(where: unknown, timeZone = 'UTC'): Predicate {
  const issues: Issue[] = [];
  const predicate = compileWhere(where, ['where'], { timeZone, issues });
  if (issues.length > 0) throw new Error(issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  return predicate;
}

function matches(where: unknown, e: AccessEvent, timeZone = 'UTC'): boolean {
  return compile(where, timeZone)(e, Date.parse(e.occurredAt));
}

const read = event(0, { patient: { id: 'p-1' }, recordCount: 25, purpose: 'TREAT', sensitivity: ['vip', 'behavioral_health'], resource: { type: 'Observation' }, details: { risk: 7, 'app.name': 'portal' } });
const bare = event(0);

describe('field operators', () => {
  it('equality and lists (any of)', () => {
    expect(matches({ action: 'read' }, read)).toBe(true);
    expect(matches({ action: 'export' }, read)).toBe(false);
    expect(matches({ action: ['query', 'read'] }, read)).toBe(true);
    expect(matches({ action: ['query', 'export'] }, read)).toBe(false);
    expect(matches({ 'actor.role': { eq: 'nurse' } }, read)).toBe(true);
    expect(matches({ 'actor.role': { in: ['physician', 'nurse'] } }, read)).toBe(true);
    expect(matches({ 'patient.id': 'p-1' }, bare)).toBe(false);
  });

  it('not: none of the values, and true for a missing field', () => {
    expect(matches({ purpose: { not: 'TREAT' } }, read)).toBe(false);
    expect(matches({ purpose: { not: ['PAYMENT', 'OPERATIONS'] } }, read)).toBe(true);
    expect(matches({ purpose: { not: 'TREAT' } }, bare)).toBe(true);
  });

  it('numeric comparisons', () => {
    expect(matches({ recordCount: { gte: 25 } }, read)).toBe(true);
    expect(matches({ recordCount: { gt: 25 } }, read)).toBe(false);
    expect(matches({ recordCount: { lte: 25 } }, read)).toBe(true);
    expect(matches({ recordCount: { lt: 25 } }, read)).toBe(false);
    expect(matches({ recordCount: { gte: 10, lt: 100 } }, read)).toBe(true);
    expect(matches({ recordCount: { gte: 0 } }, bare)).toBe(false);
  });

  it('prefixes', () => {
    expect(matches({ 'resource.type': { prefix: 'Obs' } }, read)).toBe(true);
    expect(matches({ 'resource.type': { prefix: ['Pat', 'Enc'] } }, read)).toBe(false);
    expect(matches({ 'actor.ip': { prefix: '10.' } }, read)).toBe(true);
    expect(matches({ sensitivity: { prefix: 'behav' } }, read)).toBe(true);
  });

  it('exists, with empty lists counting as absent', () => {
    expect(matches({ 'patient.id': { exists: true } }, read)).toBe(true);
    expect(matches({ 'patient.id': { exists: true } }, bare)).toBe(false);
    expect(matches({ 'patient.id': { exists: false } }, bare)).toBe(true);
    expect(matches({ sensitivity: { exists: true } }, event(0, { sensitivity: [] }))).toBe(false);
  });

  it('array contains (and plain values on a list field mean contains)', () => {
    expect(matches({ sensitivity: { contains: 'vip' } }, read)).toBe(true);
    expect(matches({ sensitivity: { contains: ['hiv', 'substance_use'] } }, read)).toBe(false);
    expect(matches({ sensitivity: ['hiv', 'behavioral_health'] }, read)).toBe(true);
    expect(matches({ sensitivity: { not: 'vip' } }, read)).toBe(false);
    expect(matches({ sensitivity: { contains: 'vip' } }, bare)).toBe(false);
  });

  it('details.<key>, including keys with dots', () => {
    expect(matches({ 'details.risk': { gte: 5 } }, read)).toBe(true);
    expect(matches({ 'details.app.name': 'portal' }, read)).toBe(true);
    expect(matches({ 'details.risk': { gte: 5 } }, bare)).toBe(false);
  });
});

describe('combinators', () => {
  it('all entries of a map must hold', () => {
    expect(matches({ action: 'read', outcome: 'success', 'actor.type': 'user' }, read)).toBe(true);
    expect(matches({ action: 'read', outcome: 'denied' }, read)).toBe(false);
  });

  it('any, all and not', () => {
    expect(matches({ any: [{ action: 'export' }, { recordCount: { gte: 20 } }] }, read)).toBe(true);
    expect(matches({ any: [{ action: 'export' }, { recordCount: { gte: 200 } }] }, read)).toBe(false);
    expect(matches({ all: [{ action: 'read' }, { recordCount: { gte: 20 } }] }, read)).toBe(true);
    expect(matches({ not: { action: 'read' } }, read)).toBe(false);
    expect(matches({ not: { any: [{ action: 'export' }, { outcome: 'denied' }] } }, read)).toBe(true);
  });

  it('no where at all matches every event', () => {
    expect(matches(undefined, bare)).toBe(true);
  });
});

describe('time of day and day of week', () => {
  const at = (iso: string) => event(0, { occurredAt: iso });

  it('between, with the end exclusive', () => {
    const business = { time: { between: ['07:00', '19:00'] } };
    expect(matches(business, at('2024-03-05T07:00:00Z'))).toBe(true);
    expect(matches(business, at('2024-03-05T18:59:59Z'))).toBe(true);
    expect(matches(business, at('2024-03-05T19:00:00Z'))).toBe(false);
    expect(matches(business, at('2024-03-05T06:59:59Z'))).toBe(false);
  });

  it('between that wraps past midnight, and outside', () => {
    const night = { time: { between: ['22:00', '06:00'] } };
    expect(matches(night, at('2024-03-05T23:30:00Z'))).toBe(true);
    expect(matches(night, at('2024-03-05T02:00:00Z'))).toBe(true);
    expect(matches(night, at('2024-03-05T12:00:00Z'))).toBe(false);
    expect(matches({ time: { outside: ['07:00', '19:00'] } }, at('2024-03-05T02:00:00Z'))).toBe(true);
    expect(matches({ time: { outside: ['07:00', '19:00'] } }, at('2024-03-05T12:00:00Z'))).toBe(false);
  });

  it('days of the week', () => {
    const weekend = { time: { days: ['sat', 'sun'] } };
    expect(matches(weekend, at('2024-03-09T12:00:00Z'))).toBe(true); // Saturday
    expect(matches(weekend, at('2024-03-10T23:59:59Z'))).toBe(true); // Sunday
    expect(matches(weekend, at('2024-03-11T00:00:00Z'))).toBe(false); // Monday
  });

  it('uses the configured zone, across a daylight-saving change', () => {
    const business = { time: { between: ['08:00', '18:00'] } };
    // 12:30 UTC is 07:30 in New York in winter (EST, UTC-5) and 08:30 in summer (EDT, UTC-4).
    expect(matches(business, at('2024-01-15T12:30:00Z'), 'America/New_York')).toBe(false);
    expect(matches(business, at('2024-07-15T12:30:00Z'), 'America/New_York')).toBe(true);
    // The change itself: 2024-03-10 07:00 UTC is 03:00 EDT; a minute earlier was 01:59 EST.
    const early = { time: { between: ['03:00', '04:00'] } };
    const predicate = compile(early, 'America/New_York');
    expect(predicate(bare, Date.parse('2024-03-10T06:59:00Z'))).toBe(false);
    expect(predicate(bare, Date.parse('2024-03-10T07:00:00Z'))).toBe(true);
    // Local day: 2024-03-09 02:00 UTC is still Friday evening in New York.
    expect(matches({ time: { days: ['fri'] } }, at('2024-03-09T02:00:00Z'), 'America/New_York')).toBe(true);
    expect(matches({ time: { days: ['fri'] } }, at('2024-03-09T02:00:00Z'), 'UTC')).toBe(false);
  });

  it('a zone named in the condition wins over the rule default; half-hour zones work', () => {
    // 2024-03-05 13:45 UTC is 19:15 in Kolkata (UTC+5:30).
    expect(matches({ time: { zone: 'Asia/Kolkata', between: ['19:00', '19:30'] } }, at('2024-03-05T13:45:00Z'), 'America/New_York')).toBe(true);
  });
});

describe('indexHints', () => {
  it('reads the category and action sets a rule can admit', () => {
    const hints = indexHints({ category: 'data_access', action: { in: ['read', 'query'] }, outcome: 'success' });
    expect([...hints.categories!]).toEqual(['data_access']);
    expect([...hints.actions!]).toEqual(['read', 'query']);
    expect(indexHints({ action: { not: 'read' } }).actions).toBeUndefined();
    expect(indexHints(undefined)).toEqual({});
  });
});

describe('context, comparisons and baselines (issue 13)', () => {
  const problems = (where: unknown): string[] => {
    const issues: Issue[] = [];
    compileWhere(where, ['where'], { timeZone: 'UTC', issues });
    return issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  it('reads context fields through the facts, and the explanation', () => {
    const context = InMemoryAccessContext.fromRecords({
      users: [{ id: 'user-1', family: 'Smith', department: 'icu', status: 'active' }],
      patients: [{ id: 'p-1', family: 'SMITH', vip: true, relatedPersons: [{ family: 'Jones' }] }],
      encounters: [{ id: 'e-1', patient: { id: 'p-1' }, department: 'oncology', start: '2024-01-01T00:00:00Z' }],
    });
    const facts = new EventFacts(context).reset(read, T0);
    const holds = (where: unknown) => compile(where)(read, T0, facts);
    expect(holds({ 'actor.context.department': 'icu', 'patient.context.vip': true })).toBe(true);
    expect(holds({ same: ['actor.context.family', 'patient.context.family'] })).toBe(true);
    expect(holds({ same: ['actor.context.family', 'patient.context.relatedFamilies'] })).toBe(false);
    expect(holds({ explained: false, explanation: 'unexplained', 'patient.context.openEncounters': { gte: 1 } })).toBe(true);
    expect(holds({ 'patient.context.encounterDepartments': { contains: 'oncology' } })).toBe(true);
    // Without facts (outside the engine) nothing is known about the actor or patient.
    expect(compile({ 'actor.context.known': false })(read, T0)).toBe(true);
    expect(compile({ same: ['actor.context.family', 'patient.context.family'] })(read, T0)).toBe(false);
  });

  it('refuses, naming the field, what cannot mean anything', () => {
    expect(problems({ 'actor.context.family': 'Smith' })).toEqual([
      'where.actor.context.family: actor.context.family holds a keyed token (never a clear value): use { exists: true|false }, or compare it with same: [actor.context.family, <other field>]',
    ]);
    expect(problems({ same: ['actor.context.surname', 'patient.context.family'] })[0]).toMatch(/^where\.same\.0: "actor\.context\.surname" is not a field/);
    expect(problems({ same: 'actor.context.family' })).toEqual(['where.same: must be two field paths to compare, e.g. [actor.context.family, patient.context.family]']);
    expect(problems({ 'actor.context.status': 'fired' })[0]).toMatch(/^where\.actor\.context\.status: "fired" is not a valid actor\.context\.status/);
    expect(problems({ baseline: { hours: 'late' } })).toEqual(['where.baseline.hours: must be usual or unusual']);
    expect(problems({ baseline: { of: 'team', volume: 3 } })).toEqual([
      'where.baseline.volume: unknown baseline condition "volume" (one of: of, minDays, learned, hours, minShare, dailyPatients)',
      'where.baseline.of: must be user or peers',
      'where.baseline: needs at least one of learned, hours or dailyPatients',
    ]);
    expect(problems({ baseline: { dailyPatients: { above: 0.5 } } })).toEqual(['where.baseline.dailyPatients.above: must be a factor of at least 1']);
    expect(problems({ explained: 'no' })).toEqual(['where.explained: explained is true or false']);
  });
});
