/** Configuration of the ingest protections: rate limit, burst, integrations file and JSON limits. */
import * as path from 'node:path';
import { ConfigError, loadConfig } from './config';

describe('ingest protection settings', () => {
  it('has documented defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ rateLimitEventsPerSecond: 20_000, rateLimitBurst: 40_000, maxJsonDepth: 8, maxFhirJsonDepth: 16, maxJsonStringLength: 8192 });
    expect(c.integrationsFile).toBeUndefined();
  });

  it('reads every key and resolves the integrations file path', () => {
    const c = loadConfig({
      RATE_LIMIT_EVENTS_PER_SECOND: '500',
      RATE_LIMIT_BURST: '5000',
      INTEGRATIONS_FILE: 'conf/integrations.json',
      MAX_JSON_DEPTH: '6',
      MAX_FHIR_JSON_DEPTH: '20',
      MAX_JSON_STRING_LENGTH: '1024',
    });
    expect(c).toMatchObject({ rateLimitEventsPerSecond: 500, rateLimitBurst: 5000, maxJsonDepth: 6, maxFhirJsonDepth: 20, maxJsonStringLength: 1024 });
    expect(c.integrationsFile).toBe(path.resolve('conf/integrations.json'));
  });

  it('derives the burst from the rate, never below one full batch', () => {
    expect(loadConfig({ RATE_LIMIT_EVENTS_PER_SECOND: '100' }).rateLimitBurst).toBe(1000);
    expect(loadConfig({ RATE_LIMIT_EVENTS_PER_SECOND: '100000' }).rateLimitBurst).toBe(200_000);
  });

  it('refuses bad values, naming the key', () => {
    expect(() => loadConfig({ RATE_LIMIT_EVENTS_PER_SECOND: '-1' })).toThrow(/RATE_LIMIT_EVENTS_PER_SECOND/);
    expect(() => loadConfig({ RATE_LIMIT_BURST: '10' })).toThrow(ConfigError);
    expect(() => loadConfig({ RATE_LIMIT_BURST: '10' })).toThrow(/RATE_LIMIT_BURST: must be at least MAX_BATCH_EVENTS/);
    expect(() => loadConfig({ MAX_JSON_DEPTH: '1' })).toThrow(/MAX_JSON_DEPTH/);
    expect(() => loadConfig({ MAX_JSON_STRING_LENGTH: 'lots' })).toThrow(/MAX_JSON_STRING_LENGTH/);
  });
});
