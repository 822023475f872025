/**
 * ALERT_DELIVERY_POLL_MS: the alert dispatcher's pass interval, 250 ms on the embedded store and 1 s
 * with STORE=elasticsearch unless set; a value out of range stops start-up naming the key.
 */
import { infrastructureFor } from '@app/infrastructure';
import { ConfigError, alertDeliveryPollMs, loadConfig } from './config';

/** The pace the service runs with: the configuration and the deployment its infrastructure reports. */
const paceOf = (env: Record<string, string>) => {
  const config = loadConfig(env);
  return alertDeliveryPollMs(config, infrastructureFor(config).deployment);
};

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

describe('ALERT_DELIVERY_POLL_MS', () => {
  it('defaults to 250 ms on the embedded store and 1 s with STORE=elasticsearch; a set value wins on either', () => {
    expect(paceOf({})).toBe(250);
    expect(paceOf(ES)).toBe(1000);
    expect(paceOf({ ...ES, ALERT_DELIVERY_POLL_MS: '5000' })).toBe(5000);
    expect(paceOf({ ALERT_DELIVERY_POLL_MS: '50' })).toBe(50);
  });

  it('refuses a value that is not a whole number of milliseconds from 50 to 60000, naming the key', () => {
    for (const bad of ['10', '60001', '1.5', 'abc', '-1']) {
      expect(refusal({ ...ES, ALERT_DELIVERY_POLL_MS: bad })).toContain('ALERT_DELIVERY_POLL_MS: must be a whole number of milliseconds from 50 to 60000');
    }
  });
});
