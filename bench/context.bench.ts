/**
 * `npm run bench:context`: the context feeds' own figures (issue 13 targets: bulk load >= 50,000
 * records/s; 50,000 users, 2 million patients, 5 million encounters within 2 GiB).
 *
 * 1. Durable bulk load: records checked, names and addresses HMAC-tokenized, sealed and stored in
 *    the embedded SQLite table (one transaction per 5,000-record request, as `auditctl context load`
 *    sends them) and applied to the in-memory index: records/s.
 * 2. Start-up: the same records read back from the table, opened and indexed: records/s.
 * 3. Index memory at full scale: the users, patients and encounters applied to a fresh index
 *    (already tokenized), heap and RSS growth after a full GC.
 *
 * Sizes: BENCH_CONTEXT_DURABLE (records of steps 1-2, default 300,000), BENCH_CONTEXT_USERS /
 * _PATIENTS / _ENCOUNTERS (step 3, defaults 50,000 / 2,000,000 / 5,000,000).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { ContextIndex, ContextKind, ContextService, ContextVersion, MatchingTokenizer, PostedRecord, SqliteContextStore } from '@app/context';
import { embeddedTextSealer } from '@app/security';
import { openDatabase } from '@app/storage';
import { benchDataDir } from './bench-support';

const num = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const DURABLE = num('BENCH_CONTEXT_DURABLE', 300_000);
const USERS = num('BENCH_CONTEXT_USERS', 50_000);
const PATIENTS = num('BENCH_CONTEXT_PATIENTS', 2_000_000);
const ENCOUNTERS = num('BENCH_CONTEXT_ENCOUNTERS', 5_000_000);
const DEPARTMENTS = ['ed', 'icu', 'cardiology', 'oncology', 'pediatrics', 'radiology', 'surgery', 'registration'];
const SURNAMES = ['Smith', 'García', 'Nguyen', 'Müller', 'Okafor', 'Kowalski', 'Haddad', 'Tanaka', 'Johansson', 'Rossi'];
const DAY = 86_400_000;
const T0 = Date.parse('2026-01-01T00:00:00Z');

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}
const cpuSeconds = (since: NodeJS.CpuUsage) => {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1e6;
};
const mib = (b: number) => (b / 1024 / 1024).toFixed(0);

function rawRecord(kind: ContextKind, i: number): Record<string, unknown> {
  if (kind === 'users') return { id: `u-${i}`, family: SURNAMES[i % 10] + i, department: DEPARTMENTS[i % 8], status: 'active', homeAddress: `${i} Elm Street` };
  if (kind === 'patients') return { id: `MRN-${i}`, family: SURNAMES[i % 10] + (i % 50_000), address: `${i % 400_000} Oak Road`, vip: i % 10_000 === 0 };
  return { id: `enc-${i}`, patient: { id: `MRN-${i % Math.max(1, Math.floor(DURABLE * 0.4))}` }, department: DEPARTMENTS[i % 8], participants: [`u-${i % 5000}`, `u-${(i * 7) % 5000}`], start: new Date(T0 + (i % 300) * DAY).toISOString() };
}

async function durable(): Promise<void> {
  const dir = benchDataDir('context');
  try {
    const db = openDatabase(dir);
    const sealer = embeddedTextSealer({ dataDir: dir });
    const tokens = MatchingTokenizer.forDataDir(dir);
    const service = new ContextService(new SqliteContextStore(db, sealer), new ContextIndex(), tokens);
    await service.load(); // an empty store: the service takes records once loaded
    const plan: [ContextKind, number][] = [
      ['users', Math.floor(DURABLE * 0.02)],
      ['patients', Math.floor(DURABLE * 0.4)],
      ['encounters', DURABLE - Math.floor(DURABLE * 0.02) - Math.floor(DURABLE * 0.4)],
    ];
    const started = performance.now();
    const cpu0 = process.cpuUsage();
    let accepted = 0;
    for (const [kind, n] of plan) {
      for (let from = 0; from < n; from += 5000) {
        const batch: PostedRecord[] = [];
        for (let i = from; i < Math.min(n, from + 5000); i++) batch.push({ index: i - from, value: rawRecord(kind, i) });
        const receipt = await service.ingest(kind, batch);
        if (receipt.rejected.length > 0) throw new Error(`bench records rejected: ${JSON.stringify(receipt.rejected[0])}`);
        accepted += receipt.accepted;
      }
    }
    const loadSeconds = (performance.now() - started) / 1000;
    const loadCpu = cpuSeconds(cpu0);
    const reloaded = new ContextService(new SqliteContextStore(db, sealer), new ContextIndex(), tokens);
    const r0 = performance.now();
    const cpu1 = process.cpuUsage();
    const n = await reloaded.load();
    const reloadSeconds = (performance.now() - r0) / 1000;
    const reloadCpu = cpuSeconds(cpu1);
    db.close();
    const dbBytes = fs.readdirSync(dir).filter((f) => f.startsWith('audit.db')).reduce((s, f) => s + fs.statSync(`${dir}/${f}`).size, 0);
    console.log(`durable bulk load: ${accepted} records (checked, tokenized, sealed, SQLite, indexed) in ${loadSeconds.toFixed(1)} s = ${Math.round(accepted / loadSeconds)} records/s wall clock, ${Math.round(accepted / loadCpu)} per CPU second (target >= 50000)`);
    console.log(`start-up reload:   ${n} versions read, opened and indexed in ${reloadSeconds.toFixed(1)} s = ${Math.round(n / reloadSeconds)} records/s wall clock, ${Math.round(n / reloadCpu)} per CPU second; database ${mib(dbBytes)} MiB`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function indexMemory(): void {
  const token = (i: number) => 'ctk_' + crypto.createHash('sha256').update(String(i)).digest('base64url').slice(0, 24).toLowerCase();
  const surnameTokens = Array.from({ length: 50_000 }, (_, i) => token(i));
  const addressTokens = Array.from({ length: 400_000 }, (_, i) => token(1_000_000 + i));
  gc();
  const heap0 = process.memoryUsage();
  const index = new ContextIndex();
  const started = performance.now();
  const version = (kind: ContextKind, record: ContextVersion['record']): ContextVersion => ({ kind, validFromMs: T0, receivedAtMs: T0, record });
  for (let i = 0; i < USERS; i++) {
    index.applyOne(version('users', { id: `u-${i}`, familyToken: surnameTokens[i % 50_000], department: DEPARTMENTS[i % 8], status: 'active', homeAddressToken: addressTokens[i % 400_000], ...(i % 10 === 0 ? { patientId: `MRN-${i}` } : {}) }));
  }
  for (let i = 0; i < PATIENTS; i++) {
    index.applyOne(version('patients', { id: `MRN-${i}`, familyToken: surnameTokens[i % 50_000], addressToken: addressTokens[i % 400_000], relatedPersons: i % 20 === 0 ? [{ familyToken: surnameTokens[(i + 1) % 50_000] }] : [], vip: i % 10_000 === 0, deceased: false }));
  }
  for (let i = 0; i < ENCOUNTERS; i++) {
    index.applyOne(version('encounters', { id: `enc-${i}`, patientId: `MRN-${(i * 7919) % Math.max(1, PATIENTS)}`, department: DEPARTMENTS[i % 8], participants: [`u-${i % USERS}`, `u-${(i * 31) % USERS}`], startMs: T0 + (i % 365) * DAY, ...(i % 3 === 0 ? { endMs: T0 + ((i % 365) + 2) * DAY } : {}) }));
  }
  const seconds = (performance.now() - started) / 1000;
  gc();
  const heap1 = process.memoryUsage();
  const total = USERS + PATIENTS + ENCOUNTERS;
  // A few lookups, so the index is not collected before the measurement and answers are sane.
  const probe = index.encountersAt(`MRN-${7919 % Math.max(1, PATIENTS)}`, T0 + 1.5 * DAY).length;
  console.log(`index: ${USERS} users, ${PATIENTS} patients, ${ENCOUNTERS} encounters applied in ${seconds.toFixed(1)} s = ${Math.round(total / seconds)} records/s`);
  console.log(
    `index memory: heap +${mib(heap1.heapUsed - heap0.heapUsed)} MiB, array buffers +${mib(heap1.arrayBuffers - heap0.arrayBuffers)} MiB, RSS +${mib(heap1.rss - heap0.rss)} MiB (target <= 2048 MiB); probe ${probe} open encounter(s)`,
  );
}

async function main(): Promise<void> {
  if (!(globalThis as { gc?: unknown }).gc) console.log('(run with --expose-gc for exact memory figures: npm run bench:context)');
  await durable();
  indexMemory();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
