import { canonicalize } from './canonical-json';
import { ChainRow, ChainVerifier } from './chain-verifier';
import { GENESIS_HASH, recordHash } from './record-hash';

const CHAIN = 'data_access';

function buildChain(n: number): ChainRow[] {
  const rows: ChainRow[] = [];
  let prev = GENESIS_HASH;
  for (let seq = 0; seq < n; seq++) {
    const eventJson = canonicalize({ id: `e-${seq}`, action: 'read', n: seq });
    const receivedAt = new Date(Date.UTC(2026, 0, 1, 0, 0, seq)).toISOString();
    const hash = recordHash(prev, CHAIN, seq, receivedAt, eventJson);
    rows.push({ seq, receivedAt, eventJson, prevHash: prev, hash });
    prev = hash;
  }
  return rows;
}

function verify(rows: ChainRow[], head?: { seq: number; hash: Buffer }) {
  const v = new ChainVerifier(CHAIN);
  for (const r of [...rows].sort((a, b) => a.seq - b.seq)) if (!v.push(r)) break;
  return v.finish(head ?? null);
}

describe('ChainVerifier', () => {
  const original = buildChain(40);
  const head = { seq: 39, hash: original[39].hash };

  it('accepts an untouched chain and counts every record', () => {
    const verdict = verify(original, head);
    expect(verdict.break).toBeNull();
    expect(verdict.verified).toBe(40);
  });

  it.each([0, 1, 17, 38, 39])('names a modified record at seq %i', (k) => {
    const rows = original.map((r) => ({ ...r }));
    rows[k] = { ...rows[k], eventJson: rows[k].eventJson.replace('read', 'reaD') };
    expect(verify(rows, head).break).toMatchObject({ chain: CHAIN, seq: k, kind: 'modified' });
  });

  it.each([0, 5, 20, 38])('names a deleted record at seq %i', (k) => {
    const rows = original.filter((r) => r.seq !== k);
    expect(verify(rows, head).break).toMatchObject({ seq: k, kind: 'deleted' });
  });

  it('names records deleted from the end using the recorded head', () => {
    expect(verify(original.slice(0, 37), head).break).toMatchObject({ seq: 37, kind: 'deleted' });
  });

  it.each([0, 1, 12, 38])('names adjacent records swapped at seq %i', (k) => {
    const rows = original.map((r) => ({ ...r }));
    const a = rows[k];
    const b = rows[k + 1];
    rows[k] = { ...b, seq: k };
    rows[k + 1] = { ...a, seq: k + 1 };
    expect(verify(rows, head).break).toMatchObject({ seq: k, kind: 'reordered' });
  });

  it.each([0, 9, 25])('names a forged record inserted at seq %i (later records renumbered)', (k) => {
    // The forger links and hashes the record correctly; the genuine record that followed no longer links.
    const forgedJson = canonicalize({ id: 'forged', action: 'read', n: -1 });
    const prev = k === 0 ? GENESIS_HASH : original[k - 1].hash;
    const receivedAt = original[k].receivedAt;
    const forged: ChainRow = { seq: k, receivedAt, eventJson: forgedJson, prevHash: prev, hash: recordHash(prev, CHAIN, k, receivedAt, forgedJson) };
    const rows = [...original.slice(0, k), forged, ...original.slice(k).map((r) => ({ ...r, seq: r.seq + 1 }))];
    expect(verify(rows, head).break).toMatchObject({ seq: k, kind: 'inserted' });
  });

  it('names a well-forged record appended past the head', () => {
    const last = original[39];
    const json = canonicalize({ id: 'forged' });
    const forged: ChainRow = { seq: 40, receivedAt: last.receivedAt, eventJson: json, prevHash: last.hash, hash: recordHash(last.hash, CHAIN, 40, last.receivedAt, json) };
    expect(verify([...original, forged], head).break).toMatchObject({ seq: 40, kind: 'inserted' });
  });

  it('verifies a range starting after a retained prefix', () => {
    const v = new ChainVerifier(CHAIN, { seq: 10, prevHash: original[9].hash });
    for (const r of original.slice(10)) v.push(r);
    expect(v.finish(head)).toMatchObject({ verified: 30, break: null });
  });
});

describe('canonicalize (RFC 8785)', () => {
  it('sorts keys by UTF-16 code units and drops white space', () => {
    expect(canonicalize({ b: 1, a: [true, null, 'x'], é: 2, A: { z: 1, y: 2 } })).toBe('{"A":{"y":2,"z":1},"a":[true,null,"x"],"b":1,"é":2}');
  });

  it('serializes numbers as ECMAScript does (RFC 8785 appendix B samples)', () => {
    expect(canonicalize([1e21, 1e-7, 0.1, -0, 333333333.33333329, 4.5])).toBe('[1e+21,1e-7,0.1,0,333333333.3333333,4.5]');
  });

  it('escapes strings as JSON.stringify does', () => {
    expect(canonicalize({ s: '\u0000\n"\\\u2028' })).toBe('{"s":"\\u0000\\n\\"\\\\\u2028"}');
  });
});
