import { generateKeyPairSync } from 'node:crypto';
import { canonicalize } from './canonical-json';
import { ChainHead, ChainRow, ChainVerifier, CheckedRun } from './chain-verifier';
import { Checkpoint, checkpointHash, keyIdFor, signCheckpoint } from './checkpoint';
import { MerkleAccumulator, frontierToJSON } from './merkle';
import { GENESIS_HASH, recordHash } from './record-hash';
import { ChainRangeVerifier, verifyChainRange } from './range-verifier';
import { PlannedCheckpoint, mergeChainVerdicts, planChainVerification } from './verification-plan';

const CHAIN = 'data_access';
const N = 3000;
const EVERY = 500;
const key = generateKeyPairSync('ed25519').privateKey;
const foreign = generateKeyPairSync('ed25519').privateKey;
const keys = new Map([[keyIdFor(key), key]]);

function row(seq: number, prev: Buffer, text = `event ${seq}`): ChainRow {
  const eventJson = canonicalize({ id: `e-${seq}`, text });
  const receivedAt = new Date(Date.UTC(2026, 0, 1, 0, 0, 0, seq)).toISOString();
  return { seq, receivedAt, eventJson, prevHash: prev, hash: recordHash(prev, CHAIN, seq, receivedAt, eventJson) };
}

function build(): { rows: ChainRow[]; checkpoints: PlannedCheckpoint[]; head: ChainHead } {
  const rows: ChainRow[] = [];
  const checkpoints: PlannedCheckpoint[] = [];
  const acc = new MerkleAccumulator();
  let prev = GENESIS_HASH;
  let previous: string | null = null;
  for (let seq = 0; seq < N; seq++) {
    const r = row(seq, prev);
    rows.push(r);
    acc.appendRecordHash(r.hash);
    prev = r.hash;
    if ((seq + 1) % EVERY === 0) {
      const cp = signCheckpoint({ chain: CHAIN, treeSize: seq + 1, rootHash: acc.root().toString('hex'), lastHash: r.hash.toString('hex'), issuedAt: '2026-01-01T00:00:00Z', previous }, key);
      checkpoints.push({ checkpoint: cp, frontier: frontierToJSON(acc.frontier()) });
      previous = checkpointHash(cp);
    }
  }
  return { rows, checkpoints, head: { seq: N - 1, hash: prev } };
}

/** What a database read does: rows of the range in seq order (duplicates in stored order). */
function select(rows: ChainRow[], from: number, to: number | null): ChainRow[] {
  return rows.filter((r) => r.seq >= from && (to === null || r.seq <= to)).sort((a, b) => a.seq - b.seq);
}

function verify(rows: ChainRow[], checkpoints: PlannedCheckpoint[], head: ChainHead, recordsPerRange: number, roots?: boolean) {
  const plan = planChainVerification({ chain: CHAIN, checkpoints, publicKeys: keys, firstPrevious: null, endSeq: null, head, recordsPerRange, roots });
  const verdicts = plan.ranges.map((spec) => {
    const limit = spec.endSeq === null ? null : spec.endSeq + 2;
    return verifyChainRange(spec, select(rows, spec.start.seq, limit));
  });
  return { plan, outcome: mergeChainVerdicts(plan, verdicts) };
}

/** Rows as a fast reader hands them: runs of up to 1..7 rows that hash and link (CheckedRun), the others one by one. */
function verifyWithRuns(rows: ChainRow[], checkpoints: PlannedCheckpoint[], head: ChainHead, recordsPerRange: number) {
  const plan = planChainVerification({ chain: CHAIN, checkpoints, publicKeys: keys, firstPrevious: null, endSeq: null, head, recordsPerRange, roots: false });
  let cut = 0;
  const verdicts = plan.ranges.map((spec) => {
    const v = new ChainRangeVerifier(spec);
    const selected = select(rows, spec.start.seq, spec.endSeq === null ? null : spec.endSeq + 2);
    const good = (r: ChainRow) => recordHash(r.prevHash, CHAIN, r.seq, r.receivedAt, r.eventJson).equals(r.hash);
    outer: for (let i = 0; i < selected.length; ) {
      if (!good(selected[i])) {
        if (!v.push(selected[i++])) break;
        continue;
      }
      let j = i + 1;
      const max = 1 + (cut++ % 7);
      while (j < selected.length && j - i < max && good(selected[j]) && selected[j].seq === selected[j - 1].seq + 1 && selected[j].prevHash.equals(selected[j - 1].hash)) j++;
      const part = selected.slice(i, j);
      const run: CheckedRun = {
        checkedRun: true,
        firstSeq: part[0].seq,
        count: part.length,
        firstLinksTo: (h) => part[0].prevHash.equals(h),
        hashAt: (k) => part[k].hash,
        row: (k) => ({ ...part[k], hashChecked: true }),
      };
      i = j;
      if (!v.pushRun(run)) break outer;
    }
    return v.finish();
  });
  return mergeChainVerdicts(plan, verdicts);
}

function singleWalk(rows: ChainRow[], head: ChainHead) {
  const v = new ChainVerifier(CHAIN);
  for (const r of select(rows, 0, null)) if (!v.push(r)) break;
  return v.finish(head).break;
}

const pristine = build();
const POSITIONS = [0, 1, 2, 250, 498, 499, 500, 501, 999, 1000, 1001, 1499, 2000, 2499, 2500, 2997, 2998, 2999];

describe('planned, range-split verification', () => {
  it('accepts the untouched chain and checks every checkpoint, split or not', () => {
    for (const per of [1, 1000, 1_000_000]) {
      const { plan, outcome } = verify(pristine.rows, pristine.checkpoints, pristine.head, per);
      expect(outcome.break).toBeNull();
      expect(outcome.verified).toBe(N);
      expect(outcome.checkpointsVerified).toBe(N / EVERY);
      if (per === 1) expect(plan.ranges).toHaveLength(N / EVERY + 1);
    }
  });

  const cases: [string, (rows: ChainRow[], s: number) => ChainRow[], string][] = [
    ['modified', (rows, s) => rows.map((r) => (r.seq === s ? { ...r, eventJson: r.eventJson.replace('event', 'EVENT') } : r)), 'modified'],
    ['deleted', (rows, s) => rows.filter((r) => r.seq !== s), 'deleted'],
    [
      'inserted',
      (rows, s) => {
        const prev = s === 0 ? GENESIS_HASH : rows[s - 1].hash;
        const shifted = rows.map((r) => (r.seq >= s ? { ...r, seq: r.seq + 1 } : r));
        return [...shifted, row(s, prev, 'forged')];
      },
      'inserted',
    ],
    [
      'swapped',
      (rows, s) => rows.map((r) => (r.seq === s ? { ...rows[s + 1], seq: s } : r.seq === s + 1 ? { ...rows[s], seq: s + 1 } : r)),
      'reordered',
    ],
  ];

  for (const [name, tamper, kind] of cases) {
    it(`chain mode fed runs of checked records names a ${name} record exactly as row by row`, () => {
      for (const s of POSITIONS) {
        if (name === 'swapped' && s === N - 1) continue;
        const rows = tamper(pristine.rows, s);
        for (const per of [1, 1_000_000]) {
          expect({ s, per, outcome: verifyWithRuns(rows, pristine.checkpoints, pristine.head, per) }).toEqual({
            s,
            per,
            outcome: verify(rows, pristine.checkpoints, pristine.head, per, false).outcome,
          });
        }
      }
    });

    it(`chain mode (no Merkle roots) names a ${name} record exactly as the full check does`, () => {
      for (const s of POSITIONS) {
        if (name === 'swapped' && s === N - 1) continue;
        const rows = tamper(pristine.rows, s);
        for (const per of [1, 1_000_000]) {
          const full = verify(rows, pristine.checkpoints, pristine.head, per).outcome;
          const chainOnly = verify(rows, pristine.checkpoints, pristine.head, per, false).outcome;
          expect({ s, per, b: chainOnly.break, verified: chainOnly.verified }).toEqual({ s, per, b: full.break, verified: full.verified });
          expect({ s, per, b: chainOnly.break && { seq: chainOnly.break.seq, kind: chainOnly.break.kind } }).toEqual({ s, per, b: { seq: s, kind } });
        }
      }
    });

    it(`names a ${name} record at the right seq, with or without splitting at checkpoints`, () => {
      for (const s of POSITIONS) {
        if (name === 'swapped' && s === N - 1) continue;
        const rows = tamper(pristine.rows, s);
        const expected = { chain: CHAIN, seq: s, kind };
        const split = verify(rows, pristine.checkpoints, pristine.head, 1).outcome.break;
        const whole = verify(rows, pristine.checkpoints, pristine.head, 1_000_000).outcome.break;
        expect({ s, b: split && { chain: split.chain, seq: split.seq, kind: split.kind } }).toEqual({ s, b: expected });
        expect({ s, b: whole && { chain: whole.chain, seq: whole.seq, kind: whole.kind } }).toEqual({ s, b: expected });
        const walk = singleWalk(rows, pristine.head);
        expect({ s, seq: walk?.seq, kind: walk?.kind }).toEqual({ s, seq: s, kind });
      }
    });
  }

  it('names a checkpoint whose fields were changed (signature no longer verifies) as bad_signature at its last seq', () => {
    const cps = pristine.checkpoints.map((c, i) => (i === 2 ? { ...c, checkpoint: { ...c.checkpoint, rootHash: '0'.repeat(64) } } : c));
    expect(verify(pristine.rows, cps, pristine.head, 1).outcome.break).toMatchObject({ seq: 3 * EVERY - 1, kind: 'bad_signature' });
  });

  it.each([
    ['its own key id', (cp: Checkpoint) => signCheckpoint(cp, foreign)],
    ['our key id', (cp: Checkpoint) => signCheckpoint(cp, foreign, cp.keyId)],
  ])('names a checkpoint re-signed with a foreign key (%s) as bad_signature', (_label, resign) => {
    const cps = pristine.checkpoints.map((c, i) => (i === 3 ? { ...c, checkpoint: resign(c.checkpoint) } : c));
    expect(verify(pristine.rows, cps, pristine.head, 1).outcome.break).toMatchObject({ seq: 4 * EVERY - 1, kind: 'bad_signature' });
  });

  it('names a removed checkpoint at the next one (broken link)', () => {
    const cps = pristine.checkpoints.filter((_, i) => i !== 1);
    expect(verify(pristine.rows, cps, pristine.head, 1).outcome.break).toMatchObject({ seq: 3 * EVERY - 1, kind: 'bad_checkpoint' });
  });

  it('names history rewritten and re-hashed under signed checkpoints as modified at the first record of the block', () => {
    const s = 1234;
    const rows = pristine.rows.slice(0, s);
    let prev = rows[s - 1].hash;
    for (let seq = s; seq < N; seq++) {
      const r = row(seq, prev, seq === s ? 'rewritten' : `event ${seq}`);
      rows.push(r);
      prev = r.hash;
    }
    const head = { seq: N - 1, hash: prev };
    for (const per of [1, 1_000_000]) expect(verify(rows, pristine.checkpoints, head, per).outcome.break).toMatchObject({ seq: 1000, kind: 'modified' });
  });

  it('chain mode names history rewritten and re-hashed under signed checkpoints at the first record of the block too', () => {
    const s = 1234;
    const rows = pristine.rows.slice(0, s);
    let prev = rows[s - 1].hash;
    for (let seq = s; seq < N; seq++) {
      const r = row(seq, prev, seq === s ? 'rewritten' : `event ${seq}`);
      rows.push(r);
      prev = r.hash;
    }
    const head = { seq: N - 1, hash: prev };
    for (const per of [1, 1_000_000]) {
      expect(verify(rows, pristine.checkpoints, head, per, false).outcome.break).toMatchObject({ seq: 1000, kind: 'modified' });
      expect(verifyWithRuns(rows, pristine.checkpoints, head, per)).toEqual(verify(rows, pristine.checkpoints, head, per, false).outcome);
    }
  });

  it('names records missing under a signed checkpoint even when the head was rewound too', () => {
    const rows = pristine.rows.slice(0, 2200);
    const head = { seq: 2199, hash: rows[2199].hash };
    expect(verify(rows, pristine.checkpoints, head, 1).outcome.break).toMatchObject({ seq: 2200, kind: 'deleted' });
  });

  it('chain mode checks each checkpoint by its lastHash: a root the records do not give is found only with roots', () => {
    // A checkpoint signed with the real key over a wrong root (a faulty signer), its lastHash right.
    const cps = pristine.checkpoints.map((c, i) => {
      if (i < 2) return c;
      const body = { ...c.checkpoint, rootHash: i === 2 ? 'cd'.repeat(32) : c.checkpoint.rootHash, previous: null as string | null };
      return { ...c, checkpoint: body };
    });
    // Re-sign the run from #2 on so that signatures and links verify.
    let previous = checkpointHash(cps[1].checkpoint);
    for (let i = 2; i < cps.length; i++) {
      const { signature: _s, keyId: _k, ...body } = cps[i].checkpoint;
      cps[i] = { ...cps[i], checkpoint: signCheckpoint({ ...body, previous }, key) };
      previous = checkpointHash(cps[i].checkpoint);
    }
    for (const per of [1, 1_000_000]) {
      expect(verify(pristine.rows, cps, pristine.head, per).outcome.break).toMatchObject({ seq: 3 * EVERY - 1, kind: 'bad_checkpoint' });
      const chainOnly = verify(pristine.rows, cps, pristine.head, per, false).outcome;
      expect(chainOnly.break).toBeNull();
      expect(chainOnly.checkpointsVerified).toBe(N / EVERY);
    }
  });

  it('chain mode splits at every trusted checkpoint, stored frontier or not, and needs none to start a range request', () => {
    const cps = pristine.checkpoints.map((c) => ({ ...c, frontier: null }));
    const { plan, outcome } = verify(pristine.rows, cps, pristine.head, 1, false);
    expect(outcome.break).toBeNull();
    expect(outcome.verified).toBe(N);
    expect(plan.ranges).toHaveLength(N / EVERY + 1);
    const ranged = planChainVerification({ chain: CHAIN, checkpoints: cps, publicKeys: keys, startAtOrBefore: 1200, endSeq: null, head: pristine.head, roots: false });
    expect(ranged.startSeq).toBe(1000);
    const verdicts = ranged.ranges.map((spec) => verifyChainRange(spec, select(pristine.rows, spec.start.seq, spec.endSeq === null ? null : spec.endSeq + 2)));
    expect(mergeChainVerdicts(ranged, verdicts)).toMatchObject({ break: null, verified: N - 1000, checkpointsVerified: 4 });
  });

  it('ignores a damaged stored frontier (it only costs the split)', () => {
    const cps = pristine.checkpoints.map((c, i) => (i === 1 ? { ...c, frontier: { size: c.frontier!.size, hashes: c.frontier!.hashes.map(() => 'ab'.repeat(32)) } } : c));
    const { plan, outcome } = verify(pristine.rows, cps, pristine.head, 1);
    expect(outcome.break).toBeNull();
    expect(plan.ranges).toHaveLength(N / EVERY);
  });

  it('verifies a range that starts at a checkpoint and ends before the head, with following hashes for the sealing checkpoint', () => {
    const plan = planChainVerification({
      chain: CHAIN,
      checkpoints: pristine.checkpoints,
      publicKeys: keys,
      startAtOrBefore: 1200,
      endSeq: 1750,
      followingHashes: pristine.rows.slice(1751, 2000).map((r) => r.hash),
    });
    expect(plan.startSeq).toBe(1000);
    const verdicts = plan.ranges.map((spec) => verifyChainRange(spec, select(pristine.rows, spec.start.seq, spec.endSeq === null ? null : spec.endSeq + 2)));
    const outcome = mergeChainVerdicts(plan, verdicts);
    expect(outcome.break).toBeNull();
    expect(outcome.checkpointsVerified).toBe(2); // tree sizes 1500 and 2000
  });
});
