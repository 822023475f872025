/**
 * A report over 200,000 events (REPORT_STREAM_EVENTS to change) is streamed: its first bytes
 * arrive long before the last, the body is written to a file as it arrives, live heap (sampled
 * after a full GC) stays far below what holding the rows would take (printed; asserted
 * generously), and the saved multi-MB report verifies from the file with its checkpoints verified.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { loadConfig } from '@app/core';
import { verifyReportFile } from '@app/reports';
import { buildSyntheticStore } from '../bench/report-store';
import { rawGet } from './support/reports';
import { TestApp, startTestApp, tempDataDir } from './support/test-app';

const EVENTS = Number(process.env.REPORT_STREAM_EVENTS ?? 200_000);
const PATIENT = 'MRN-STREAM-1';
const MB = 1024 * 1024;

describe('streamed reports', () => {
  let t: TestApp;
  const dataDir = tempDataDir('audit-report-stream-');

  beforeAll(async () => {
    // Every event is an access to one patient: the patient-access report has EVENTS rows. Sealed
    // like a live store, so the service does not catch up on checkpoints while the test measures.
    await buildSyntheticStore(dataDir, { events: EVENTS, targetAccesses: EVENTS, targetPatient: PATIENT, spanDays: 30, seal: true });
    t = await startTestApp({ dataDir, detection: { ...loadConfig({ DETECTION_ENABLED: 'false' }).detection!, enabled: false } });
  }, 300_000);
  afterAll(async () => {
    await t?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it(`streams a ${EVENTS}-row report with bounded memory, and the saved file verifies`, async () => {
    const token = await t.token('compliance_officer');
    const file = path.join(dataDir, 'big-report.csv');
    const fd = fs.openSync(file, 'w');
    // A full GC before each sample: the samples are live memory, not garbage waiting to be collected.
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const liveHeap = () => (gc(), process.memoryUsage().heapUsed);
    const heapBefore = liveHeap();
    let heapPeak = heapBefore;
    let chunks = 0;
    const res = await rawGet(t.baseUrl, `/v1/reports/patient-access?patient=${PATIENT}&format=csv`, token, {
      keepBody: false,
      onChunk: (c) => {
        fs.writeSync(fd, c);
        if (++chunks % 100 === 0) heapPeak = Math.max(heapPeak, liveHeap());
      },
    });
    fs.closeSync(fd);
    const bytes = fs.statSync(file).size;
    const heapGrowth = heapPeak - heapBefore;
    process.stdout.write(
      `report streaming: ${EVENTS} rows, ${(bytes / MB).toFixed(1)} MB in ${chunks} chunks; first byte after ${res.firstByteMs.toFixed(0)} ms, ` +
        `last after ${res.endMs.toFixed(0)} ms; live heap ${(heapBefore / MB).toFixed(0)} MB before, at most +${(heapGrowth / MB).toFixed(1)} MB during (server and client share this process)\n`,
    );
    expect(res.status).toBe(200);
    // The first bytes leave long before the report is done...
    expect(res.firstByteMs).toBeLessThan(res.endMs / 4);
    expect(res.firstChunkBytes).toBeLessThan(bytes / 20);
    expect(chunks).toBeGreaterThan(100);
    // ...and live memory does not grow with the report (holding its rows would take several times its size).
    expect(heapGrowth).toBeLessThan(Math.min(64 * MB, bytes / 2));

    const keys = new Map((JSON.parse((await (await t.client('compliance_officer')).request('GET', '/v1/reports/keys')).body).keys as { keyId: string; publicKeyPem: string }[]).map((k) => [k.keyId, k.publicKeyPem]));
    expect(await verifyReportFile(file, keys)).toMatchObject({ ok: true, format: 'csv' });
    const tail = fs.readFileSync(file, 'utf8').slice(-4000);
    expect(tail).toContain(`"rows":${EVENTS}`);
    expect(tail).toMatch(/"checkpoints":\{"available":true,"verified":true,/);
  }, 300_000);
});
