/** Access-log records are canonical events: valid, bounded, and never carrying a patient id in clear fields. */
import { ACCESS_LOG_SOURCE_SYSTEM, EventValidator } from '@app/core';
import { buildAccessRecord, countRecords } from './access-record';

const validator = new EventValidator();

describe('buildAccessRecord', () => {
  it('builds a valid canonical event naming who, route, filters, count and the patient (sealed field only)', () => {
    const e = buildAccessRecord({
      action: 'events.query',
      principal: { sub: 'analyst-1', role: 'soc_analyst', via: 'token' },
      route: 'GET /v1/events',
      filters: { actor: 'dr-alice', limit: '5', patient: 'MRN-NEVER-IN-DETAILS' },
      patientId: 'MRN-ACCESS-1',
      patientToken: 'ptk_aaaaaaaaaaaaaaaaaaaaaaaa',
      recordCount: 5,
      outcome: 'success',
      ip: '::ffff:127.0.0.1',
    });
    expect(validator.errorsFor(e)).toEqual([]);
    expect(e).toMatchObject({
      category: 'administrative',
      action: 'events.query',
      actor: { id: 'analyst-1', type: 'user', role: 'soc_analyst', ip: '127.0.0.1' },
      patient: { id: 'MRN-ACCESS-1' },
      source: { system: ACCESS_LOG_SOURCE_SYSTEM },
      recordCount: 5,
      details: { route: 'GET /v1/events', via: 'token', 'filter.actor': 'dr-alice', 'filter.limit': '5', 'filter.patient': 'ptk_aaaaaaaaaaaaaaaaaaaaaaaa' },
    });
    expect(JSON.stringify(e.details)).not.toContain('MRN-');
  });

  it('stays valid with hostile filter names and values, too many filters, and no principal', () => {
    const filters: Record<string, unknown> = { 'we!rd key': 'x'.repeat(5000), nested: { a: [1, 2] }, list: ['a', 'b'] };
    for (let i = 0; i < 60; i++) filters[`k${i}`] = i;
    const e = buildAccessRecord({ action: 'alerts.view', principal: undefined, filters, recordCount: -3, outcome: 'failure', ip: 'not-an-ip', reason: 'r'.repeat(999) });
    expect(validator.errorsFor(e)).toEqual([]);
    expect(e.actor).toEqual({ id: 'anonymous', type: 'user' });
    expect(e.recordCount).toBe(0);
    expect(Object.keys(e.details!).length).toBeLessThanOrEqual(32);
  });
});

describe('countRecords', () => {
  it('counts list answers by their list and single answers as one', () => {
    expect(countRecords({ events: [1, 2, 3], nextCursor: null })).toBe(3);
    expect(countRecords({ alerts: [] })).toBe(0);
    expect(countRecords({ entries: [1] })).toBe(1);
    expect(countRecords({ event: {}, receipt: {} })).toBe(1);
    expect(countRecords([1, 2])).toBe(2);
    expect(countRecords(undefined)).toBe(0);
  });
});
