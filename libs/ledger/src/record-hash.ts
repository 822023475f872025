/**
 * The hash chain: `hash_n = SHA-256(hash_{n-1} || canonical(record_n))`, where the record covers
 * the chain id, the sequence number, the server receive time and the canonical event. The first
 * record of a chain links to 32 zero bytes.
 */
import * as nodeCrypto from 'node:crypto';

export const HASH_BYTES = 32;
export const GENESIS_HASH: Buffer = Buffer.alloc(HASH_BYTES);

/**
 * The canonical (RFC 8785) form of a stored record, built from its parts. `eventJson` must itself
 * be the canonical form of the event. Keys in code-unit order: chain, event, receivedAt, seq.
 */
export function canonicalRecord(chain: string, seq: number, receivedAt: string, eventJson: string): string {
  return `{"chain":${JSON.stringify(chain)},"event":${eventJson},"receivedAt":${JSON.stringify(receivedAt)},"seq":${seq}}`;
}

type OneShotHash = (algorithm: string, data: Uint8Array, outputEncoding: 'buffer') => Buffer;

/**
 * `crypto.hash` (Node >= 20.12) skips the Hash object: hashing one scratch buffer holding
 * prevHash || UTF-8(record) is about 1.6x faster than createHash().update().update() for records
 * of a few hundred bytes, which is most of the cost of verification. Same bytes, same digest.
 */
const oneShot: OneShotHash | undefined =
  typeof (nodeCrypto as { hash?: unknown }).hash === 'function' ? (nodeCrypto as unknown as { hash: OneShotHash }).hash : undefined;

let scratch = Buffer.allocUnsafe(16 * 1024);

export function chainHash(prevHash: Uint8Array, canonicalRecordText: string): Buffer {
  if (!oneShot || prevHash.length !== HASH_BYTES) {
    return nodeCrypto.createHash('sha256').update(prevHash).update(canonicalRecordText, 'utf8').digest();
  }
  // A UTF-16 code unit takes at most 3 UTF-8 bytes.
  const worst = HASH_BYTES + canonicalRecordText.length * 3;
  if (worst > scratch.length) scratch = Buffer.allocUnsafe(Math.max(worst, scratch.length * 2));
  scratch.set(prevHash, 0);
  const n = scratch.write(canonicalRecordText, HASH_BYTES, 'utf8');
  return oneShot('sha256', scratch.subarray(0, HASH_BYTES + n), 'buffer');
}

/** `{"chain":<chain>,"event":` per chain name (few: categories times shards; bounded all the same). */
const RECORD_HEADS = new Map<string, string>();
const RECORD_HEADS_MAX = 1024;

/**
 * `chainHash(prevHash, canonicalRecord(...))` without making the record string: the head, the event
 * JSON and the tail are written into the scratch buffer one after the other (same bytes, same digest).
 * Writing `eventJson` itself flattens it where it is (canonicalize builds it by appending), so the
 * writer thread's hand-off, which copies the same string next, does not flatten it a second time;
 * the record string made before was flattened as a copy and thrown away.
 */
export function recordHash(prevHash: Uint8Array, chain: string, seq: number, receivedAt: string, eventJson: string): Buffer {
  if (!oneShot || prevHash.length !== HASH_BYTES) return chainHash(prevHash, canonicalRecord(chain, seq, receivedAt, eventJson));
  let head = RECORD_HEADS.get(chain);
  if (head === undefined) {
    head = `{"chain":${JSON.stringify(chain)},"event":`;
    if (RECORD_HEADS.size < RECORD_HEADS_MAX) RECORD_HEADS.set(chain, head);
  }
  const tail = `,"receivedAt":${JSON.stringify(receivedAt)},"seq":${seq}}`;
  // A UTF-16 code unit takes at most 3 UTF-8 bytes.
  const worst = HASH_BYTES + (head.length + eventJson.length + tail.length) * 3;
  if (worst > scratch.length) scratch = Buffer.allocUnsafe(Math.max(worst, scratch.length * 2));
  scratch.set(prevHash, 0);
  let n = HASH_BYTES;
  n += scratch.write(head, n, 'utf8');
  n += scratch.write(eventJson, n, 'utf8');
  n += scratch.write(tail, n, 'utf8');
  return oneShot('sha256', scratch.subarray(0, n), 'buffer');
}

/**
 * Byte-level twin of `recordHash` for readers that hold a record's parts as bytes (the verification
 * fast path): writes prevHash || canonicalRecord(chain, seq, receivedAt, eventJson) into one reusable
 * buffer piece by piece, with no intermediate strings, and hashes it. The event bytes must be the
 * UTF-8 of the canonical event JSON; the digest is then the one `recordHash` gives for the same
 * record (the record-hash spec checks this on random records).
 */
const RECEIVED_AT_KEY = Buffer.from(',"receivedAt":"', 'latin1');
const SEQ_KEY = Buffer.from('","seq":', 'latin1');

export class RecordHashBuilder {
  private readonly head: Buffer;
  private buf = Buffer.allocUnsafe(4096);
  private len = 0;
  private evEnd = 0;

  constructor(chain: string) {
    this.head = Buffer.from(`{"chain":${JSON.stringify(chain)},"event":`, 'utf8');
  }

  /** Starts a record linked to `prevHash` (32 bytes). */
  begin(prevHash: Uint8Array): void {
    if (prevHash.length !== HASH_BYTES) throw new RangeError('a chain hash is 32 bytes');
    this.buf.set(prevHash, 0);
    this.buf.set(this.head, HASH_BYTES);
    this.len = HASH_BYTES + this.head.length;
  }

  /** `begin` with the 32 bytes at `offset` of `src` as prevHash (no view made). */
  beginAt(src: Uint8Array, offset: number): void {
    if (offset < 0 || offset + HASH_BYTES > src.length) throw new RangeError('a chain hash is 32 bytes');
    const buf = this.buf;
    for (let k = 0; k < HASH_BYTES; k++) buf[k] = src[offset + k];
    buf.set(this.head, HASH_BYTES);
    this.len = HASH_BYTES + this.head.length;
  }

  /** Appends bytes [start, end) of `src` to the event JSON. */
  appendEvent(src: Buffer, start: number, end: number): void {
    const n = end - start;
    if (n <= 0) return;
    this.reserve(n);
    src.copy(this.buf, this.len, start, end);
    this.len += n;
  }

  /** Appends the UTF-8 of `text` to the event JSON; returns the bytes written. */
  appendEventText(text: string): number {
    this.reserve(text.length * 3);
    const n = this.buf.write(text, this.len, 'utf8');
    this.len += n;
    return n;
  }

  /**
   * Inserts bytes [start, end) of `src` at byte `at` of the event JSON appended so far (counted from
   * the event's first byte), moving what follows.
   */
  insertEvent(at: number, src: Buffer, start: number, end: number): void {
    const n = end - start;
    const pos = HASH_BYTES + this.head.length + at;
    if (n <= 0) return;
    if (pos > this.len) throw new RangeError('insert position past the event');
    this.reserve(n);
    this.buf.copyWithin(pos + n, pos, this.len);
    // Inserted values are short (an id, an address): a loop beats a native call here.
    for (let i = 0; i < n; i++) this.buf[pos + i] = src[start + i];
    this.len += n;
  }

  /** Ends the record with its receive time and seq and returns its hash. */
  finish(receivedAt: string, seq: number): Buffer {
    this.evEnd = this.len;
    if (!this.plainTail(receivedAt, seq)) {
      const tail = `,"receivedAt":${JSON.stringify(receivedAt)},"seq":${seq}}`;
      this.reserve(tail.length * 3);
      this.len += this.buf.write(tail, this.len, 'utf8');
    }
    const bytes = this.buf.subarray(0, this.len);
    return oneShot ? oneShot('sha256', bytes, 'buffer') : nodeCrypto.createHash('sha256').update(bytes).digest();
  }

  /**
   * The hash input of the last finished record; its event JSON is bytes [eventStart, eventEnd),
   * exactly what the hash covers (valid until the next `begin`).
   */
  get bytes(): Buffer {
    return this.buf;
  }

  get eventStart(): number {
    return HASH_BYTES + this.head.length;
  }

  get eventEnd(): number {
    return this.evEnd;
  }

  /**
   * The record's tail written byte by byte when JSON.stringify would change nothing (printable ASCII
   * without quote or backslash) and seq is a safe non-negative integer: the bytes of the template in
   * `finish`, with no string made. False (nothing written) otherwise.
   */
  private plainTail(receivedAt: string, seq: number): boolean {
    const n = receivedAt.length;
    if (!Number.isSafeInteger(seq) || seq < 0) return false;
    for (let i = 0; i < n; i++) {
      const c = receivedAt.charCodeAt(i);
      if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return false;
    }
    this.reserve(RECEIVED_AT_KEY.length + n + SEQ_KEY.length + 18);
    const buf = this.buf;
    let at = this.len;
    buf.set(RECEIVED_AT_KEY, at);
    at += RECEIVED_AT_KEY.length;
    for (let i = 0; i < n; i++) buf[at + i] = receivedAt.charCodeAt(i);
    at += n;
    buf.set(SEQ_KEY, at);
    at += SEQ_KEY.length;
    let digits = 1;
    for (let v = seq; v >= 10; v = Math.floor(v / 10)) digits++;
    for (let i = digits - 1, v = seq; i >= 0; i--, v = Math.floor(v / 10)) buf[at + i] = 48 + (v % 10);
    at += digits;
    buf[at++] = 0x7d;
    this.len = at;
    return true;
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.len + n, this.buf.length * 2));
    this.buf.copy(bigger, 0, 0, this.len);
    this.buf = bigger;
  }
}
