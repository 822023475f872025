/**
 * The integrity statement over real signed checkpoints: which checkpoint seals which listed
 * records, what is not sealed yet, and that a bad signature, an unknown key or a store that no
 * longer matches the sealed head are reported as not verified.
 */
import { generateKeyPairSync } from 'node:crypto';
import { Checkpoint, keyIdFor, leafHash, rootFromLeaves, signCheckpoint } from '@app/ledger';
import { CheckpointIntegritySource, UnavailableIntegritySource } from './report-integrity';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const keyId = keyIdFor(publicKey);
const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
const hashes = Array.from({ length: 10 }, (_, i) => Buffer.alloc(32, i + 1));

function checkpoint(treeSize: number): Checkpoint {
  return signCheckpoint(
    {
      chain: 'data_access',
      treeSize,
      rootHash: rootFromLeaves(hashes.slice(0, treeSize).map((h) => leafHash(h))).toString('hex'),
      lastHash: hashes[treeSize - 1].toString('hex'),
      issuedAt: '2026-01-02T00:00:00Z',
      previous: null,
    },
    privateKey,
  );
}

function source(latest: Checkpoint | null, stored = hashes) {
  return new CheckpointIntegritySource(
    { latest: async (chain) => (chain === 'data_access' && latest ? { checkpoint: latest } : null) },
    () => new Map([[keyId, pem]]),
    async (_chain, seq) => stored[seq] ?? null,
  );
}

describe('report integrity statement', () => {
  it('names the checkpoint sealing the listed records and what is not sealed yet', async () => {
    const s = await source(checkpoint(8)).checkpointsFor([
      { chain: 'data_access', fromSeq: 2, toSeq: 9, records: 4 },
      { chain: 'authentication', fromSeq: 0, toSeq: 3, records: 2 },
    ]);
    expect(s).toMatchObject({
      available: true,
      verified: true,
      checks: ['signature', 'head-matches-store'],
      checkpoints: [{ chain: 'data_access', treeSize: 8, keyId, seals: { fromSeq: 2, toSeq: 7 }, verified: true, problem: null }],
      unsealed: [
        { chain: 'data_access', fromSeq: 8, toSeq: 9 },
        { chain: 'authentication', fromSeq: 0, toSeq: 3 },
      ],
    });
  });

  it('nothing sealed yet: verified is null (nothing to check), not true', async () => {
    const s = await source(null).checkpointsFor([{ chain: 'data_access', fromSeq: 0, toSeq: 3, records: 4 }]);
    expect(s).toMatchObject({ available: true, verified: null, checkpoints: [], unsealed: [{ chain: 'data_access', fromSeq: 0, toSeq: 3 }] });
  });

  it('reports a bad signature, an unknown key and a store that differs from the sealed head', async () => {
    const cp = checkpoint(8);
    const forged = { ...cp, rootHash: 'f'.repeat(64) };
    const spans = [{ chain: 'data_access', fromSeq: 0, toSeq: 3, records: 4 }];
    expect(await source(forged).checkpointsFor(spans)).toMatchObject({ verified: false, checkpoints: [{ verified: false, problem: 'the checkpoint signature does not verify' }] });
    expect(await source({ ...cp, keyId: 'feedfacefeedface' }).checkpointsFor(spans)).toMatchObject({ verified: false, checkpoints: [{ problem: 'no public key with id feedfacefeedface' }] });
    const altered = hashes.map((h, i) => (i === 7 ? Buffer.alloc(32, 0xee) : h));
    expect(await source(cp, altered).checkpointsFor(spans)).toMatchObject({ verified: false, checkpoints: [{ problem: 'the stored record at seq 7 differs from the sealed one' }] });
  });

  it('without a checkpoint store it says so', async () => {
    expect(await new UnavailableIntegritySource('no checkpoint store').checkpointsFor()).toEqual({ available: false, reason: 'no checkpoint store' });
  });
});
