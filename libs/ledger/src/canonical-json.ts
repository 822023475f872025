/**
 * RFC 8785 JSON Canonicalization Scheme (JCS): object keys sorted by UTF-16 code units, no
 * insignificant white space, ECMAScript number and string serialization. The hash chain and the
 * checkpoint signatures are computed over this form, so an outside checker can reproduce them.
 */

export function canonicalize(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('JCS: non-finite numbers cannot be serialized');
      return JSON.stringify(value);
    case 'string':
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) return '[' + value.map((v) => canonicalize(v === undefined ? null : v)).join(',') + ']';
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj)
        .filter((k) => obj[k] !== undefined)
        .sort(compareUtf16);
      let out = '{';
      for (let i = 0; i < keys.length; i++) {
        if (i > 0) out += ',';
        out += JSON.stringify(keys[i]) + ':' + canonicalize(obj[keys[i]]);
      }
      return out + '}';
    }
    default:
      throw new TypeError(`JCS: cannot serialize a ${typeof value}`);
  }
}

/** Compares by UTF-16 code units, as RFC 8785 section 3.2.3 requires (not by locale). */
function compareUtf16(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
