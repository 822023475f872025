/**
 * The sealed message value of the Kafka bus (sealed-bus-message.ts) through the real adapters on the
 * kafkajs double: the producer puts no patient id, IP or search string on the topic, the consumer
 * hands the writer the exact canonical bytes; an altered message or one without keys stops its
 * partition (nothing committed, never skipped) and `fault()` says why without PHI.
 */
import * as crypto from 'node:crypto';
import { AccessEvent } from '@app/core';
import { canonicalize } from '@app/ledger';
import { BusBatch } from '../event-bus.port';
import type { DataKeyring } from '../field-protection.port';
import { FakeKafka } from './fake-kafka';
import { KafkaEventBus } from './kafka-event-bus';
import { KafkaEventConsumer } from './kafka-event-consumer';
import { SealedBusMessages, isSealedBusMessage } from './sealed-bus-message';

function keyring(id: string): DataKeyring {
  const key = crypto.createSecretKey(crypto.randomBytes(32));
  return { current: () => ({ keyId: id, key }), byId: (k) => (k === id ? key : undefined), lists: (k) => k === id };
}

const BUS = { topic: 'audit-events', partitions: 6, replicationFactor: 1, publishTimeoutMs: 2000, brokers: ['k:9092'], tls: false, probeIntervalMs: 3_600_000 };
const GROUP = { topic: 'audit-events', groupId: 'w', sessionTimeoutMs: 30_000, brokers: ['k:9092'], tls: false, backoffMs: 20 };

function event(i: number): AccessEvent {
  return {
    id: crypto.randomUUID(),
    occurredAt: '2026-03-02T10:15:00.000Z',
    category: 'data_access',
    action: 'search',
    outcome: 'success',
    actor: { id: 'dr-alice', type: 'user', ip: `10.9.8.${i}` },
    patient: { id: `MRN-\u00e9-"${i}"` },
    query: { text: `Patient?name=o'brien&n=${i}` },
    resource: { type: 'Patient', id: `MRN-\u00e9-"${i}"` },
    source: { system: 'ehr-gateway' },
  };
}

async function eventually(check: () => boolean, ms = 3000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('sealed Kafka bus messages', () => {
  it('puts no PHI on the topic and hands the consumer the exact canonical JSON', async () => {
    const kafka = new FakeKafka();
    const sealer = new SealedBusMessages(keyring('dk-0000000000000001'));
    const bus = new KafkaEventBus(kafka.asKafka(), { ...BUS, sealer });
    await bus.start();
    const events = [event(1), event(2), { ...event(3), patient: undefined, query: undefined, resource: undefined, actor: { id: 'svc', type: 'service' as const } }];
    await bus.publish(events.map((e) => ({ event: e, json: canonicalize(e) })));
    await bus.close();
    const raw = kafka.messages('audit-events').flat();
    expect(raw).toHaveLength(3);
    for (const m of raw) {
      const text = m.value!.toString('utf8');
      expect(text).not.toMatch(/MRN|o'brien|10\.9\.8/);
      expect(m.key).toBe('data_access');
    }
    // An event without protected fields stays plain canonical JSON.
    expect(raw.filter((m) => isSealedBusMessage(m.value))).toHaveLength(2);

    const consumer = new KafkaEventConsumer(kafka.asKafka(), { ...GROUP, sealer });
    const got: BusBatch[] = [];
    await consumer.start(async (b) => void got.push(b));
    await eventually(() => got.flatMap((b) => b.messages).length === 3);
    expect(got.flatMap((b) => b.messages).map((m) => m.value!.toString('utf8'))).toEqual(events.map((e) => canonicalize(e)));
    expect(consumer.fault()).toBeNull();
    await consumer.close();
  });

  it('an altered message, or a sealed one without keys, stops its partition: nothing committed, handler never sees it or what follows', async () => {
    for (const withKeys of [true, false]) {
      const kafka = new FakeKafka();
      const sealer = new SealedBusMessages(keyring('dk-0000000000000002'));
      const bus = new KafkaEventBus(kafka.asKafka(), { ...BUS, sealer });
      await bus.start();
      const events = [event(1), event(2)];
      await bus.publish(events.map((e) => ({ event: e, json: canonicalize(e) })));
      await bus.close();
      const part = kafka.messages('audit-events').find((p) => p.length > 0)!;
      if (withKeys) {
        // Flip one byte of the ciphertext (inside the base64) of the first message.
        const text = part[0].value!.toString('utf8');
        const b64 = text.slice('{"sealed":"'.length, text.indexOf('","event":'));
        const sealed = Buffer.from(b64, 'base64');
        sealed[sealed.length - 1] ^= 1;
        part[0].value = Buffer.from(text.replace(b64, sealed.toString('base64')));
      }
      const logs: string[] = [];
      const consumer = new KafkaEventConsumer(kafka.asKafka(), { ...GROUP, sealer: withKeys ? sealer : undefined }, (_l, msg, f) => logs.push(`${msg} ${JSON.stringify(f)}`));
      const seen: BusBatch[] = [];
      await consumer.start(async (b) => void seen.push(b));
      await eventually(() => logs.filter((l) => l.includes('bus message cannot be opened')).length >= 3);
      expect(seen).toEqual([]);
      expect(kafka.callsTo('consumer.commitOffsets')).toEqual([]);
      expect(consumer.isReady()).toBe(false);
      expect(consumer.fault()).toContain(withKeys ? 'failed its authenticated decryption' : 'has no data keys');
      expect(logs.join('\n')).toContain(`"reason":"${withKeys ? 'corrupt' : 'no-keys'}"`);
      expect(logs.join('\n')).not.toMatch(/MRN|o'brien|10\.9\.8/);
      await consumer.close();
    }
  });
});
