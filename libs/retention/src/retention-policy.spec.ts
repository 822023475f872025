/** The retention policy model: defaults, the config file format, validation, and tier decisions over time. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseRetentionDuration, formatRetentionDuration, subtractDuration } from './retention-duration';
import {
  DEFAULT_RETENTION_POLICY,
  RetentionPolicyError,
  parseRetentionPolicy,
  retentionCutoffs,
  retentionPolicyDocument,
  retentionStages,
  retentionTierAt,
} from './retention-policy';
import { BUILT_IN_POLICY_SOURCE, RetentionConfigError, loadRetentionPolicy } from './retention-policy-file';

const REPO_POLICY = path.resolve(__dirname, '../../../config/retention.yml');
const YEAR_MS = 365.2425 * 86_400_000;

function issuesOf(doc: unknown): string[] {
  try {
    parseRetentionPolicy(doc);
    return [];
  } catch (err) {
    expect(err).toBeInstanceOf(RetentionPolicyError);
    return (err as RetentionPolicyError).issues.map((i) => i.path);
  }
}

describe('retention durations', () => {
  it.each([
    ['P7Y', { years: 7, months: 0, days: 0 }, 'P7Y'],
    ['P1Y6M', { years: 1, months: 6, days: 0 }, 'P1Y6M'],
    ['P90D', { years: 0, months: 0, days: 90 }, 'P90D'],
    ['P12W', { years: 0, months: 0, days: 84 }, 'P84D'],
    ['7y', { years: 7, months: 0, days: 0 }, 'P7Y'],
    ['18mo', { years: 0, months: 18, days: 0 }, 'P18M'],
    ['90d', { years: 0, months: 0, days: 90 }, 'P90D'],
  ])('%s', (text, parsed, canonical) => {
    expect(parseRetentionDuration(text)).toEqual(parsed);
    expect(formatRetentionDuration(parseRetentionDuration(text)!)).toBe(canonical);
  });

  it.each(['', 'P', 'PT5M', '7 years', '-1y', 7, null, '1.5y'])('refuses %p', (text) => {
    expect(parseRetentionDuration(text)).toBeNull();
  });

  it('subtracts by the UTC calendar', () => {
    expect(new Date(subtractDuration(Date.parse('2030-03-15T12:00:00Z'), { years: 6, months: 0, days: 0 })).toISOString()).toBe('2024-03-15T12:00:00.000Z');
    expect(new Date(subtractDuration(Date.parse('2030-03-01T00:00:00Z'), { years: 0, months: 1, days: 1 })).toISOString()).toBe('2030-01-31T00:00:00.000Z');
  });
});

describe('retention policy', () => {
  it('defaults: authentication, security, system access 7 years; data access, modification, administrative 6 years; hot 90 days, warm until 1 year', () => {
    const doc = retentionPolicyDocument(DEFAULT_RETENTION_POLICY);
    expect(Object.fromEntries(Object.entries(doc.categories).map(([c, p]) => [c, p!.retain]))).toEqual({
      authentication: 'P7Y',
      security: 'P7Y',
      system_access: 'P7Y',
      data_access: 'P6Y',
      data_modification: 'P6Y',
      administrative: 'P6Y',
    });
    for (const p of Object.values(doc.categories)) expect(p!.tiers).toEqual({ hot: 'P90D', warm: 'P1Y' });
  });

  it('config/retention.yml states exactly the built-in defaults', () => {
    const loaded = loadRetentionPolicy(REPO_POLICY);
    expect(loaded.source).toBe(REPO_POLICY);
    expect(loaded.policy).toEqual(DEFAULT_RETENTION_POLICY);
    expect(loadRetentionPolicy(undefined)).toEqual({ policy: DEFAULT_RETENTION_POLICY, source: BUILT_IN_POLICY_SOURCE });
  });

  it('a document fills what it leaves out from the defaults; per-category tiers override shared ones', () => {
    const p = parseRetentionPolicy({ version: 1, tiers: { hot: '30d' }, categories: { data_access: { retain: 'P10Y', tiers: { hot: 'P7D', warm: 'P2Y' } } } });
    expect(retentionPolicyDocument(p).categories.data_access).toEqual({ retain: 'P10Y', tiers: { hot: 'P7D', warm: 'P2Y' } });
    expect(retentionPolicyDocument(p).categories.security).toEqual({ retain: 'P7Y', tiers: { hot: 'P30D', warm: 'P1Y' } });
  });

  it('tiers may state all four ages: hot, warm, cold and delete (leaving cold = deletion = retain)', () => {
    const p = parseRetentionPolicy({ categories: { data_access: { tiers: { hot: 'P30D', warm: 'P2Y', cold: 'P10Y', delete: 'P10Y' } }, security: { tiers: { delete: 'P9Y' } } } });
    expect(retentionPolicyDocument(p).categories.data_access).toEqual({ retain: 'P10Y', tiers: { hot: 'P30D', warm: 'P2Y' } });
    expect(retentionPolicyDocument(p).categories.security?.retain).toBe('P9Y');
    expect(retentionPolicyDocument(parseRetentionPolicy({ tiers: { cold: 'P8Y' } })).categories.administrative?.retain).toBe('P8Y');
    expect(issuesOf({ categories: { data_access: { tiers: { cold: 'P6Y', delete: 'P7Y' } } } })).toEqual(['categories.data_access.tiers.cold']);
    expect(issuesOf({ categories: { data_access: { retain: 'P6Y', tiers: { delete: 'P7Y' } } } })).toEqual(['categories.data_access.tiers.delete']);
    expect(issuesOf({ tiers: { lukewarm: 'P1Y' } })).toEqual(['tiers.lukewarm']);
  });

  it('round-trips: the document of a policy parses back to the same policy', () => {
    const p = parseRetentionPolicy({ categories: { administrative: { retain: 'P8Y6M' } } });
    expect(parseRetentionPolicy(retentionPolicyDocument(p))).toEqual(p);
  });

  it('names every bad key', () => {
    expect(issuesOf({ version: 2 })).toEqual(['version']);
    expect(issuesOf({ categories: { data_acess: { retain: 'P6Y' } } })).toEqual(['categories.data_acess']);
    expect(issuesOf({ categories: { data_access: { retain: 'six years' } } })).toEqual(['categories.data_access.retain']);
    expect(issuesOf({ categories: { data_access: { retain: 'P6Y', keep: true } } })).toEqual(['categories.data_access.keep']);
    expect(issuesOf({ tiers: { hot: 'P2Y' } })).toHaveLength(6); // hot longer than warm in every category
    expect(issuesOf({ categories: { security: { retain: 'P180D' } } })).toEqual(['categories.security.tiers.warm']);
    expect(issuesOf({ categories: { security: { retain: 'P0D', tiers: { hot: 'P0D', warm: 'P0D' } } } })).toEqual(['categories.security.retain']);
    expect(issuesOf([])).toEqual(['']);
  });

  it('a bad file stops start-up naming RETENTION_CONFIG, the file and the key', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'retention-policy-'));
    const bad = path.join(dir, 'bad.yml');
    fs.writeFileSync(bad, 'categories:\n  data_access: { retain: forever }\n');
    expect(() => loadRetentionPolicy(bad)).toThrow(RetentionConfigError);
    expect(() => loadRetentionPolicy(bad)).toThrow(/^RETENTION_CONFIG: .*bad\.yml: categories\.data_access\.retain: must be a duration/);
    fs.writeFileSync(path.join(dir, 'p.json'), JSON.stringify({ categories: { data_access: { retain: 'P7Y' } } }));
    expect(retentionPolicyDocument(loadRetentionPolicy(path.join(dir, 'p.json')).policy).categories.data_access!.retain).toBe('P7Y');
    expect(() => loadRetentionPolicy(path.join(dir, 'missing.yml'))).toThrow(/RETENTION_CONFIG: cannot read .*missing\.yml \(ENOENT\)/);
    fs.writeFileSync(path.join(dir, 'dup.yml'), 'version: 1\nversion: 1\n');
    expect(() => loadRetentionPolicy(path.join(dir, 'dup.yml'))).toThrow(/not valid YAML/);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('life cycle stages in order, skipping a tier with no time in it', () => {
    expect(retentionStages(DEFAULT_RETENTION_POLICY.categories.data_access)).toEqual([
      { stage: 'hot', fromAge: 'P0D', untilAge: 'P90D' },
      { stage: 'warm', fromAge: 'P90D', untilAge: 'P1Y' },
      { stage: 'cold', fromAge: 'P1Y', untilAge: 'P6Y' },
      { stage: 'delete', fromAge: 'P6Y', untilAge: null },
    ]);
    const noWarm = parseRetentionPolicy({ tiers: { hot: 'P1Y', warm: 'P1Y' } });
    expect(retentionStages(noWarm.categories.security).map((s) => s.stage)).toEqual(['hot', 'cold', 'delete']);
  });

  it('time travel: +5 y nothing deleted; +6.5 y data access deleted, authentication cold; +8 y both deleted', () => {
    const received = Date.parse('2026-03-02T10:15:00Z');
    const at = (years: number) => received + years * YEAR_MS;
    const p = DEFAULT_RETENTION_POLICY;
    expect(retentionTierAt(p, 'data_access', received, at(0.1))).toBe('hot');
    expect(retentionTierAt(p, 'data_access', received, at(0.5))).toBe('warm');
    expect(retentionTierAt(p, 'data_access', received, at(5))).toBe('cold');
    expect(retentionTierAt(p, 'authentication', received, at(5))).toBe('cold');
    expect(retentionTierAt(p, 'data_access', received, at(6.5))).toBe('delete');
    expect(retentionTierAt(p, 'authentication', received, at(6.5))).toBe('cold');
    expect(retentionTierAt(p, 'data_access', received, at(8))).toBe('delete');
    expect(retentionTierAt(p, 'authentication', received, at(8))).toBe('delete');
    const c = retentionCutoffs(p, 'data_access', Date.parse('2032-03-02T10:15:00Z'));
    expect(new Date(c.deleteIfReceivedBefore).toISOString()).toBe('2026-03-02T10:15:00.000Z');
    expect(c.deleteIfReceivedBefore).toBeLessThan(c.coldIfReceivedBefore);
    expect(c.coldIfReceivedBefore).toBeLessThan(c.warmIfReceivedBefore);
  });
});
