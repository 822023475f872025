/**
 * The console's in-browser verifier core (libs/ledger/src/portable-verifier.ts, @noble/hashes and
 * @noble/curves, no Node crypto) against the service's own offline verifier (`auditctl verify
 * --offline`) on the same exports of a real store: a whole-chain export and a range export, clean
 * and with one changed byte at many places in each file. Both must name the same first break
 * (chain, seq, kind), and a changed record byte must never pass. Also inclusion proofs from
 * `GET /v1/events/{id}/proof` against the server-side proof check.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ChainBreak, InclusionProofDocument, verifyInclusionProofDocument } from '@app/ledger';
import { PortableFormatError, parsePublicKeysText, verifyExportFiles, verifyProofDocument } from '@app/ledger/portable-verifier';
import { exportChain, verifyExport } from '@app/pipeline';
import { FileKeyProvider, embeddedFieldProtection } from '@app/security';
import { SqliteCheckpointStore, SqliteEventStore, openDatabase } from '@app/storage';
import { loadConfig } from '@app/core';
import { accessEvent } from './support/events';
import { startTestApp, tempDataDir } from './support/test-app';

const CHAIN = 'data_access';
const TOTAL = 230; // checkpoints every 50 records, and 230 sealed at export
const created: string[] = [];
let fullDir: string;
let rangeDir: string;
let proofs: InclusionProofDocument[] = [];
let keysText = '';

function scratch(prefix: string): string {
  const dir = tempDataDir(prefix);
  created.push(dir);
  return dir;
}

beforeAll(async () => {
  const t = await startTestApp({ integrity: { checkpointEveryRecords: 50, checkpointIntervalSeconds: 3600, verifyWorkers: 0 } } as never);
  const client = await t.client('integration');
  // Every fifth record is a search: its search string is sealed at rest like the patient id (issue 21).
  const events = Array.from({ length: TOTAL }, (_, k) =>
    accessEvent({ patient: { id: `MRN-P-${k}` }, details: { note: k % 7 === 0 ? 'ünïcödé ✓' : 'plain' }, ...(k % 5 === 0 ? { action: 'query', query: { text: `Patient?name=kowalczyk-${k}&birthdate=1961` } } : {}) }),
  );
  expect((await client.request('POST', '/v1/events', { events })).status).toBe(202);
  const auditor = await t.client('auditor');
  const analyst = await t.client('soc_analyst');
  for (const e of [events[0], events[77], events[TOTAL - 1]]) {
    const r = await analyst.request('GET', `/v1/events/${e.id}/proof`);
    expect(r.status).toBe(200);
    proofs.push(JSON.parse(r.body) as InclusionProofDocument);
  }
  const cps = await auditor.request('GET', '/v1/integrity/checkpoints');
  expect(cps.status).toBe(200);
  keysText = cps.body;
  await t.close();

  const config = loadConfig({}, { dataDir: t.dataDir });
  const db = openDatabase(t.dataDir);
  const store = new SqliteEventStore(db, embeddedFieldProtection(config));
  const checkpoints = new SqliteCheckpointStore(db);
  const keys = new FileKeyProvider(t.dataDir);
  fullDir = path.join(scratch('portable-full-'), 'export');
  rangeDir = path.join(scratch('portable-range-'), 'export');
  await exportChain(store, checkpoints, { chain: CHAIN, outDir: fullDir, publicKeys: keys.publicKeys() });
  await exportChain(store, checkpoints, { chain: CHAIN, outDir: rangeDir, from: { seq: 60 }, to: { seq: 140 }, publicKeys: keys.publicKeys() });
  await store.close();
  created.push(t.dataDir);
}, 120_000);

afterAll(() => {
  for (const dir of created) fs.rmSync(dir, { recursive: true, force: true });
});

it('exports sealed records verbatim: the search strings are in the export, opened, under the chain hash', () => {
  const records = fs.readFileSync(path.join(fullDir, 'records.ndjson'), 'utf8');
  expect(records).toContain('Patient?name=kowalczyk-0&birthdate=1961');
  expect(records).toContain('Patient?name=kowalczyk-225&birthdate=1961');
});

const brief = (b: { chain: string; seq: number; kind: string } | null) => (b ? { chain: b.chain, seq: b.seq, kind: b.kind } : null);

function readFiles(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const f of fs.readdirSync(dir)) files[f] = fs.readFileSync(path.join(dir, f), 'utf8');
  return files;
}

/** What the service's offline verifier says of a directory: its first break, or the format error. */
async function server(dir: string): Promise<{ b: ChainBreak | null } | { error: true }> {
  try {
    return { b: brief((await verifyExport(dir, { workers: 1 })).break) as ChainBreak | null };
  } catch {
    return { error: true };
  }
}

function portable(files: Record<string, string>): { b: ReturnType<typeof brief> } | { error: true } {
  try {
    return { b: brief(verifyExportFiles({ files }).break) };
  } catch (err) {
    if (err instanceof PortableFormatError) return { error: true };
    throw err;
  }
}

/** A copy of `dir` with byte `at` of `file` replaced by another printable byte. */
function withChangedByte(dir: string, file: string, at: number): { copy: string; files: Record<string, string> } {
  const copy = path.join(scratch('portable-edit-'), 'export');
  fs.cpSync(dir, copy, { recursive: true });
  const bytes = fs.readFileSync(path.join(copy, file));
  const c = bytes[at];
  bytes[at] = c === 0x30 ? 0x31 : c >= 0x61 && c <= 0x7a ? c - 0x20 : c >= 0x41 && c <= 0x5a ? c + 0x20 : c === 0x31 ? 0x32 : 0x30;
  fs.writeFileSync(path.join(copy, file), bytes);
  return { copy, files: readFiles(copy) };
}

/** Deterministic spread of byte positions over a file, skipping newlines. */
function positions(dir: string, file: string, count: number): number[] {
  const bytes = fs.readFileSync(path.join(dir, file));
  const out: number[] = [];
  let x = 12345;
  while (out.length < count) {
    x = (x * 1103515245 + 12345) % 2147483648;
    const at = x % bytes.length;
    if (bytes[at] !== 0x0a && bytes[at] < 0x80) out.push(at);
  }
  return out;
}

describe('an export, verified in the page as by auditctl verify --offline', () => {
  it('passes a clean whole-chain export and a clean range export, with every step shown', async () => {
    for (const dir of [fullDir, rangeDir]) {
      const verdict = verifyExportFiles({ files: readFiles(dir) });
      expect(await server(dir)).toEqual({ b: null });
      expect(verdict.ok).toBe(true);
      expect(verdict.steps.map((s) => [s.id, s.ok])).toEqual([
        ['manifest', true],
        ['keys', true],
        ['signatures', true],
        ['records', true],
        ['merkle', true],
        ['head', true],
      ]);
    }
    const full = verifyExportFiles({ files: readFiles(fullDir) });
    expect(full.verified).toBe(TOTAL);
    expect(full.checkpointsVerified).toBe((await verifyExport(fullDir, { workers: 1 })).checkpointsVerified);
  });

  it.each([
    ['whole chain', () => fullDir],
    ['range 60..140', () => rangeDir],
  ])('names the same break as the server for one changed byte anywhere in the records (%s)', async (_label, dirOf) => {
    const dir = dirOf();
    for (const at of positions(dir, 'records.ndjson', 40)) {
      const { copy, files } = withChangedByte(dir, 'records.ndjson', at);
      const mine = portable(files);
      expect({ at, ...mine }).toEqual({ at, ...(await server(copy)) });
      expect({ at, failed: !('b' in mine) || mine.b !== null }).toEqual({ at, failed: true });
    }
  });

  it('names the same break (or the same refusal) for one changed byte in the checkpoints, manifest and keys', async () => {
    for (const file of ['checkpoints.json', 'manifest.json', 'public-keys.json']) {
      for (const at of positions(fullDir, file, 15)) {
        const { copy, files } = withChangedByte(fullDir, file, at);
        expect({ file, at, ...portable(files) }).toEqual({ file, at, ...(await server(copy)) });
      }
    }
  });

  it('names the record when one event is edited: the break is at its seq, kind modified, and the records step fails', () => {
    const files = readFiles(fullDir);
    const lines = files['records.ndjson'].split('\n');
    lines[123] = lines[123].replace('MRN-P-123', 'MRN-P-124');
    const verdict = verifyExportFiles({ files: { ...files, 'records.ndjson': lines.join('\n') } });
    expect(brief(verdict.break)).toEqual({ chain: CHAIN, seq: 123, kind: 'modified' });
    expect(verdict.steps.find((s) => s.id === 'records')).toMatchObject({ ok: false });
    expect(verdict.verified).toBe(123);
  });

  it('refuses checkpoints when the auditor pins another key', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const other = [{ keyId: 'someone-else', publicKeyPem: generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString() }];
    const mine = verifyExportFiles({ files: readFiles(fullDir), publicKeys: other });
    expect(brief(mine.break)).toEqual(brief((await verifyExport(fullDir, { workers: 1, publicKeys: other })).break));
    expect(brief(mine.break)).toEqual({ chain: CHAIN, seq: 49, kind: 'bad_signature' });
  });
});

describe('an inclusion proof from GET /v1/events/{id}/proof', () => {
  it('verifies with the keys of GET /v1/integrity/checkpoints, as the server-side check does, and shows the path', () => {
    const keys = parsePublicKeysText(keysText);
    for (const doc of proofs) {
      const key = keys.find((k) => k.keyId === doc.checkpoint.keyId)!;
      expect(verifyInclusionProofDocument(doc, key.publicKeyPem)).toEqual({ ok: true, reason: null });
      const mine = verifyProofDocument(doc, keys);
      expect(mine).toMatchObject({ ok: true, reason: null });
      expect(mine.steps.map((s) => s.id)).toEqual(['signatures', 'leaf', 'path', 'root']);
      expect(mine.steps.find((s) => s.id === 'path')!.items).toHaveLength(doc.auditPath.length);
    }
  });

  it('fails a changed path hash, record hash, leaf index or checkpoint field, as the server-side check does', () => {
    const keys = parsePublicKeysText(keysText);
    const doc = proofs[1];
    const key = keys.find((k) => k.keyId === doc.checkpoint.keyId)!;
    const flip = (h: string) => (h[0] === '0' ? '1' : '0') + h.slice(1);
    const bad: InclusionProofDocument[] = [
      { ...doc, auditPath: [flip(doc.auditPath[0]), ...doc.auditPath.slice(1)] },
      { ...doc, recordHash: flip(doc.recordHash) },
      { ...doc, leafIndex: doc.leafIndex + 1 },
      { ...doc, checkpoint: { ...doc.checkpoint, treeSize: doc.checkpoint.treeSize + 1 } },
      { ...doc, checkpoint: { ...doc.checkpoint, keyId: 'unknown' } },
    ];
    for (const d of bad) {
      const mine = verifyProofDocument(d, keys);
      expect(mine.ok).toBe(false);
      expect(mine.reason).toEqual(expect.any(String));
      if (d.checkpoint.keyId !== 'unknown') expect(verifyInclusionProofDocument(d, key.publicKeyPem).ok).toBe(false);
    }
  });

  it('reads one bare PEM key as a keys file, deriving its id as the service does', () => {
    const keys = parsePublicKeysText(keysText);
    const fromPem = parsePublicKeysText(keys[0].publicKeyPem);
    expect(fromPem).toEqual([{ keyId: keys[0].keyId, publicKeyPem: keys[0].publicKeyPem }]);
  });
});
