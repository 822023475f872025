/**
 * Ingest admission tests (plain inputs, no Nest): the integrations file format and its errors,
 * source ownership (refusal pointers without values, filling in source.integration), and
 * per-integration rate limits counting events with their overrides.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ProblemError } from '@app/core';
import { IngestAdmission } from './ingest-admission.service';
import { IngestRateLimiter } from './ingest-rate-limiter';
import { IntegrationSettings, IntegrationSettingsError } from './integration-settings';
import type { Principal } from './principal';
import { SourceOwnershipService } from './source-ownership.service';

const ehr: Principal = { sub: 'sample-ehr', role: 'integration', integration: 'sample-ehr', scopes: ['events:write'], via: 'token' };
const settings = IntegrationSettings.parse(JSON.stringify({ 'sample-ehr': { systems: ['ehr-gateway', 'ehr-batch'] }, billing: { eventsPerSecond: 10, burst: 20 } }));

function thrown(fn: () => void): ProblemError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ProblemError) return err;
    throw err;
  }
  throw new Error('expected a ProblemError');
}

describe('IntegrationSettings', () => {
  it('reads systems and rate overrides; unlisted integrations are unrestricted', () => {
    expect(settings.allowsSystem('sample-ehr', 'ehr-gateway')).toBe(true);
    expect(settings.allowsSystem('sample-ehr', 'billing-system')).toBe(false);
    expect(settings.allowsSystem('lis', 'anything')).toBe(true);
    expect(settings.allowsSystem('billing', 'anything')).toBe(true);
    expect(settings.get('billing')).toMatchObject({ eventsPerSecond: 10, burst: 20 });
  });

  it('refuses malformed files, naming the entry', () => {
    expect(() => IntegrationSettings.parse('{')).toThrow(IntegrationSettingsError);
    expect(() => IntegrationSettings.parse('{"Bad Id!": {}}')).toThrow(/integration ids/);
    expect(() => IntegrationSettings.parse('{"a": {"system": ["x"]}}')).toThrow(/a: Unrecognized key/);
    expect(() => IntegrationSettings.parse('{"a": {"systems": "x"}}')).toThrow(/a\.systems/);
  });

  it('loads DATA_DIR/integrations.json when present, requires INTEGRATIONS_FILE when set', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'integrations-'));
    try {
      expect(IntegrationSettings.load({ dataDir: dir }).sourceFile).toBeNull();
      expect(() => IntegrationSettings.load({ dataDir: dir, integrationsFile: path.join(dir, 'missing.json') })).toThrow(/cannot be read \(ENOENT\)/);
      fs.writeFileSync(path.join(dir, 'integrations.json'), '{"x": {"systems": ["s"]}}');
      const loaded = IntegrationSettings.load({ dataDir: dir });
      expect(loaded.allowsSystem('x', 'other')).toBe(false);
      expect(loaded.sourceFile).toBe(path.join(dir, 'integrations.json'));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('SourceOwnershipService', () => {
  const ownership = new SourceOwnershipService(settings);

  it('fills in an absent source.integration with the caller and accepts its own', () => {
    const events = [{ source: { system: 'ehr-gateway' } }, { source: { system: 'ehr-batch', integration: 'sample-ehr' } }];
    ownership.enforce(ehr, events, true);
    expect(events.map((e) => e.source.integration)).toEqual(['sample-ehr', 'sample-ehr']);
  });

  it('refuses another integration or a system not allowed, naming paths, not values, and changes nothing', () => {
    const events = [
      { source: { system: 'ehr-gateway' } },
      { source: { system: 'ehr-gateway', integration: 'billing' } },
      { source: { system: 'SECRET-SYSTEM-77' } },
    ];
    const problem = thrown(() => ownership.enforce(ehr, events, true));
    expect(problem.status).toBe(403);
    expect(problem.body.type).toMatch(/source-not-allowed$/);
    expect(problem.body.errors?.map((e) => [e.index, e.pointer])).toEqual([
      [1, '/events/1/source/integration'],
      [2, '/events/2/source/system'],
    ]);
    expect(JSON.stringify(problem.body)).not.toMatch(/billing|SECRET-SYSTEM-77/);
    expect(events[0]!.source).toEqual({ system: 'ehr-gateway' }); // all-or-nothing
  });

  it('uses single-event pointers, and leaves malformed shapes to validation', () => {
    expect(thrown(() => ownership.enforce(ehr, [{ source: { system: 'ehr-gateway', integration: 7 } }], false)).body.errors).toEqual([
      { pointer: '/source/integration', message: 'names an integration other than the authenticated one' },
    ]);
    expect(() => ownership.enforce(ehr, [null, 'x', { source: 'text' }, { source: { system: 5 } }], true)).not.toThrow();
  });

  it('refuses principals that are not integrations', () => {
    const analyst: Principal = { sub: 'a', role: 'soc_analyst', scopes: [], via: 'token' };
    expect(thrown(() => ownership.enforce(analyst, [{ source: { system: 'ehr-gateway' } }], false)).status).toBe(403);
  });
});

describe('IngestRateLimiter and IngestAdmission', () => {
  it('counts events per integration, answers 429 with Retry-After, and refills', () => {
    let now = 0;
    const limiter = new IngestRateLimiter({ maxBatchEvents: 100, rateLimitEventsPerSecond: 100, rateLimitBurst: 200 }, settings, () => now);
    limiter.take(ehr, 200);
    const problem = thrown(() => limiter.take(ehr, 50));
    expect(problem.status).toBe(429);
    expect(problem.headers['Retry-After']).toBe('1');
    // Another integration has its own bucket.
    limiter.take({ ...ehr, sub: 'lis', integration: 'lis' }, 200);
    now = 500;
    limiter.take(ehr, 50);
  });

  it('applies per-integration overrides and RATE_LIMIT_EVENTS_PER_SECOND=0 (off)', () => {
    const limiter = new IngestRateLimiter({ maxBatchEvents: 100, rateLimitEventsPerSecond: 1000, rateLimitBurst: 1000 }, settings, () => 0);
    const billing = { ...ehr, sub: 'billing', integration: 'billing' };
    limiter.take(billing, 20);
    expect(thrown(() => limiter.take(billing, 1)).headers['Retry-After']).toBe('1');
    const off = new IngestRateLimiter({ maxBatchEvents: 100, rateLimitEventsPerSecond: 0 }, settings, () => 0);
    for (let i = 0; i < 100; i++) off.take(ehr, 100_000);
  });

  it('admits a body: rate first, then ownership; oversize batches are left to validation', () => {
    const limiter = new IngestRateLimiter({ maxBatchEvents: 3, rateLimitEventsPerSecond: 1, rateLimitBurst: 3 }, settings, () => 0);
    const admission = new IngestAdmission({ maxBatchEvents: 3 }, limiter, new SourceOwnershipService(settings));
    const body = { events: [{ source: { system: 'ehr-gateway' } }, { source: { system: 'ehr-gateway' } }] };
    admission.admitBody(ehr, body);
    expect(body.events[1]!.source).toEqual({ system: 'ehr-gateway', integration: 'sample-ehr' });
    expect(thrown(() => admission.admitBody(ehr, { events: [{}, {}] })).status).toBe(429);
    expect(() => admission.admitBody(ehr, { events: [{}, {}, {}, {}] })).not.toThrow();
  });
});
