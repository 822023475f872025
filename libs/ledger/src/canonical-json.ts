/**
 * RFC 8785 JSON Canonicalization Scheme (JCS): object keys sorted by UTF-16 code units, no
 * insignificant white space, ECMAScript number and string serialization. The hash chain and the
 * checkpoint signatures are computed over this form, so an outside checker can reproduce them.
 */

export function canonicalize(value: unknown): string {
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
          out += v === undefined ? 'null' : canonicalize(v);
        }
        return out + ']';
      }
      const obj = value as Record<string, unknown>;
      // RFC 8785 section 3.2.3 orders keys by UTF-16 code units: what `<` on strings and the default
      // sort compare (not locale order). Objects of an event have a handful of keys: an insertion
      // sort inline costs about a third of a call to Array.prototype.sort for them.
      const keys = Object.keys(obj);
      const n = keys.length;
      if (n <= SMALL_OBJECT_KEYS) {
        for (let i = 1; i < n; i++) {
          const key = keys[i];
          let j = i - 1;
          while (j >= 0 && keys[j] > key) {
            keys[j + 1] = keys[j];
            j--;
          }
          keys[j + 1] = key;
        }
      } else keys.sort();
      let out = '{';
      let first = true;
      for (let i = 0; i < n; i++) {
        const key = keys[i];
        const v = obj[key];
        if (v === undefined) continue;
        if (!first) out += ',';
        first = false;
        out += quotedKey(key) + ':' + canonicalize(v);
      }
      return out + '}';
    }
    default:
      throw new TypeError(`JCS: cannot serialize a ${typeof value}`);
  }
}

/** Up to this many keys an object's keys are ordered by an inline insertion sort. */
const SMALL_OBJECT_KEYS = 24;

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
