/**
 * RFC 8785 JSON Canonicalization Scheme (JCS): object keys sorted by UTF-16 code units, no
 * insignificant white space, ECMAScript number and string serialization. The hash chain and the
 * checkpoint signatures are computed over this form, so an outside checker can reproduce them.
 */

export function canonicalize(value: unknown): string {
  // Objects and arrays (every event): written as bytes in one pass when they hold only plain ASCII
  // text (see `writeValue`); anything else is left to the string builder below, which also gives
  // every TypeError. The same algorithm either way, so the same text.
  if (BYTE_WRITER && value !== null && typeof value === 'object' && !writing) {
    writing = true;
    try {
      pos = 0;
      if (writeValue(value)) return bytes.toString('latin1', 0, pos);
    } finally {
      writing = false;
    }
  }
  return canonicalizeText(value);
}

/** The string builder: any value; what `canonicalize` falls back to. */
function canonicalizeText(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('JCS: non-finite numbers cannot be serialized');
      return JSON.stringify(value);
    case 'object': {
      // Loops and string appends rather than map/filter/join: this runs for every ingested event
      // (and on every verification), and the intermediate arrays were most of its cost.
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out += ',';
          const v: unknown = value[i];
          out += v === undefined ? 'null' : canonicalizeText(v);
        }
        return out + ']';
      }
      const obj = value as Record<string, unknown>;
      const keys = sortedKeys(obj);
      const n = keys.length;
      let out = '{';
      let first = true;
      for (let i = 0; i < n; i++) {
        const key = keys[i];
        const v = obj[key];
        if (v === undefined) continue;
        if (!first) out += ',';
        first = false;
        out += quotedKey(key) + ':' + canonicalizeText(v);
      }
      return out + '}';
    }
    default:
      throw new TypeError(`JCS: cannot serialize a ${typeof value}`);
  }
}

/** Up to this many keys an object's keys are ordered by an insertion sort. */
const SMALL_OBJECT_KEYS = 24;

/**
 * An object's keys in RFC 8785 order (section 3.2.3: by UTF-16 code units, what `<` on strings and
 * the default sort compare, not locale order). Objects of an event have a handful of keys: an
 * insertion sort costs about a third of a call to Array.prototype.sort for them.
 */
function sortedKeys(obj: Record<string, unknown>): string[] {
  const keys = Object.keys(obj);
  const n = keys.length;
  if (n > SMALL_OBJECT_KEYS) return keys.sort();
  for (let i = 1; i < n; i++) {
    const key = keys[i];
    let j = i - 1;
    while (j >= 0 && keys[j] > key) {
      keys[j + 1] = keys[j];
      j--;
    }
    keys[j + 1] = key;
  }
  return keys;
}

/** Quoted keys seen before (the event fields): bounded, since `details` keys come from callers. */
const QUOTED_KEYS = new Map<string, string>();
const QUOTED_KEYS_MAX = 4096;

function quotedKey(key: string): string {
  let quoted = QUOTED_KEYS.get(key);
  if (quoted === undefined) {
    quoted = JSON.stringify(key);
    if (QUOTED_KEYS.size < QUOTED_KEYS_MAX) QUOTED_KEYS.set(key, quoted);
  }
  return quoted;
}

/*
 * The byte writer. `canonicalize` built an event's text by appending some forty pieces (a tree of
 * cons strings that stayed alive, unflattened, until the record hash wrote it out as UTF-8, and was
 * copied by every young-generation collection in between) and made a JSON.stringify string per
 * value. Written here instead as bytes into one reusable buffer, then read back as one flat
 * one-byte string: about half the CPU of canonicalize + the hash's UTF-8 write on the bench's
 * events, and one allocation. Same walk as `canonicalizeText` (keys by Object.keys, the same sort,
 * undefined members left out, undefined array items as null); a string is copied as is when
 * JSON.stringify would only add the quotes (printable ASCII without `"` or `\`), numbers are
 * JSON.stringify's digits. Anything else (non-ASCII or escaped text, a value JSON cannot carry, a
 * text larger than the buffer) makes `writeValue` give up, and the string builder does the whole
 * value, so the output is the same text in every case (canonical-json.spec compares the two).
 */

/** Largest canonical text written as bytes (an event is well under 16 KiB; larger: the string builder). */
const OUT_BYTES = 64 * 1024;
/**
 * Node only: the console's in-browser verifier bundles this module (scripts/bundle-console.js), and a
 * browser has no `Buffer`; there every value goes to the string builder (the same text).
 */
const BYTE_WRITER = typeof Buffer === 'function';
const bytes = (BYTE_WRITER ? Buffer.allocUnsafe(OUT_BYTES) : undefined) as Buffer;
let pos = 0;
/** Set while the buffer is in use (a getter calling canonicalize gets the string builder). */
let writing = false;

/** Writes `s` as a JSON string; false when it needs escapes, is not ASCII, or does not fit. */
function writeString(s: string): boolean {
  const n = s.length;
  let p = pos;
  if (p + n + 2 > OUT_BYTES) return false;
  const b = bytes;
  b[p++] = 0x22;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return false;
    b[p++] = c;
  }
  b[p++] = 0x22;
  pos = p;
  return true;
}

/** Writes ASCII text (literals, JSON.stringify of a number) as it is. */
function writeAscii(s: string): boolean {
  const n = s.length;
  let p = pos;
  if (p + n > OUT_BYTES) return false;
  const b = bytes;
  for (let i = 0; i < n; i++) b[p++] = s.charCodeAt(i);
  pos = p;
  return true;
}

/** Writes a non-negative integer below 2^31 (counts, indices) without making its string. */
function writeSmallInteger(v: number): boolean {
  let digits = 1;
  for (let x = v; x >= 10; x = (x / 10) | 0) digits++;
  if (pos + digits > OUT_BYTES) return false;
  for (let i = pos + digits - 1, x = v; i >= pos; i--, x = (x / 10) | 0) bytes[i] = 48 + (x % 10);
  pos += digits;
  return true;
}

function writeValue(value: unknown): boolean {
  if (value === null) return writeAscii('null');
  switch (typeof value) {
    case 'string':
      return writeString(value);
    case 'boolean':
      return writeAscii(value ? 'true' : 'false');
    case 'number':
      if (!Number.isFinite(value)) return false;
      // -0 is written 0, as JSON.stringify writes it.
      if (value >= 0 && value <= 0x7fffffff && (value | 0) === value) return writeSmallInteger(value);
      return writeAscii(JSON.stringify(value));
    case 'object': {
      if (pos + 2 > OUT_BYTES) return false;
      if (Array.isArray(value)) {
        bytes[pos++] = 0x5b;
        for (let i = 0; i < value.length; i++) {
          if (i > 0) {
            if (pos + 1 > OUT_BYTES) return false;
            bytes[pos++] = 0x2c;
          }
          const v: unknown = value[i];
          if (!(v === undefined ? writeAscii('null') : writeValue(v))) return false;
        }
        if (pos + 1 > OUT_BYTES) return false;
        bytes[pos++] = 0x5d;
        return true;
      }
      const obj = value as Record<string, unknown>;
      const keys = sortedKeys(obj);
      const n = keys.length;
      bytes[pos++] = 0x7b;
      let first = true;
      for (let i = 0; i < n; i++) {
        const key = keys[i];
        const v = obj[key];
        if (v === undefined) continue;
        if (!first) {
          if (pos + 1 > OUT_BYTES) return false;
          bytes[pos++] = 0x2c;
        }
        first = false;
        if (!writeString(key) || pos + 1 > OUT_BYTES) return false;
        bytes[pos++] = 0x3a;
        if (!writeValue(v)) return false;
      }
      if (pos + 1 > OUT_BYTES) return false;
      bytes[pos++] = 0x7d;
      return true;
    }
    default:
      return false;
  }
}
