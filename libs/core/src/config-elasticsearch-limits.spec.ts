/**
 * Start-up checks of settings a real Elasticsearch would refuse later (issue 17): a report page
 * beyond `index.max_result_window`, and ILM phase ages out of order (the policy PUT would fail).
 */
import { ConfigError, loadConfig } from './config';

const ES = { STORE: 'elasticsearch', ELASTICSEARCH_URL: 'https://es.example:9200' };

function refusal(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('configuration was accepted');
}

describe('Elasticsearch limits checked at start', () => {
  it('refuses REPORT_PAGE_SIZE above 10,000 with STORE=elasticsearch, naming the key', () => {
    expect(refusal({ ...ES, REPORT_PAGE_SIZE: '10001' })).toMatch(/REPORT_PAGE_SIZE: at most 10000 with STORE=elasticsearch/);
    expect(loadConfig({ ...ES, REPORT_PAGE_SIZE: '10000' }).compliance?.reportPageSize).toBe(10_000);
    // The embedded store has no result window.
    expect(loadConfig({ REPORT_PAGE_SIZE: '50000' }).compliance?.reportPageSize).toBe(50_000);
  });

  it('refuses ELASTICSEARCH_WARM_AFTER later than ELASTICSEARCH_COLD_AFTER, naming both keys', () => {
    const msg = refusal({ ...ES, ELASTICSEARCH_WARM_AFTER: '400d', ELASTICSEARCH_COLD_AFTER: '365d' });
    expect(msg).toMatch(/ELASTICSEARCH_WARM_AFTER: must not be later than ELASTICSEARCH_COLD_AFTER \(400d > 365d\)/);
    expect(refusal({ ...ES, ELASTICSEARCH_WARM_AFTER: '49h', ELASTICSEARCH_COLD_AFTER: '2d' })).toMatch(/ELASTICSEARCH_WARM_AFTER/);
    expect(loadConfig({ ...ES, ELASTICSEARCH_WARM_AFTER: '48h', ELASTICSEARCH_COLD_AFTER: '2d' }).scaleOut?.elasticsearch).toMatchObject({ warmAfter: '48h', coldAfter: '2d' });
  });
});
