/**
 * Cost of re-checking returned records on the query path (issue 15): every record a query, report
 * stream or read by id returns has its derived columns recomputed from the hashed record
 * (derived-columns.ts mismatchOf) before it is handed out. Builds a synthetic store
 * (BENCH_QUERY_EVENTS, default 200,000 events), pages through it with the store's query (1,000
 * records a page, newest first) and streams one actor's records, and prints CPU microseconds per
 * returned record for the whole read and for the re-check alone (the same records checked again
 * with the store's token cache warm, as in the store), with the load average.
 *
 *   npm run build && npm run bench:query-recheck
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { AccessEvent } from '@app/core';
import { embeddedFieldProtection } from '@app/security';
import { DerivedColumns, PatientTokenCache, SqliteEventStore, StoredRecord, mismatchOf, openDatabase } from '@app/storage';
import { benchDataDir, fmt } from './bench-support';
import { buildSyntheticStore } from './report-store';

const EVENTS = Number(process.env.BENCH_QUERY_EVENTS ?? 200_000);

const cpuUs = (): number => {
  const c = process.cpuUsage();
  return c.user + c.system;
};

function columnsOf(r: StoredRecord, token: (id: string) => string): DerivedColumns {
  const e: AccessEvent = r.event;
  return { id: e.id, occurred_ms: Date.parse(e.occurredAt), category: e.category, action: e.action, outcome: e.outcome, actor_id: e.actor.id, patient_id: e.patient ? token(e.patient.id) : null };
}

async function main(): Promise<void> {
  const dir = benchDataDir('query-recheck');
  try {
    process.stdout.write(`building a store of ${fmt(EVENTS)} events ... `);
    await buildSyntheticStore(dir, { events: EVENTS, targetAccesses: 100, targetPatient: 'MRN-BENCH-TARGET', seal: false });
    console.log('done');
    const protection = embeddedFieldProtection({ dataDir: dir });
    const store = new SqliteEventStore(openDatabase(dir), protection);
    const tokens = new PatientTokenCache((id) => protection.patientToken(id));

    // 1. Every record, newest first, 1,000 a page (GET /v1/events without filters).
    const all: StoredRecord[] = [];
    let t0 = cpuUs();
    let wall = Date.now();
    let page = await store.query({ limit: 1000 });
    for (;;) {
      for (const r of page.records) all.push(r);
      if (!page.next) break;
      page = await store.query({ limit: 1000, after: page.next });
    }
    const queryUs = cpuUs() - t0;
    const queryWall = Date.now() - wall;

    // 2. The re-check alone on the same records (derived columns rebuilt outside the timed part,
    // as the store reads them from the row; the token cache warm, as the store's is).
    const stored = all.map((r) => columnsOf(r, (id) => tokens.token(id)));
    t0 = cpuUs();
    let mismatches = 0;
    for (let i = 0; i < all.length; i++) if (mismatchOf(all[i].event, stored[i], tokens) !== null) mismatches++;
    const checkUs = cpuUs() - t0;
    if (mismatches !== 0) throw new Error('the pristine store should have no mismatches');

    // 3. A report-style stream of one actor's records.
    t0 = cpuUs();
    let streamed = 0;
    for await (const p of store.stream({ actor: 'u-42' })) streamed += p.length;
    const streamUs = cpuUs() - t0;

    await store.close();
    const load = os.loadavg().map((l) => l.toFixed(2)).join(' ');
    console.log(`load average: ${load}; ${os.cpus().length} CPUs`);
    console.log('| read | records | CPU µs / record | wall ms |');
    console.log('|---|---|---|---|');
    console.log(`| query, 1,000 a page, whole store (re-check included) | ${fmt(all.length)} | ${fmt(queryUs / all.length, 2)} | ${fmt(queryWall)} |`);
    console.log(`| the re-check alone (mismatchOf, same records) | ${fmt(all.length)} | ${fmt(checkUs / all.length, 2)} | - |`);
    console.log(`| stream of one actor (report path, re-check included) | ${fmt(streamed)} | ${streamed ? fmt(streamUs / streamed, 2) : '-'} | - |`);
    console.log(`re-check share of the query path: ${fmt((100 * checkUs) / queryUs, 1)} %`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
