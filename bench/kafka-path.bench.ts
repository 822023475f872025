/**
 * `npm run bench:kafka-path`: what the service spends per event on the Kafka 202 path besides
 * HTTPS, without a broker. In one process, against the kafkajs double (which acknowledges at
 * once): IngestService (validation, canonical JSON) -> KafkaEventBus (group produce), with and
 * without the duplicate-id lookup in the SQLite store, next to producing the same messages on the
 * double directly, and with the PHI fields of each message sealed as the service sends them
 * (sealed-bus-message.ts). CPU time per event (process.cpuUsage) is the figure to read on a shared machine;
 * the load average is printed with it. This is not a Kafka figure (no broker, no kafkajs
 * encoding): `npm run bench -- --bus kafka` measures against a real broker.
 *
 * Options (env): BENCH_EVENTS (default 100000), BENCH_CONCURRENCY (16).
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { AccessEvent } from '@app/core';
import { IngestService } from '@app/pipeline';
import { embeddedFieldProtection } from '@app/security';
import { generateTraffic } from '@app/simulation';
import { SqliteEventStore, openDatabase } from '@app/storage';
import { FakeKafka } from '@app/storage/kafka/fake-kafka';
import { KafkaEventBus, SealedBusMessages } from '@app/storage/scale-out-adapters';
import { benchDataDir, fmt, machine } from './bench-support';
import { postedByBench } from './kafka-ingest.bench';

const TOTAL = Number(process.env.BENCH_EVENTS ?? 100_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const load = () => os.loadavg().map((l) => l.toFixed(2)).join(' / ');

async function main(): Promise<void> {
  console.log(`Kafka 202 path without HTTPS and without a broker (kafkajs double), on ${machine()}, ${fmt(TOTAL)} events, load average ${load()}`);
  const dataDir = benchDataDir('kafka-path');
  const store = new SqliteEventStore(openDatabase(dataDir), embeddedFieldProtection({ dataDir }));
  const kafka = new FakeKafka();
  const bus = new KafkaEventBus(kafka.asKafka(), { topic: 'audit-events', partitions: 12, replicationFactor: 1, publishTimeoutMs: 60_000, brokers: ['double:9092'], tls: false, probeIntervalMs: 3_600_000 });
  await bus.start();
  const sealedBus = new KafkaEventBus(kafka.asKafka(), { topic: 'audit-events', partitions: 12, replicationFactor: 1, publishTimeoutMs: 60_000, brokers: ['double:9092'], tls: false, probeIntervalMs: 3_600_000, sealer: new SealedBusMessages(embeddedFieldProtection({ dataDir }).dataKeys) });
  await sealedBus.start();
  const events = generateTraffic({ events: TOTAL, seed: 3 }).events.map(postedByBench);
  const rows: string[] = [];
  for (const [label, lookup, sealed] of [
    ['ingest as the service runs it: validation, canonical JSON, duplicate-id lookup in SQLite, PHI fields sealed, group produce', true, true],
    ['ingest without sealing (plain canonical JSON on the topic, as before)', true, false],
    ['ingest without sealing and without the duplicate-id lookup', false, false],
  ] as const) {
    const ingest = new IngestService(sealed ? sealedBus : bus, 1000, undefined, lookup ? store : undefined, {});
    const pass = async (list: AccessEvent[]) => {
      // Fresh ids each pass, parsed bodies as the HTTP layer hands them over.
      const bodies: { events: AccessEvent[] }[] = [];
      for (let i = 0; i < list.length; i += 100) bodies.push(JSON.parse(JSON.stringify({ events: list.slice(i, i + 100).map((e) => ({ ...e, id: randomUUID() })) })));
      let next = 0;
      const cpu0 = process.cpuUsage();
      const started = performance.now();
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < bodies.length) await ingest.ingestBody(bodies[next++]);
        }),
      );
      const cpu = process.cpuUsage(cpu0);
      return { cpuUs: (cpu.user + cpu.system) / list.length, rate: list.length / ((performance.now() - started) / 1000) };
    };
    await pass(events.slice(0, Math.ceil(events.length / 5))); // warm-up (JIT, SQLite caches)
    const { cpuUs, rate } = await pass(events);
    rows.push(`| ${label} | ${fmt(cpuUs, 1)} µs | ${fmt(rate)} |`);
  }
  const producer = kafka.asKafka().producer({});
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < events.length; i += 100) {
    await producer.send({ topic: 'audit-events', acks: -1, messages: events.slice(i, i + 100).map((e) => ({ key: e.category, value: JSON.stringify(e) })) });
  }
  const cpu = process.cpuUsage(cpu0);
  rows.push(`| the same messages produced on the double directly (its own bookkeeping only) | ${fmt((cpu.user + cpu.system) / TOTAL, 1)} µs | |`);
  console.log('');
  console.log('| step | CPU per event | events/s |');
  console.log('|---|---|---|');
  for (const r of rows) console.log(r);
  console.log(`\nload average after: ${load()}`);
  await bus.close();
  await sealedBus.close();
  await store.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
