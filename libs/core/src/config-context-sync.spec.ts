/** Configuration of the context sync across instances (STORE=elasticsearch): defaults, values read, bad values refused. */
import { ConfigError, loadConfig } from './config';
import { contextSettingsOf } from './context-config';

describe('context sync settings', () => {
  it('has documented defaults, also for hand-built configs', () => {
    expect(loadConfig({}).context).toMatchObject({ syncMs: 1000, syncLookbackMs: 30_000 });
    expect(contextSettingsOf({})).toMatchObject({ syncMs: 1000, syncLookbackMs: 30_000 });
  });

  it('reads both keys', () => {
    expect(loadConfig({ CONTEXT_SYNC_MS: '250', CONTEXT_SYNC_LOOKBACK_MS: '120000' }).context).toMatchObject({ syncMs: 250, syncLookbackMs: 120_000 });
  });

  it('refuses bad values, naming the key', () => {
    expect(() => loadConfig({ CONTEXT_SYNC_MS: '10' })).toThrow(ConfigError);
    expect(() => loadConfig({ CONTEXT_SYNC_MS: 'often' })).toThrow(/CONTEXT_SYNC_MS/);
    expect(() => loadConfig({ CONTEXT_SYNC_LOOKBACK_MS: '0' })).toThrow(/CONTEXT_SYNC_LOOKBACK_MS/);
  });
});
