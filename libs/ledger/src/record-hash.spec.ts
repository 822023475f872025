/**
 * RecordHashBuilder (the verification fast path's byte-level record hash) against recordHash, the
 * definition of the chain hash: equal digests for random records, whatever the event holds
 * (unicode, escapes, numbers, nested extensions) and however the event bytes are split.
 */
import { createHash } from 'node:crypto';
import { canonicalize } from './canonical-json';
import { GENESIS_HASH, RecordHashBuilder, canonicalRecord, recordHash } from './record-hash';

/** Deterministic PRNG (mulberry32) so a failure names a reproducible case. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ALPHABET = ['a', 'Z', '0', ' ', '"', '\\', '/', '\n', '\u0001', '\u001f', 'é', 'ß', '€', '中', '😀', '\u2028', '\ud800', '\udfff', '\u007f'];

function randomString(r: () => number, max: number): string {
  let s = '';
  const n = Math.floor(r() * max);
  for (let i = 0; i < n; i++) s += ALPHABET[Math.floor(r() * ALPHABET.length)];
  return s;
}

function randomValue(r: () => number, depth: number): unknown {
  const k = Math.floor(r() * (depth > 2 ? 4 : 7));
  switch (k) {
    case 0:
      return randomString(r, 12);
    case 1:
      return [0, -0, 1e21, 1e-7, 123.456, -(2 ** 53) + 1, Math.floor(r() * 1e9)][Math.floor(r() * 7)];
    case 2:
      return r() < 0.5;
    case 3:
      return null;
    case 4:
    case 5: {
      const o: Record<string, unknown> = {};
      const n = Math.floor(r() * 4);
      for (let i = 0; i < n; i++) o[randomString(r, 6)] = randomValue(r, depth + 1);
      return o;
    }
    default:
      return Array.from({ length: Math.floor(r() * 3) }, () => randomValue(r, depth + 1));
  }
}

function randomEvent(r: () => number): Record<string, unknown> {
  return {
    id: `00000000-0000-4000-8000-${String(Math.floor(r() * 1e12)).padStart(12, '0')}`,
    occurredAt: '2026-03-01T12:00:00.000Z',
    category: 'data_access',
    action: 'read',
    outcome: 'success',
    actor: { id: randomString(r, 10), type: 'user', ip: '10.0.0.' + Math.floor(r() * 255) },
    patient: { id: randomString(r, 12) },
    source: { system: 'ehr' },
    extensions: randomValue(r, 0),
  };
}

describe('RecordHashBuilder', () => {
  it('gives the recordHash digest for 2,000 random records, with the event bytes split anywhere', () => {
    const r = rng(20261123);
    const chains = ['data_access', 'access_log', 'ünïcode-chain', 'a"b'];
    const builders = new Map(chains.map((c) => [c, new RecordHashBuilder(c)]));
    let prev: Buffer = GENESIS_HASH;
    for (let i = 0; i < 2000; i++) {
      const chain = chains[i % chains.length];
      const eventJson = canonicalize(randomEvent(r));
      const seq = Math.floor(r() * 2 ** 40);
      const receivedAt = r() < 0.9 ? new Date(1.7e12 + Math.floor(r() * 1e10)).toISOString() : randomString(r, 30);
      const bytes = Buffer.from(eventJson, 'utf8');
      const b = builders.get(chain)!;
      b.begin(prev);
      // Append in up to four pieces (the reader appends stored text and opened values in turn).
      const cuts = [0, ...Array.from({ length: 3 }, () => Math.floor(r() * (bytes.length + 1))).sort((x, y) => x - y), bytes.length];
      for (let k = 0; k + 1 < cuts.length; k++) b.appendEvent(bytes, cuts[k], cuts[k + 1]);
      const fast = b.finish(receivedAt, seq);
      const expected = recordHash(prev, chain, seq, receivedAt, eventJson);
      expect(fast.toString('hex')).toBe(expected.toString('hex'));
      // And both are SHA-256 over prevHash || UTF-8 of the canonical record (the CONTRACT definition).
      expect(expected.equals(createHash('sha256').update(prev).update(canonicalRecord(chain, seq, receivedAt, eventJson), 'utf8').digest())).toBe(true);
      prev = expected;
    }
  });

  it('grows past its starting buffer for large events', () => {
    const big = canonicalize({ id: 'x', extensions: { blob: '€'.repeat(10_000) } });
    const b = new RecordHashBuilder('data_access');
    b.begin(GENESIS_HASH);
    const bytes = Buffer.from(big, 'utf8');
    b.appendEvent(bytes, 0, bytes.length);
    expect(b.finish('2026-01-01T00:00:00.000Z', 7).equals(recordHash(GENESIS_HASH, 'data_access', 7, '2026-01-01T00:00:00.000Z', big))).toBe(true);
  });

  it('refuses a previous hash that is not 32 bytes', () => {
    expect(() => new RecordHashBuilder('c').begin(Buffer.alloc(31))).toThrow(RangeError);
  });
  it('gives the recordHash digest at the edges of the byte-written tail (seq digits, receive times JSON.stringify would change)', () => {
    const b = new RecordHashBuilder('data_access');
    const event = Buffer.from('{"id":"x"}', 'utf8');
    const seqs = [0, 9, 10, 99, 100, 12345678901, Number.MAX_SAFE_INTEGER, 2 ** 53, -1, 1.5, 1e21];
    const times = ['2026-12-07T15:00:00.000Z', '', 'a"b', 'a\\b', 'tab\there', '\u007f', 'é', '~ !'];
    for (const seq of seqs) {
      for (const receivedAt of times) {
        b.begin(GENESIS_HASH);
        b.appendEvent(event, 0, event.length);
        expect(b.finish(receivedAt, seq).toString('hex')).toBe(recordHash(GENESIS_HASH, 'data_access', seq, receivedAt, '{"id":"x"}').toString('hex'));
      }
    }
  });
});

describe('recordHash', () => {
  /** The definition, computed the plain way: SHA-256(prevHash || UTF-8(canonicalRecord(...))). */
  const definition = (prev: Buffer, chain: string, seq: number, receivedAt: string, eventJson: string): string =>
    createHash('sha256').update(prev).update(canonicalRecord(chain, seq, receivedAt, eventJson), 'utf8').digest('hex');

  it('is SHA-256 of prevHash and the canonical record for 2,000 random records (unicode and escapes in chain, receive time and event)', () => {
    const r = rng(20261207);
    for (let i = 0; i < 2000; i++) {
      const prev = i % 7 === 0 ? GENESIS_HASH : createHash('sha256').update(String(i)).digest();
      const chain = i % 3 === 0 ? 'data_access' : randomString(r, 8);
      const receivedAt = i % 2 === 0 ? '2026-03-01T12:00:00.123Z' : randomString(r, 30);
      const seq = Math.floor(r() * 2 ** 40);
      // Built by appending, as the ingest path builds it (a string made of pieces, not one flat string).
      const eventJson = canonicalize(randomEvent(r));
      expect(recordHash(prev, chain, seq, receivedAt, eventJson).toString('hex')).toBe(definition(prev, chain, seq, receivedAt, eventJson));
    }
  });

  it('is the same for an event larger than its scratch buffer, and for the records hashed after it', () => {
    const big = canonicalize({ id: 'x', note: '€'.repeat(40_000) });
    const small = canonicalize({ id: 'y' });
    expect(recordHash(GENESIS_HASH, 'c', 0, 't', big).toString('hex')).toBe(definition(GENESIS_HASH, 'c', 0, 't', big));
    expect(recordHash(GENESIS_HASH, 'c', 1, 't', small).toString('hex')).toBe(definition(GENESIS_HASH, 'c', 1, 't', small));
  });
});
