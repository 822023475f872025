/**
 * Field-level encryption at rest for the embedded store: `patient.id`, `actor.ip`, the search string
 * `query.text` (names, birth dates, MRNs searched for) and the id of a `Patient` resource (the same
 * identifier as `patient.id`) are cut out of the stored canonical event JSON
 * and sealed together with ONE AES-256-GCM operation per record; the `patient_id` index column
 * holds a keyed-HMAC token instead of the id. Reading splices the decrypted values back into the
 * stored string at their recorded offsets, which gives back exactly the canonical bytes the hash
 * chain covers (no parse, no re-canonicalization).
 *
 * Stored text: the canonical JSON with those string values emptied (`"id":""`, `"ip":""`), so every
 * stored byte is still covered by the chain hash (nothing is overwritten on read, only inserted).
 * Sealed blob (BLOB column `sealed`, NULL when the event has none of the fields):
 *   [0x01 version][key id length][key id (ASCII)][IV 12][tag 16][ciphertext]
 * Plaintext of the ciphertext, per field in offset order: [offset u32][length u32][UTF-8 of the JSON
 * string content (already escaped)], offsets in UTF-16 code units of the stored text.
 *
 * IVs follow NIST SP 800-38D 8.2.1 (deterministic construction): 32 random bits fixed per process,
 * then a 64-bit counter shared by every sealer of the process and seeded from the microsecond clock,
 * so no IV repeats under a key however many records it seals. No AAD: the chain hash binds the
 * decrypted values to their record.
 *
 * `SealedText` uses the same envelope for whole values other embedded stores keep (alert records,
 * the detection engine's snapshot), which carry patient ids and IPs too.
 */
import * as crypto from 'node:crypto';
import type { AccessEvent } from '@app/core';
import type { DataKeyring } from '../field-protection.port';

/** A stored record whose sealed fields cannot be opened (tampered ciphertext, or its key is missing). */
export class SealedRecordError extends Error {
  constructor(
    readonly reason: 'unknown-key' | 'corrupt',
    readonly keyId?: string,
  ) {
    super(reason === 'unknown-key' ? 'the data key of a stored record is not available' : 'a stored record failed its authenticated decryption');
  }
}

/** Key material the keyring lists (or no keyring at all) is missing: an operator problem, not tampering. */
export class DataKeyUnavailableError extends Error {
  constructor(readonly keyId: string) {
    super(`data key ${keyId} is needed to open sealed records but is not in the data keys directory (DATA_KEYS_DIR, default DATA_DIR/keys/data)`);
  }
}

export interface SealedEvent {
  /** Canonical JSON with the sealed values emptied: what the `event` column holds. */
  storedJson: string;
  /** The sealed blob, or null when the event carries no protected field. */
  sealed: Buffer | null;
}

const VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const ALGORITHM = 'aes-256-gcm';
const ACTOR_MARK = '"actor":{"id":';
const PATIENT_MARK = '"patient":{"id":"';
const RESOURCE_MARK = '"resource":{"id":"';
const QUERY_MARK = '"query":{"text":"';

interface Cut {
  /** Offset of the string content in the stored (emptied) text. */
  at: number;
  value: string;
}

/** Process-wide IV source: fixed random field (bytes 0-3) + 64-bit invocation counter (bytes 4-11). */
const ivFixed = crypto.randomBytes(4);
let ivCounter = Date.now() * 1000;

function nextIv(): Buffer {
  const iv = Buffer.allocUnsafe(IV_BYTES);
  ivFixed.copy(iv, 0);
  const c = ++ivCounter;
  iv.writeUInt32BE(Math.floor(c / 0x1_0000_0000) >>> 0, 4);
  iv.writeUInt32BE(c >>> 0, 8);
  return iv;
}

/** GHASH reduction of the 4-bit table method: rem_4bit of NIST SP 800-38D's R = 0xE1 || 0^120, for the top 16 bits. */
const REM_4BIT = [0x0000, 0x1c20, 0x3840, 0x2460, 0x7080, 0x6ca0, 0x48c0, 0x54e0, 0xe100, 0xfd20, 0xd940, 0xc560, 0x9180, 0x8da0, 0xa9c0, 0xb5e0].map((r) => r << 16);

/**
 * The parts of AES-256-GCM that AesGcmEnvelope.sealMany computes itself for a key: AES-ECB blocks
 * (Node's cipher, one call per group) and GHASH under H = E_K(0^128) with the 4-bit table method
 * (Shoup's; as OpenSSL's gcm_gmult_4bit), on 32-bit words, most significant word first.
 */
class Gcm {
  /** Htable[n] = n•H for the 4-bit n, 4 words each. */
  private readonly table = new Int32Array(64);

  constructor(readonly key: crypto.KeyObject) {
    const h = this.ecb(Buffer.alloc(16));
    const t = this.table;
    // Htable[8] = H; Htable[4], [2], [1]: H times x, x^2, x^3 (a right shift with reduction).
    let v0 = h.readInt32BE(0), v1 = h.readInt32BE(4), v2 = h.readInt32BE(8), v3 = h.readInt32BE(12); // prettier-ignore
    for (let i = 8; i >= 1; i >>= 1) {
      t[i * 4] = v0;
      t[i * 4 + 1] = v1;
      t[i * 4 + 2] = v2;
      t[i * 4 + 3] = v3;
      const carry = v3 & 1;
      v3 = (v3 >>> 1) | (v2 << 31);
      v2 = (v2 >>> 1) | (v1 << 31);
      v1 = (v1 >>> 1) | (v0 << 31);
      v0 = (v0 >>> 1) ^ (carry ? 0xe1000000 : 0);
    }
    for (const i of [2, 4, 8]) for (let j = 1; j < i; j++) for (let w = 0; w < 4; w++) t[(i + j) * 4 + w] = t[i * 4 + w] ^ t[j * 4 + w];
  }

  /** AES-256 of whole 16-byte blocks (ECB: each block on its own, as the counter mode needs). */
  ecb(blocks: Buffer): Buffer {
    const c = crypto.createCipheriv('aes-256-ecb', this.key, null);
    c.setAutoPadding(false);
    const out = c.update(blocks);
    c.final();
    return out;
  }

  /**
   * Writes the GCM tag of ciphertext src[at, at + len) (no additional data) to dst[dstAt, dstAt + 16):
   * GHASH over the zero-padded ciphertext and the length block, XOR E_K(J0) (mask[maskAt, maskAt + 16)).
   */
  tag(src: Buffer, at: number, len: number, mask: Buffer, maskAt: number, dst: Buffer, dstAt: number): void {
    const y = this.y;
    y[0] = y[1] = y[2] = y[3] = 0;
    const full = at + (len - (len % 16));
    for (let p = at; p < full; p += 16) this.absorb(src.readInt32BE(p), src.readInt32BE(p + 4), src.readInt32BE(p + 8), src.readInt32BE(p + 12));
    if (full < at + len) {
      const last = this.scratch.fill(0);
      src.copy(last, 0, full, at + len);
      this.absorb(last.readInt32BE(0), last.readInt32BE(4), last.readInt32BE(8), last.readInt32BE(12));
    }
    // Lengths in bits: 64-bit len(A) = 0, 64-bit len(C).
    const bits = len * 8;
    this.absorb(0, 0, Math.floor(bits / 0x1_0000_0000) | 0, bits | 0);
    for (let w = 0; w < 4; w++) dst.writeInt32BE(y[w] ^ mask.readInt32BE(maskAt + 4 * w), dstAt + 4 * w);
  }

  private readonly y = new Int32Array(4);
  private readonly scratch = Buffer.alloc(16);

  /** y = (y XOR x) • H, x given as four 32-bit words. */
  private absorb(x0: number, x1: number, x2: number, x3: number): void {
    const t = this.table;
    const y = this.y;
    const w0 = y[0] ^ x0;
    const w1 = y[1] ^ x1;
    const w2 = y[2] ^ x2;
    const w3 = y[3] ^ x3;
    // Bytes from the last to the first, low nibble then high nibble (gcm_gmult_4bit).
    let z0 = 0, z1 = 0, z2 = 0, z3 = 0; // prettier-ignore
    for (let i = 15; i >= 0; i--) {
      const word = i < 4 ? w0 : i < 8 ? w1 : i < 12 ? w2 : w3;
      const byte = (word >>> (24 - 8 * (i & 3))) & 0xff;
      const lo = (byte & 0xf) * 4;
      const hi = (byte >>> 4) * 4;
      if (i !== 15) {
        const rem = z3 & 0xf;
        z3 = (z3 >>> 4) | (z2 << 28);
        z2 = (z2 >>> 4) | (z1 << 28);
        z1 = (z1 >>> 4) | (z0 << 28);
        z0 = (z0 >>> 4) ^ REM_4BIT[rem];
      }
      z0 ^= t[lo];
      z1 ^= t[lo + 1];
      z2 ^= t[lo + 2];
      z3 ^= t[lo + 3];
      const rem = z3 & 0xf;
      z3 = (z3 >>> 4) | (z2 << 28);
      z2 = (z2 >>> 4) | (z1 << 28);
      z1 = (z1 >>> 4) | (z0 << 28);
      z0 = (z0 >>> 4) ^ REM_4BIT[rem];
      z0 ^= t[hi];
      z1 ^= t[hi + 1];
      z2 ^= t[hi + 2];
      z3 ^= t[hi + 3];
    }
    y[0] = z0;
    y[1] = z1;
    y[2] = z2;
    y[3] = z3;
  }
}

/** AES-256-GCM envelope: [version][key id length][key id][IV][tag][ciphertext], sealed with the current key. */
export class AesGcmEnvelope {
  private readonly keyIdBytes = new Map<string, Buffer>();
  private lastKey: { id: Buffer; key: crypto.KeyObject } | null = null;
  private gcm: Gcm | null = null;

  constructor(private readonly keys: DataKeyring) {}

  /** Seals `plain` with the current key and a fresh IV. */
  seal(plain: Buffer): Buffer {
    const { keyId, key } = this.keys.current();
    const id = this.keyIdFor(keyId);
    const iv = nextIv();
    const cipher = crypto.createCipheriv(ALGORITHM, key, iv);
    const body = cipher.update(plain);
    cipher.final();
    const tag = cipher.getAuthTag();
    const out = Buffer.allocUnsafe(2 + id.length + IV_BYTES + TAG_BYTES + body.length);
    out[0] = VERSION;
    out[1] = id.length;
    id.copy(out, 2);
    iv.copy(out, 2 + id.length);
    tag.copy(out, 2 + id.length + IV_BYTES);
    body.copy(out, 2 + id.length + IV_BYTES + TAG_BYTES);
    return out;
  }

  /**
   * `seal` for many plaintexts at once, with the current key: the same envelopes (fresh IV each,
   * GCM tag over the ciphertext), made with ONE AES call for the whole group instead of one cipher
   * context per record (that context was most of the cost of sealing). The AES blocks (the tag
   * masks E(J0) and the keystream from inc32(J0), as in openUnauthenticated) come from one AES-ECB
   * pass; the tags' GHASH is computed here (Gcm.ghash, NIST SP 800-38D section 6.4). `open`, which
   * checks every tag with Node's own AES-GCM, reads them like any other envelope.
   */
  sealMany(plains: readonly Buffer[]): Buffer[] {
    const out: Buffer[] = new Array(plains.length);
    if (plains.length === 0) return out;
    const { keyId, key } = this.keys.current();
    const id = this.keyIdFor(keyId);
    const gcm = this.gcmFor(key);
    let blocks = 0;
    for (const p of plains) blocks += 1 + Math.ceil(p.length / 16);
    // Per envelope: J0 = IV || 1 (masks the tag), then IV || 2, IV || 3 ... (the keystream).
    const counters = Buffer.allocUnsafe(blocks * 16);
    const ivs: Buffer[] = new Array(plains.length);
    let o = 0;
    for (let i = 0; i < plains.length; i++) {
      const iv = (ivs[i] = nextIv());
      const n = 1 + Math.ceil(plains[i].length / 16);
      for (let k = 0; k < n; k++, o += 16) {
        iv.copy(counters, o);
        counters.writeUInt32BE(k + 1, o + 12);
      }
    }
    const stream = gcm.ecb(counters);
    let at = 0;
    for (let i = 0; i < plains.length; i++) {
      const plain = plains[i];
      const env = Buffer.allocUnsafe(2 + id.length + IV_BYTES + TAG_BYTES + plain.length);
      env[0] = VERSION;
      env[1] = id.length;
      id.copy(env, 2);
      ivs[i].copy(env, 2 + id.length);
      const tagAt = 2 + id.length + IV_BYTES;
      const ctAt = tagAt + TAG_BYTES;
      const ks = at + 16;
      for (let k = 0; k < plain.length; k++) env[ctAt + k] = plain[k] ^ stream[ks + k];
      gcm.tag(env, ctAt, plain.length, stream, at, env, tagAt);
      at += 16 * (1 + Math.ceil(plain.length / 16));
      out[i] = env;
    }
    return out;
  }

  private gcmFor(key: crypto.KeyObject): Gcm {
    if (this.gcm?.key !== key) this.gcm = new Gcm(key);
    return this.gcm;
  }

  /** The plaintext of an envelope; SealedRecordError when its key is unknown or it was altered. */
  open(sealed: Buffer): Buffer {
    if (sealed.length < 2 + IV_BYTES + TAG_BYTES || sealed[0] !== VERSION) throw new SealedRecordError('corrupt');
    const ivAt = 2 + sealed[1];
    if (sealed.length < ivAt + IV_BYTES + TAG_BYTES) throw new SealedRecordError('corrupt');
    const key = this.keyOf(sealed, ivAt);
    try {
      const decipher = crypto.createDecipheriv(ALGORITHM, key, sealed.subarray(ivAt, ivAt + IV_BYTES));
      decipher.setAuthTag(sealed.subarray(ivAt + IV_BYTES, ivAt + IV_BYTES + TAG_BYTES));
      const body = decipher.update(sealed.subarray(ivAt + IV_BYTES + TAG_BYTES));
      decipher.final();
      return body;
    } catch {
      throw new SealedRecordError('corrupt');
    }
  }

  /**
   * Many envelopes at once WITHOUT checking their tags: the GCM keystream (AES-CTR from inc32(J0)) of
   * every envelope of a batch is computed with ONE AES operation (ECB over the counter blocks) and
   * XORed in, instead of one cipher context per record. Only for readers that check the plaintext
   * themselves: verification hashes it into the chain, so an altered ciphertext shows as a modified
   * record all the same (a changed tag alone leaves the plaintext intact and is not noticed here;
   * views, which use `open`, refuse it). Per envelope: its plaintext, or a SealedRecordError.
   */
  openUnauthenticated(envelopes: readonly Buffer[]): (Buffer | SealedRecordError)[] {
    const out: (Buffer | SealedRecordError)[] = new Array(envelopes.length);
    const byKey = new Map<crypto.KeyObject, number[]>();
    for (let i = 0; i < envelopes.length; i++) {
      const e = envelopes[i];
      const ivAt = 2 + (e.length > 1 ? e[1] : 0);
      if (e.length < 2 + IV_BYTES + TAG_BYTES || e[0] !== VERSION || e.length < ivAt + IV_BYTES + TAG_BYTES) {
        out[i] = new SealedRecordError('corrupt');
        continue;
      }
      try {
        const key = this.keyOf(e, ivAt);
        let list = byKey.get(key);
        if (!list) byKey.set(key, (list = []));
        list.push(i);
      } catch (err) {
        out[i] = err as SealedRecordError;
      }
    }
    for (const [key, indexes] of byKey) {
      let blocks = 0;
      for (const i of indexes) {
        const e = envelopes[i];
        blocks += Math.ceil((e.length - (2 + e[1] + IV_BYTES + TAG_BYTES)) / 16);
      }
      // Counter blocks IV || inc32 counter, starting at 2 (J0 = IV || 1 is the tag's block).
      const counters = Buffer.allocUnsafe(blocks * 16);
      let b = 0;
      for (const i of indexes) {
        const e = envelopes[i];
        const ivAt = 2 + e[1];
        const n = Math.ceil((e.length - (ivAt + IV_BYTES + TAG_BYTES)) / 16);
        for (let k = 0; k < n; k++, b++) {
          const o = b * 16;
          for (let j = 0; j < IV_BYTES; j++) counters[o + j] = e[ivAt + j];
          const c = k + 2; // 32-bit big-endian block counter
          counters[o + 12] = c >>> 24;
          counters[o + 13] = (c >>> 16) & 0xff;
          counters[o + 14] = (c >>> 8) & 0xff;
          counters[o + 15] = c & 0xff;
        }
      }
      const ecb = crypto.createCipheriv('aes-256-ecb', key, null);
      ecb.setAutoPadding(false);
      const stream = ecb.update(counters);
      ecb.final();
      let at = 0;
      for (const i of indexes) {
        const e = envelopes[i];
        const ctAt = 2 + e[1] + IV_BYTES + TAG_BYTES;
        const len = e.length - ctAt;
        const plain = Buffer.allocUnsafe(len);
        for (let k = 0; k < len; k++) plain[k] = e[ctAt + k] ^ stream[at + k];
        out[i] = plain;
        at += Math.ceil(len / 16) * 16;
      }
    }
    return out;
  }

  /**
   * `openUnauthenticated` for a page of records without a Buffer per record (the verification fast
   * path, SqliteChainReader): envelope i is bytes [offsets[i], offsets[i] + lengths[i]) of `page`
   * (length 0: none). Its plaintext is `plain[starts[i], starts[i] + plainLengths[i])`; starts[i] is
   * -1 when it cannot be opened (errors[i] says why) or there is none. One AES-ECB call per key
   * computes every keystream block, as in openUnauthenticated; tags are not checked.
   */
  openUnauthenticatedPage(
    page: Buffer,
    offsets: ArrayLike<number>,
    lengths: ArrayLike<number>,
  ): { plain: Buffer; starts: Int32Array; plainLengths: Int32Array; errors: (SealedRecordError | undefined)[] } {
    const n = offsets.length;
    const starts = new Int32Array(n).fill(-1);
    const plainLengths = new Int32Array(n);
    const errors: (SealedRecordError | undefined)[] = new Array(n);
    const keyOfRecord: (crypto.KeyObject | undefined)[] = new Array(n);
    const keys: crypto.KeyObject[] = [];
    let total = 0;
    for (let i = 0; i < n; i++) {
      const len = lengths[i];
      if (len === 0) continue;
      const e = page.subarray(offsets[i], offsets[i] + len);
      const ivAt = 2 + (len > 1 ? e[1] : 0);
      if (len < 2 + IV_BYTES + TAG_BYTES || e[0] !== VERSION || len < ivAt + IV_BYTES + TAG_BYTES) {
        errors[i] = new SealedRecordError('corrupt');
        continue;
      }
      try {
        const key = this.keyOf(e, ivAt);
        keyOfRecord[i] = key;
        if (!keys.includes(key)) keys.push(key);
        const ctLen = len - (ivAt + IV_BYTES + TAG_BYTES);
        starts[i] = total;
        plainLengths[i] = ctLen;
        total += Math.ceil(ctLen / 16) * 16;
      } catch (err) {
        errors[i] = err as SealedRecordError;
      }
    }
    // Counter blocks IV || inc32 counter from 2 (J0 = IV || 1 is the tag's block), at each record's place.
    const plain = Buffer.allocUnsafe(total);
    for (const key of keys) {
      const mine: number[] = [];
      for (let i = 0; i < n; i++) if (keyOfRecord[i] === key) mine.push(i);
      const counters = keys.length === 1 ? plain : Buffer.allocUnsafe(total);
      for (const i of mine) {
        const ivAt = offsets[i] + 2 + page[offsets[i] + 1];
        const blocks = Math.ceil(plainLengths[i] / 16);
        for (let k = 0, o = starts[i]; k < blocks; k++, o += 16) {
          for (let j = 0; j < IV_BYTES; j++) counters[o + j] = page[ivAt + j];
          const c = k + 2;
          counters[o + 12] = c >>> 24;
          counters[o + 13] = (c >>> 16) & 0xff;
          counters[o + 14] = (c >>> 8) & 0xff;
          counters[o + 15] = c & 0xff;
        }
      }
      const ecb = crypto.createCipheriv('aes-256-ecb', key, null);
      ecb.setAutoPadding(false);
      const stream = ecb.update(counters);
      ecb.final();
      for (const i of mine) {
        const ctAt = offsets[i] + 2 + page[offsets[i] + 1] + IV_BYTES + TAG_BYTES;
        const len = plainLengths[i];
        const at = starts[i];
        for (let k = 0; k < len; k++) plain[at + k] = page[ctAt + k] ^ stream[at + k];
      }
    }
    return { plain, starts, plainLengths, errors };
  }

  /** The key an envelope names. Records come in runs sealed under one key: reuse the last one when the id bytes match. */
  private keyOf(sealed: Buffer, ivAt: number): crypto.KeyObject {
    const last = this.lastKey;
    if (last && last.id.length === ivAt - 2 && sealed.compare(last.id, 0, last.id.length, 2, ivAt) === 0) return last.key;
    const keyId = sealed.toString('latin1', 2, ivAt);
    const key = this.keys.byId(keyId);
    if (!key) throw new SealedRecordError('unknown-key', keyId);
    this.lastKey = { id: Buffer.from(keyId, 'latin1'), key };
    return key;
  }

  private keyIdFor(keyId: string): Buffer {
    let b = this.keyIdBytes.get(keyId);
    if (!b) {
      if (!/^[\x21-\x7e]{1,64}$/.test(keyId)) throw new Error('data key ids must be 1-64 printable ASCII characters');
      this.keyIdBytes.set(keyId, (b = Buffer.from(keyId, 'latin1')));
    }
    return b;
  }
}

/** Whole values sealed at rest (other embedded stores): a string in, a BLOB out, and back. */
export class SealedText {
  private readonly envelope: AesGcmEnvelope;

  constructor(keys: DataKeyring) {
    this.envelope = new AesGcmEnvelope(keys);
  }

  seal(text: string): Buffer {
    return this.envelope.seal(Buffer.from(text, 'utf8'));
  }

  /** A stored value: a sealed BLOB is opened; text stored before sealing existed is returned as is. */
  open(stored: Buffer | string): string {
    return typeof stored === 'string' ? stored : this.envelope.open(stored).toString('utf8');
  }
}

export class SealedFieldCodec {
  private readonly envelope: AesGcmEnvelope;

  constructor(keys: DataKeyring) {
    this.envelope = new AesGcmEnvelope(keys);
  }

  /**
   * Cuts `patient.id`, `actor.ip`, `query.text` and a Patient resource's id out of the canonical
   * JSON of `event` and seals them. Throws rather than ever returning plaintext in `storedJson`.
   */
  seal(event: AccessEvent, canonicalJson: string): SealedEvent {
    const { storedJson, plain } = this.cut(event, canonicalJson);
    return { storedJson, sealed: plain === null ? null : this.envelope.seal(plain) };
  }

  /**
   * `seal` for a group of records (the append transaction's): the same stored texts and envelopes,
   * the envelopes made together (AesGcmEnvelope.sealMany: one AES call for the group).
   */
  sealAll(records: readonly { event: AccessEvent; json: string }[]): SealedEvent[] {
    const cuts = records.map((r) => this.cut(r.event, r.json));
    const plains: Buffer[] = [];
    for (const c of cuts) if (c.plain !== null) plains.push(c.plain);
    const envelopes = this.envelope.sealMany(plains);
    let k = 0;
    return cuts.map((c) => ({ storedJson: c.storedJson, sealed: c.plain === null ? null : envelopes[k++] }));
  }

  /** The stored text (protected values emptied) and the plaintext to seal: offsets and values (null: nothing to seal). */
  private cut(event: AccessEvent, canonicalJson: string): { storedJson: string; plain: Buffer | null } {
    // Positions in the canonical JSON, in ascending order (the canonical key order: "actor" before
    // "patient" before "query" before "resource"; inside "actor", "id" right before "ip"). Only structure can
    // contain the marks: inside JSON strings every quote is escaped.
    const json = canonicalJson;
    const cuts: Cut[] = [];
    const ip = event.actor.ip;
    if (ip !== undefined) {
      const mark = ACTOR_MARK + JSON.stringify(event.actor.id) + ',"ip":"';
      const found = json.indexOf(mark);
      const content = jsonStringContent(ip);
      const at = found + mark.length;
      if (found < 0 || json.charCodeAt(at + content.length) !== 34 || !json.startsWith(content, at)) throw new Error('sealing: actor.ip not where the canonical form puts it');
      cuts.push({ at, value: content });
    }
    const patient = event.patient?.id;
    if (patient !== undefined) {
      const found = json.indexOf(PATIENT_MARK);
      const content = jsonStringContent(patient);
      const at = found + PATIENT_MARK.length;
      if (found < 0 || !json.startsWith(content + '"}', at)) throw new Error('sealing: patient.id not where the canonical form puts it');
      cuts.push({ at, value: content });
    }
    const query = event.query?.text;
    if (query !== undefined) {
      const found = json.indexOf(QUERY_MARK);
      const content = jsonStringContent(query);
      const at = found + QUERY_MARK.length;
      if (found < 0 || !json.startsWith(content + '"}', at)) throw new Error('sealing: query.text not where the canonical form puts it');
      cuts.push({ at, value: content });
    }
    const resource = event.resource;
    if (resource?.id !== undefined && resource.type.toLowerCase() === 'patient') {
      const found = json.indexOf(RESOURCE_MARK);
      const content = jsonStringContent(resource.id);
      const at = found + RESOURCE_MARK.length;
      if (found < 0 || !json.startsWith(content + '","type":' + JSON.stringify(resource.type) + '}', at)) throw new Error('sealing: resource.id not where the canonical form puts it');
      cuts.push({ at, value: content });
    }
    if (cuts.length === 0) return { storedJson: json, plain: null };
    // One pass: the stored text, and each cut's offset in it (its offset in the JSON minus what was cut before).
    let stored = '';
    let from = 0;
    let removed = 0;
    let size = 0;
    for (const c of cuts) {
      if (c.at < from) throw new Error('sealing: protected fields out of canonical order');
      stored += json.slice(from, c.at);
      from = c.at + c.value.length;
      c.at -= removed;
      removed += c.value.length;
      size += 8 + Buffer.byteLength(c.value, 'utf8');
    }
    stored += json.slice(from);
    const plain = Buffer.allocUnsafe(size);
    let p = 0;
    for (const c of cuts) {
      const len = plain.write(c.value, p + 8, 'utf8');
      plain.writeUInt32BE(c.at, p);
      plain.writeUInt32BE(len, p + 4);
      p += 8 + len;
    }
    return { storedJson: stored, plain };
  }

  /** The canonical JSON the chain hash covers, from the stored text and blob. */
  open(storedJson: string, sealed: Buffer | null): string {
    if (sealed === null) return storedJson;
    return splice(storedJson, this.envelope.open(sealed));
  }

  /**
   * `open` for a batch of records, without checking the GCM tags (see
   * AesGcmEnvelope.openUnauthenticated): for verification only, which hashes the result into the
   * chain. Per record: the canonical JSON, or the SealedRecordError that makes it unreadable.
   */
  openForVerification(rows: readonly { storedJson: string; sealed: Buffer | null }[]): (string | SealedRecordError)[] {
    const envelopes: Buffer[] = [];
    const at: number[] = [];
    for (let i = 0; i < rows.length; i++) if (rows[i].sealed !== null) (at.push(i), envelopes.push(rows[i].sealed!));
    const plains = envelopes.length > 0 ? this.envelope.openUnauthenticated(envelopes) : [];
    const out: (string | SealedRecordError)[] = rows.map((r) => r.storedJson);
    plains.forEach((plain, k) => {
      const i = at[k];
      if (plain instanceof SealedRecordError) out[i] = plain;
      else {
        try {
          out[i] = splice(rows[i].storedJson, plain);
        } catch (err) {
          out[i] = err instanceof SealedRecordError ? err : new SealedRecordError('corrupt');
        }
      }
    });
    return out;
  }

  /** The page form of openUnauthenticated (see AesGcmEnvelope.openUnauthenticatedPage): verification fast path only. */
  openPageForVerification(page: Buffer, offsets: ArrayLike<number>, lengths: ArrayLike<number>): ReturnType<AesGcmEnvelope['openUnauthenticatedPage']> {
    return this.envelope.openUnauthenticatedPage(page, offsets, lengths);
  }
}

/** Inserts the opened values into the stored text at their recorded offsets. */
function splice(storedJson: string, plain: Buffer): string {
  let out = '';
  let from = 0;
  for (let p = 0; p < plain.length; ) {
    if (p + 8 > plain.length) throw new SealedRecordError('corrupt');
    const at = plain.readUInt32BE(p);
    const len = plain.readUInt32BE(p + 4);
    if (at < from || at > storedJson.length || p + 8 + len > plain.length) throw new SealedRecordError('corrupt');
    out += storedJson.slice(from, at) + plain.toString('utf8', p + 8, p + 8 + len);
    from = at;
    p += 8 + len;
  }
  return out + storedJson.slice(from);
}

/** The characters of a JSON string literal between its quotes (as canonical JSON writes them). */
function jsonStringContent(value: string): string {
  const quoted = JSON.stringify(value);
  return quoted.slice(1, quoted.length - 1);
}
