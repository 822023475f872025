/**
 * PHI at rest on the Kafka topic (BUS=kafka, the whole service on the kafkajs double through HTTP):
 * - an event with a known MRN, actor IP and search string goes in over HTTP; the raw message values
 *   the double holds contain none of them (they are sealed with the data keys), yet the event id
 *   stays readable; the event is chained and read back in full with its receipt (a repeated POST
 *   answers the same receipt), its proof is served and the chain verifies;
 * - a message sealed under a data key this service does not have is not skipped: its partition
 *   stops there (an event behind it is not chained), the log names partition and reason without
 *   PHI, /health/ready answers 503 `bus_message_unreadable`; once the key file is put in the data
 *   keys directory the partition resumes and both events are chained.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from '@app/core';
import { canonicalize } from '@app/ledger';
import { provideKafkaClient } from '@app/pipeline';
import { FileDataKeyProvider } from '@app/security';
import { ChainPartitioner } from '@app/storage/kafka/chain-partitioner';
import { FakeKafka } from '@app/storage/kafka/fake-kafka';
import { SealedBusMessages } from '@app/storage/kafka/sealed-bus-message';
import { accessEvent } from './support/events';
import { registerPhiMarkers } from './support/log-capture';
import { TestApp, startTestApp } from './support/test-app';

const MRN = 'MRN-KSEAL-48213';
const SEARCH = 'Patient?name=quigglesworth&birthdate=1961-04-12';
const IP = '198.51.100.77';

async function until(what: string, check: () => Promise<boolean> | boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not in time: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function rawValues(kafka: FakeKafka): string[] {
  return kafka.messages('audit-events').flatMap((p) => p.map((m) => (m.value === null ? '' : m.value.toString('utf8'))));
}

describe('BUS=kafka: PHI fields are sealed in the messages on the topic', () => {
  let t: TestApp;
  const kafka = new FakeKafka();
  kafka.brokers = 1;
  beforeAll(async () => {
    registerPhiMarkers('name', ['quigglesworth']);
    const scaleOut = loadConfig({ BUS: 'kafka', KAFKA_BROKERS: 'kafka-1:9092', KAFKA_REPLICATION_FACTOR: '1' }).scaleOut!;
    provideKafkaClient(scaleOut.kafka!, kafka.asKafka());
    t = await startTestApp({ scaleOut });
    const anon = await t.client(null);
    await until('ready', async () => (await anon.request('GET', '/health/ready')).status === 200);
  });
  afterAll(() => t.close());

  it('keeps the MRN, IP and search string out of the raw messages; the event is chained, read back with its receipt, and verifies', async () => {
    const integration = await t.client('integration', 'sample-ehr');
    const event = accessEvent({
      category: 'data_access',
      action: 'search',
      patient: { id: MRN },
      actor: { id: 'dr-kseal', type: 'user', role: 'physician', ip: IP },
      query: { text: SEARCH },
      resource: { type: 'Patient', id: MRN },
    });
    const res = await integration.request('POST', '/v1/events', event);
    expect(res.status).toBe(202);
    expect(JSON.parse(res.body).receipts).toEqual([{ id: event.id, status: 'queued' }]);

    const values = rawValues(kafka);
    const mine = values.filter((v) => v.includes(event.id));
    expect(mine).toHaveLength(1);
    for (const v of values) {
      expect(v).not.toContain(MRN);
      expect(v).not.toContain('quigglesworth');
      expect(v).not.toContain('1961-04-12');
      expect(v).not.toContain(IP);
    }
    // The value is JSON whose event part keeps the id (deduplication) and the non-PHI fields.
    const body = JSON.parse(mine[0]);
    expect(typeof body.sealed).toBe('string');
    expect(body.event).toMatchObject({ id: event.id, category: 'data_access', action: 'search', patient: { id: '' }, query: { text: '' } });

    const officer = await t.client('compliance_officer');
    let got: { status: number; body: string } = { status: 0, body: '' };
    await until('the chained receipt', async () => (got = await officer.request('GET', `/v1/events/${event.id}`)).status === 200);
    const read = JSON.parse(got.body);
    expect(read.event).toMatchObject({ id: event.id, patient: { id: MRN }, actor: { ip: IP }, query: { text: SEARCH }, resource: { type: 'Patient', id: MRN } });
    expect(read.receipt).toMatchObject({ id: event.id, chain: 'data_access', seq: expect.any(Number), hash: expect.any(String) });

    // The same id again: the original, chained receipt (the hash covers the canonical event with its PHI).
    const again = await integration.request('POST', '/v1/events', event);
    expect(JSON.parse(again.body).receipts[0]).toMatchObject({ id: event.id, chain: 'data_access', seq: read.receipt.seq, hash: read.receipt.hash });

    const auditor = await t.client('auditor');
    const verify = await auditor.request('GET', '/v1/integrity/verify?chain=data_access');
    expect(verify.status).toBe(200);
    expect(JSON.parse(verify.body)).toMatchObject({ ok: true, break: null });
    expect(JSON.parse(verify.body).verified).toBeGreaterThanOrEqual(1);
    expect((await officer.request('GET', `/v1/events/${event.id}/proof`)).status).toBe(200);
  });

  it('stops the partition at a message it cannot open, says why without PHI, and resumes once the data key is in place', async () => {
    // A message sealed by a producer whose data key this service does not have.
    const foreignDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kseal-keys-'));
    const foreignKeys = new FileDataKeyProvider(foreignDir);
    const foreign = new SealedBusMessages(foreignKeys);
    const stuck = accessEvent({ patient: { id: 'MRN-KSEAL-STUCK' }, query: { text: 'Patient?name=zebedee' } });
    registerPhiMarkers('name', ['zebedee']);
    const producer = kafka.asKafka().producer({ createPartitioner: ChainPartitioner }); // the service's chain -> partition mapping
    await producer.connect();
    await producer.send({ topic: 'audit-events', acks: -1, messages: [{ key: 'data_access', value: foreign.encode(stuck, canonicalize(stuck)) }] });

    const anon = await t.client(null);
    await until('readiness names the unreadable message', async () => {
      const r = await anon.request('GET', '/health/ready');
      return r.status === 503 && JSON.parse(r.body).reasons.some((x: { code: string }) => x.code === 'bus_message_unreadable');
    });
    const ready = JSON.parse((await anon.request('GET', '/health/ready')).body);
    const reason = ready.reasons.find((x: { code: string }) => x.code === 'bus_message_unreadable');
    expect(reason.detail).toContain(`data key ${foreignKeys.current().keyId}`);
    const lines = () => t.logLines.filter((l) => l.includes('bus message cannot be opened'));
    expect(lines().length).toBeGreaterThanOrEqual(1);
    expect(lines()[0]).toContain('reason=unknown-key');
    for (const l of t.logLines) {
      expect(l).not.toContain('MRN-KSEAL-STUCK');
      expect(l).not.toContain('zebedee');
    }

    // A valid event behind it on the same chain: Kafka holds it (202 queued), but it waits, the
    // partition does not move past the message it cannot open.
    const integration = await t.client('integration', 'sample-ehr');
    const behind = accessEvent({ category: 'data_access' });
    const posted = await integration.request('POST', '/v1/events', behind);
    expect(posted.status).toBe(202);
    expect(JSON.parse(posted.body).receipts).toEqual([{ id: behind.id, status: 'queued' }]);
    const seen = lines().length;
    await until('the partition retried with the later message in its batch', () => lines().length > seen);
    const officer = await t.client('compliance_officer');
    expect((await officer.request('GET', `/v1/events/${stuck.id}`)).status).toBe(404);
    expect((await officer.request('GET', `/v1/events/${behind.id}`)).status).toBe(404);

    // The operator puts the missing key in place: the partition resumes, nothing was dropped.
    const keyId = foreignKeys.current().keyId;
    fs.copyFileSync(path.join(foreignDir, `${keyId}.key`), path.join(t.dataDir, 'keys', 'data', `${keyId}.key`));
    await until('the stuck event chained', async () => (await officer.request('GET', `/v1/events/${stuck.id}`)).status === 200, 60_000);
    await until('the event behind it chained', async () => (await officer.request('GET', `/v1/events/${behind.id}`)).status === 200);
    const read = JSON.parse((await officer.request('GET', `/v1/events/${stuck.id}`)).body);
    expect(read.event).toMatchObject({ patient: { id: 'MRN-KSEAL-STUCK' }, query: { text: 'Patient?name=zebedee' } });
    await until('ready again', async () => (await anon.request('GET', '/health/ready')).status === 200);
    const auditor = await t.client('auditor');
    expect(JSON.parse((await auditor.request('GET', '/v1/integrity/verify?chain=data_access')).body)).toMatchObject({ ok: true, break: null });
    await producer.disconnect();
  });
});
