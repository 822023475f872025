/**
 * Tests for signed checkpoints (checkpoint.ts): the signing payload and hash, Ed25519 signing and
 * checking (with the RFC 8032 test key, so signatures are reproducible), key ids, a run of
 * checkpoints with rotation and every kind of fault, and CONTRACT proof documents checked by a
 * tiny independent verifier that uses only node:crypto and the JSON.
 */
import { KeyObject, createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import {
  Checkpoint,
  CheckpointBody,
  InclusionProofDocument,
  checkpointFaultBreakKind,
  checkpointHash,
  checkpointShapeError,
  checkpointSigningPayload,
  keyIdFor,
  signCheckpoint,
  verifyCheckpointChain,
  verifyCheckpointSignature,
  verifyInclusionProofDocument,
} from './checkpoint';
import { MerkleAccumulator, MerkleProver, leafHash } from './merkle';

// RFC 8032 section 7.1, TEST 1.
const RFC8032_SEED = '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60';
const RFC8032_PUBLIC = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';
const RFC8032_EMPTY_MESSAGE_SIG =
  'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b';

function ed25519FromSeed(seedHex: string): KeyObject {
  // PKCS#8 wrapping of a raw Ed25519 seed (RFC 8410).
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(seedHex, 'hex')]);
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
}

const rfcKey = ed25519FromSeed(RFC8032_SEED);
const rfcPublicPem = createPublicKey(rfcKey).export({ type: 'spki', format: 'pem' }).toString();
const h = (c: string): string => c.repeat(64).slice(0, 64);

const body: CheckpointBody = {
  chain: 'ehr-gateway-0',
  treeSize: 1000,
  rootHash: h('a'),
  lastHash: h('b'),
  issuedAt: '2025-01-02T03:04:05.678Z',
  previous: null,
};

describe('keys', () => {
  it('loads the RFC 8032 test key and reproduces its published signature', () => {
    const spki = createPublicKey(rfcKey).export({ type: 'spki', format: 'der' });
    expect(spki.subarray(-32).toString('hex')).toBe(RFC8032_PUBLIC);
    expect(sign(null, Buffer.alloc(0), rfcKey).toString('hex')).toBe(RFC8032_EMPTY_MESSAGE_SIG);
  });

  it('key id is the first 16 hex digits of SHA-256 over the SPKI DER, whatever form the key is in', () => {
    const spki = createPublicKey(rfcKey).export({ type: 'spki', format: 'der' });
    const expected = createHash('sha256').update(spki).digest('hex').slice(0, 16);
    expect(keyIdFor(rfcKey)).toBe(expected);
    expect(keyIdFor(createPublicKey(rfcKey))).toBe(expected);
    expect(keyIdFor(rfcPublicPem)).toBe(expected);
    expect(keyIdFor(generateKeyPairSync('ed25519').publicKey)).not.toBe(expected);
  });
});

describe('signing a checkpoint', () => {
  const cp = signCheckpoint(body, rfcKey);

  it('signs the canonical JSON of every field but the signature', () => {
    expect(checkpointSigningPayload(cp)).toBe(
      `{"chain":"ehr-gateway-0","issuedAt":"2025-01-02T03:04:05.678Z","keyId":"${keyIdFor(rfcKey)}","lastHash":"${h('b')}","previous":null,"rootHash":"${h('a')}","treeSize":1000}`,
    );
    const { signature, ...unsigned } = cp;
    expect(checkpointSigningPayload(unsigned)).toBe(checkpointSigningPayload(cp));
    expect(verify(null, Buffer.from(checkpointSigningPayload(cp)), rfcKey, Buffer.from(signature, 'base64'))).toBe(true);
  });

  it('holds exactly the CONTRACT fields, is deterministic and verifies', () => {
    expect(Object.keys(cp).sort()).toEqual(['chain', 'issuedAt', 'keyId', 'lastHash', 'previous', 'rootHash', 'signature', 'treeSize']);
    expect(signCheckpoint({ ...body, extra: 1 } as CheckpointBody, rfcKey)).toEqual(cp);
    expect(cp.keyId).toBe(keyIdFor(rfcKey));
    expect(checkpointShapeError(cp)).toBeNull();
    expect(verifyCheckpointSignature(cp, rfcPublicPem)).toBe(true);
    expect(verifyCheckpointSignature(cp, createPublicKey(rfcKey))).toBe(true);
    expect(signCheckpoint(body, rfcKey, 'rotated-2025').keyId).toBe('rotated-2025');
  });

  it('fails when any field changes, or a field is added', () => {
    const changes: Array<Partial<Checkpoint> & Record<string, unknown>> = [
      { chain: 'ehr-gateway-1' },
      { treeSize: 1001 },
      { rootHash: h('c') },
      { lastHash: h('c') },
      { issuedAt: '2025-01-02T03:04:05.679Z' },
      { previous: h('d') },
      { keyId: '0000000000000000' },
      { note: 'added' },
    ];
    for (const change of changes) expect(verifyCheckpointSignature({ ...cp, ...change } as Checkpoint, rfcPublicPem)).toBe(false);
  });

  it('fails for every single-bit change of the signature and for a foreign key', () => {
    const sig = Buffer.from(cp.signature, 'base64');
    for (let bit = 0; bit < 512; bit++) {
      const bad = Buffer.from(sig);
      bad[bit >> 3] ^= 1 << (bit & 7);
      if (verifyCheckpointSignature({ ...cp, signature: bad.toString('base64') }, rfcPublicPem)) throw new Error(`accepted signature bit ${bit}`);
    }
    expect(verifyCheckpointSignature(cp, generateKeyPairSync('ed25519').publicKey)).toBe(false);
    expect(verifyCheckpointSignature(cp, generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey)).toBe(false);
    expect(verifyCheckpointSignature(cp, 'not a pem')).toBe(false);
    expect(verifyCheckpointSignature({ ...cp, signature: 'AAAA' }, rfcPublicPem)).toBe(false);
  });

  it('refuses to sign malformed checkpoints or with a non-Ed25519 key', () => {
    expect(() => signCheckpoint({ ...body, rootHash: 'ABC' }, rfcKey)).toThrow(TypeError);
    expect(() => signCheckpoint({ ...body, treeSize: -1 }, rfcKey)).toThrow(TypeError);
    expect(() => signCheckpoint({ ...body, issuedAt: 'yesterday' }, rfcKey)).toThrow(TypeError);
    expect(() => signCheckpoint(body, createPublicKey(rfcKey))).toThrow(TypeError);
    expect(() => signCheckpoint(body, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey)).toThrow(TypeError);
  });

  it('hashes the full signed checkpoint for the next one to link to', () => {
    expect(checkpointHash(cp)).toMatch(/^[0-9a-f]{64}$/);
    // Independent: SHA-256 of the canonical JSON with the signature key in its sorted place.
    const full = `{"chain":"ehr-gateway-0","issuedAt":"2025-01-02T03:04:05.678Z","keyId":"${cp.keyId}","lastHash":"${h('b')}","previous":null,"rootHash":"${h('a')}","signature":"${cp.signature}","treeSize":1000}`;
    expect(checkpointHash(cp)).toBe(createHash('sha256').update(full).digest('hex'));
    const other = signCheckpoint(body, generateKeyPairSync('ed25519').privateKey);
    expect(checkpointHash(other)).not.toBe(checkpointHash(cp));
  });
});

describe('a run of checkpoints', () => {
  const oldKey = rfcKey;
  const newKey = generateKeyPairSync('ed25519').privateKey;
  const foreign = generateKeyPairSync('ed25519').privateKey;
  const keys = new Map<string, string | KeyObject>([
    [keyIdFor(oldKey), rfcPublicPem],
    [keyIdFor(newKey), createPublicKey(newKey)],
  ]);

  /** Six checkpoints; the key rotates after the third. */
  function issue(): Checkpoint[] {
    const out: Checkpoint[] = [];
    let previous: string | null = null;
    for (let i = 0; i < 6; i++) {
      const cp = signCheckpoint({ ...body, treeSize: 100 * (i + 1), rootHash: h(String(i)), lastHash: h(String(i + 1)), previous }, i < 3 ? oldKey : newKey);
      out.push(cp);
      previous = checkpointHash(cp);
    }
    return out;
  }
  const resign = (cp: Checkpoint, key: KeyObject, keyId?: string): Checkpoint => signCheckpoint(cp, key, keyId);

  it('verifies an intact run across a key rotation, with keys as a Map or a record', () => {
    const run = issue();
    expect(verifyCheckpointChain(run, keys)).toEqual({ ok: true, verified: 6, fault: null });
    expect(verifyCheckpointChain(run, Object.fromEntries(keys), { previous: null }).ok).toBe(true);
    expect(verifyCheckpointChain(run.slice(2), keys).ok).toBe(true);
    expect(verifyCheckpointChain(run.slice(2), keys, { previous: checkpointHash(run[1]) }).ok).toBe(true);
    expect(verifyCheckpointChain([], keys).ok).toBe(true);
  });

  it('accepts a repeated tree head (a shutdown checkpoint with no new records)', () => {
    const run = issue().slice(0, 2);
    run.push(signCheckpoint({ ...run[1], issuedAt: '2025-01-02T04:00:00Z', previous: checkpointHash(run[1]) }, oldKey));
    expect(verifyCheckpointChain(run, keys).ok).toBe(true);
  });

  const cases: Array<[string, (run: Checkpoint[]) => Checkpoint[], number, string]> = [
    ['a field changed after signing', (r) => ((r[2] = { ...r[2], rootHash: h('f') }), r), 2, 'bad_signature'],
    ['re-signed with a foreign key under its key id', (r) => ((r[4] = resign(r[4], foreign, r[4].keyId)), r), 4, 'bad_signature'],
    ['re-signed with a foreign key under the foreign key id', (r) => ((r[1] = resign(r[1], foreign)), r), 1, 'unknown_key'],
    ['a checkpoint removed', (r) => (r.splice(3, 1), r), 3, 'broken_link'],
    ['two checkpoints swapped', (r) => (([r[2], r[3]] = [r[3], r[2]]), r), 2, 'broken_link'],
    ['a forged one inserted and signed with a stolen key', (r) => (r.splice(2, 0, signCheckpoint({ ...body, treeSize: 250, previous: checkpointHash(r[1]) }, oldKey)), r), 3, 'broken_link'],
    ['the tree shrinks', (r) => ((r[2] = resign({ ...r[2], treeSize: 150 }, oldKey)), r), 2, 'size_regression'],
    ['a second head for the same size', (r) => ((r[2] = resign({ ...r[2], treeSize: 200 }, oldKey)), r), 2, 'fork'],
    ['a checkpoint of another chain', (r) => ((r[5] = resign({ ...r[5], chain: 'other' }, newKey)), r), 5, 'wrong_chain'],
    ['a field missing', (r) => ((r[0] = { ...r[0], lastHash: undefined } as unknown as Checkpoint), r), 0, 'malformed'],
  ];
  it.each(cases)('names the first bad one: %s', (_desc, tamper, index, kind) => {
    const verdict = verifyCheckpointChain(tamper(issue()), keys);
    expect(verdict.ok).toBe(false);
    expect(verdict.fault).toMatchObject({ index, kind, chain: body.chain });
    expect(verdict.verified).toBe(index);
  });

  it('checks the first link when told what it must be', () => {
    const run = issue();
    expect(verifyCheckpointChain(run.slice(1), keys, { previous: null }).fault).toMatchObject({ index: 0, kind: 'broken_link' });
    expect(verifyCheckpointChain(run.slice(2), keys, { previous: checkpointHash(run[0]) }).fault).toMatchObject({ index: 0, kind: 'broken_link' });
  });

  it('maps faults to the verifier break kinds', () => {
    expect(checkpointFaultBreakKind('bad_signature')).toBe('bad_signature');
    expect(checkpointFaultBreakKind('unknown_key')).toBe('bad_signature');
    expect(checkpointFaultBreakKind('broken_link')).toBe('bad_checkpoint');
    expect(checkpointFaultBreakKind('fork')).toBe('bad_checkpoint');
  });
});

describe('inclusion proof documents (CONTRACT)', () => {
  const recordHashes = Array.from({ length: 1000 }, (_, i) => createHash('sha256').update(`record ${i}`).digest());
  const acc = new MerkleAccumulator();
  for (const r of recordHashes) acc.appendRecordHash(r);
  const prover = new MerkleProver(recordHashes.map((r) => leafHash(r)));
  const cp = signCheckpoint({ ...body, treeSize: 1000, rootHash: acc.root().toString('hex'), lastHash: recordHashes[999].toString('hex') }, rfcKey);
  const doc = (seq: number): InclusionProofDocument => ({
    chain: body.chain,
    seq,
    recordHash: recordHashes[seq].toString('hex'),
    leafIndex: seq,
    auditPath: prover.inclusionProof(seq, 1000).map((x) => x.toString('hex')),
    checkpoint: cp,
  });

  /** What an auditor would write from the CONTRACT text alone: node:crypto and the JSON. */
  function independentCheck(json: string, publicKeyPem: string): boolean {
    const d = JSON.parse(json);
    const c = d.checkpoint;
    const { signature, ...unsigned } = c;
    const canon = (o: Record<string, unknown>): string => '{' + Object.keys(o).sort().map((k) => JSON.stringify(k) + ':' + JSON.stringify(o[k])).join(',') + '}';
    if (!verify(null, Buffer.from(canon(unsigned)), createPublicKey(publicKeyPem), Buffer.from(signature, 'base64'))) return false;
    const H = (...b: Buffer[]): Buffer => createHash('sha256').update(Buffer.concat(b)).digest();
    let fn = d.leafIndex;
    let sn = c.treeSize - 1;
    let r = H(Buffer.from([0]), Buffer.from(d.recordHash, 'hex'));
    for (const p of d.auditPath.map((x: string) => Buffer.from(x, 'hex'))) {
      if (sn === 0) return false;
      if (fn % 2 === 1 || fn === sn) {
        r = H(Buffer.from([1]), p, r);
        while (fn % 2 === 0 && fn !== 0) [fn, sn] = [fn / 2, Math.floor(sn / 2)];
      } else r = H(Buffer.from([1]), r, p);
      [fn, sn] = [Math.floor(fn / 2), Math.floor(sn / 2)];
    }
    return sn === 0 && r.toString('hex') === c.rootHash;
  }

  it('every sampled record proves with the library and with the independent checker', () => {
    for (const seq of [0, 1, 2, 41, 500, 511, 512, 998, 999]) {
      const d = doc(seq);
      expect(verifyInclusionProofDocument(d, rfcPublicPem)).toEqual({ ok: true, reason: null });
      expect(independentCheck(JSON.stringify(d), rfcPublicPem)).toBe(true);
    }
  });

  it('fails for a wrong record, index, path, chain, checkpoint or key', () => {
    const d = doc(41);
    const bad: InclusionProofDocument[] = [
      { ...d, recordHash: recordHashes[42].toString('hex') },
      { ...d, leafIndex: 42 },
      { ...d, auditPath: d.auditPath.slice(1) },
      { ...d, auditPath: [...d.auditPath].reverse() },
      { ...d, chain: 'other' },
      { ...d, checkpoint: { ...cp, treeSize: 999 } },
      { ...d, checkpoint: signCheckpoint({ ...cp, rootHash: h('e') }, rfcKey) },
    ];
    for (const b of bad) {
      expect(verifyInclusionProofDocument(b, rfcPublicPem).ok).toBe(false);
    }
    expect(verifyInclusionProofDocument(d, generateKeyPairSync('ed25519').publicKey).ok).toBe(false);
    expect(independentCheck(JSON.stringify({ ...d, leafIndex: 42 }), rfcPublicPem)).toBe(false);
  });
});
