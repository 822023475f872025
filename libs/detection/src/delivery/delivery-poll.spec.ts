/**
 * The dispatcher the service wires (dispatcherFor) passes over its outbox at ALERT_DELIVERY_POLL_MS:
 * 4 passes a second on the embedded store, 1 with STORE=elasticsearch (each pass of each instance
 * queries the shared cluster), or the configured pace. Counted on an outbox double that records
 * each pass, under jest's fake clock.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Logger } from '@nestjs/common';
import { loadConfig } from '@app/core';
import { infrastructureFor } from '@app/infrastructure';
import { dispatcherFor } from './alert-delivery.module';
import type { DeliveryOutboxPort } from './delivery-outbox.port';

class CountingOutbox implements DeliveryOutboxPort {
  passes = 0;
  queuedAlerts() {
    this.passes++;
    return [];
  }
  async fanOut(): Promise<void> {}
  dueFor() {
    return [];
  }
  async markDelivered(): Promise<void> {}
  async markFailed(): Promise<void> {}
  async expire(): Promise<string[]> {
    return [];
  }
  async release(): Promise<void> {}
  async refreshCounts(): Promise<void> {}
  countsFor() {
    return { pending: 0, delivered: 0, dead: 0, lastDeliveredMs: null, oldestPendingMs: null };
  }
}

describe('alert dispatcher pace (ALERT_DELIVERY_POLL_MS)', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'delivery-poll-'));
    jest.useFakeTimers();
  });
  afterEach(() => {
    jest.useRealTimers();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function passesInTenSeconds(env: Record<string, string>): Promise<number> {
    const outbox = new CountingOutbox();
    const config = loadConfig({ DATA_DIR: dir, ...env });
    const dispatcher = dispatcherFor(outbox, config, infrastructureFor(config).deployment, { destinations: [] }, new Logger('test'));
    dispatcher.start();
    await jest.advanceTimersByTimeAsync(10_000);
    await dispatcher.stop();
    return outbox.passes;
  }

  it('passes 4 times a second on the embedded store, once a second with STORE=elasticsearch, else as configured', async () => {
    expect(await passesInTenSeconds({})).toBe(41); // one at start, then every 250 ms
    expect(await passesInTenSeconds({ STORE: 'elasticsearch', ELASTICSEARCH_URL: 'https://es.example:9200' })).toBe(11);
    expect(await passesInTenSeconds({ STORE: 'elasticsearch', ELASTICSEARCH_URL: 'https://es.example:9200', ALERT_DELIVERY_POLL_MS: '5000' })).toBe(3);
    expect(await passesInTenSeconds({ ALERT_DELIVERY_POLL_MS: '2000' })).toBe(6);
  });
});
