/**
 * Hostile-JSON guard: one linear pass over a request body's text, run before JSON.parse, that
 * refuses what JSON.parse would silently accept: nesting deeper than the limit, over-long strings
 * and keys, duplicate keys (JSON.parse keeps the last one, so two readers could see two different
 * events), prototype-pollution keys (`__proto__`, `constructor`, `prototype`, also when written
 * with escapes), numbers that overflow to Infinity, and escaped lone surrogates (not Unicode).
 *
 * Pure and allocation-light: string bodies are skipped with indexOf, only keys are sliced, and the
 * per-object key lists are reused by depth. Plain syntax errors are left to JSON.parse. A violation
 * names where it is (a JSON Pointer built from keys and indices) and never the offending value.
 */

export interface JsonLimits {
  /** Deepest nesting of objects and arrays (the top-level value is depth 1). */
  maxDepth: number;
  /** Longest string value, in raw (still escaped) characters. */
  maxStringLength: number;
  /** Longest object key, in raw characters (default 256). */
  maxKeyLength?: number;
}

export type JsonViolationKind = 'syntax' | 'depth' | 'string-length' | 'key-length' | 'duplicate-key' | 'forbidden-key' | 'number-range' | 'unicode';

export interface JsonViolation {
  kind: JsonViolationKind;
  /** JSON Pointer of the offending member (keys cut to 64 characters). */
  pointer: string;
  /** The path as keys and indices (for callers that want e.g. the batch index). */
  path: Array<string | number>;
}

/** Keys that reach Object.prototype machinery when a parsed object is merged or assigned. */
export const FORBIDDEN_JSON_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

const DEFAULT_MAX_KEY_LENGTH = 256;
/** Objects with more keys than this switch from a linear list to a Set for duplicate checks. */
const LINEAR_KEY_LIMIT = 24;

const QUOTE = 34;
const BACKSLASH = 92;
const OPEN_OBJECT = 123;
const CLOSE_OBJECT = 125;
const OPEN_ARRAY = 91;
const CLOSE_ARRAY = 93;
const COMMA = 44;
const COLON = 58;

// States of the scanner.
const VALUE = 0;
const VALUE_OR_END = 1;
const KEY = 2;
const KEY_OR_END = 3;
const AFTER_VALUE = 4;

/** Index of the quote closing the string that opens at `start`, or -1. */
function stringEnd(text: string, start: number): number {
  let from = start + 1;
  for (;;) {
    const q = text.indexOf('"', from);
    if (q < 0) return -1;
    let k = q - 1;
    while (k > start && text.charCodeAt(k) === BACKSLASH) k--;
    if ((q - 1 - k) % 2 === 0) return q; // an even run of backslashes does not escape the quote
    from = q + 1;
  }
}

function escapePointerToken(token: string): string {
  return token.slice(0, 64).replace(/~/g, '~0').replace(/\//g, '~1');
}

/** An unpaired UTF-16 surrogate (what `\ud800` without its partner decodes to). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Decodes a raw JSON string body (between the quotes) that contains escapes; null when malformed. */
function decodeEscaped(raw: string): string | null {
  try {
    const value: unknown = JSON.parse('"' + raw + '"');
    return typeof value === 'string' ? value : null;
  } catch {
    return null;
  }
}

/** Where the scan is: per depth, container kind, current key (objects) or index (arrays). */
interface ScanPath {
  isObject: boolean[];
  keyAt: Array<string | undefined>;
  indexAt: number[];
}

function violationAt(kind: JsonViolationKind, at: ScanPath, depth: number): JsonViolation {
  const path: Array<string | number> = [];
  for (let d = 0; d < depth; d++) {
    if (at.isObject[d]) {
      const key = at.keyAt[d];
      if (key !== undefined) path.push(key);
    } else path.push(at.indexAt[d]!);
  }
  return { kind, path, pointer: path.map((p) => '/' + (typeof p === 'number' ? String(p) : escapePointerToken(p))).join('') };
}

/**
 * Scans `text` and returns the first violation, or null when the body may be handed to JSON.parse.
 * A `syntax` violation means the scanner could not follow the text (JSON.parse would throw too).
 * Written for speed (it runs on every ingest request): no closures over the loop state, keys of
 * all open objects on one flat stack.
 */
export function inspectJson(text: string, limits: JsonLimits): JsonViolation | null {
  const maxDepth = limits.maxDepth;
  const maxString = limits.maxStringLength;
  const maxKey = limits.maxKeyLength ?? DEFAULT_MAX_KEY_LENGTH;
  const n = text.length;

  const at: ScanPath = { isObject: [], keyAt: [], indexAt: [] };
  const isObject = at.isObject;
  const keyAt = at.keyAt;
  const indexAt = at.indexAt;
  // Keys of every open object, innermost last: object at depth d owns keys[keyBase[d] .. top).
  const keys: string[] = [];
  const keyBase: number[] = [];
  const keySets: Array<Set<string> | undefined> = [];
  let top = 0;
  let depth = 0;
  let state = VALUE;
  let i = 0;
  // Next backslash at or after the scan position (-1: none left); found once, not once per string.
  let backslash = text.indexOf('\\');

  for (;;) {
    let c = text.charCodeAt(i);
    while (c === 32 || c === 10 || c === 13 || c === 9) c = text.charCodeAt(++i);

    // An empty container closes right away; otherwise it holds a value or a key.
    if (state === VALUE_OR_END) {
      if (c === CLOSE_ARRAY) {
        depth--;
        i++;
        state = AFTER_VALUE;
        continue;
      }
      state = VALUE;
    } else if (state === KEY_OR_END) {
      if (c === CLOSE_OBJECT) {
        depth--;
        top = keyBase[depth]!;
        i++;
        state = AFTER_VALUE;
        continue;
      }
      state = KEY;
    }

    if (state === VALUE) {
      if (c === QUOTE) {
        const end = stringEnd(text, i);
        if (end < 0) return violationAt('syntax', at, depth);
        if (end - i - 1 > maxString) return violationAt('string-length', at, depth);
        // Escapes are rare in audit events; only strings with one can hide a lone surrogate.
        if (backslash >= 0 && backslash < i) backslash = text.indexOf('\\', i);
        if (backslash >= 0 && backslash < end) {
          const decoded = decodeEscaped(text.slice(i + 1, end));
          if (decoded === null) return violationAt('syntax', at, depth);
          if (LONE_SURROGATE.test(decoded)) return violationAt('unicode', at, depth);
        }
        i = end + 1;
        state = AFTER_VALUE;
        continue;
      }
      if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
        if (depth >= maxDepth) return violationAt('depth', at, depth);
        if (c === OPEN_OBJECT) {
          isObject[depth] = true;
          keyAt[depth] = undefined;
          keyBase[depth] = top;
          keySets[depth] = undefined;
          state = KEY_OR_END;
        } else {
          isObject[depth] = false;
          indexAt[depth] = 0;
          state = VALUE_OR_END;
        }
        depth++;
        i++;
        continue;
      }
      if (c === 45 || (c >= 48 && c <= 57)) {
        const start = i;
        let exponent = false;
        for (;;) {
          c = text.charCodeAt(++i);
          if (c >= 48 && c <= 57) continue;
          if (c === 46 || c === 45 || c === 43) continue;
          if (c === 101 || c === 69) {
            exponent = true;
            continue;
          }
          break;
        }
        // Up to 15 digits without an exponent cannot overflow; otherwise check what it becomes.
        if (exponent || i - start > 15) {
          const value = Number(text.slice(start, i));
          if (value === Infinity || value === -Infinity) return violationAt('number-range', at, depth);
        }
        state = AFTER_VALUE;
        continue;
      }
      if (text.startsWith('true', i) || text.startsWith('null', i)) i += 4;
      else if (text.startsWith('false', i)) i += 5;
      else return violationAt('syntax', at, depth);
      state = AFTER_VALUE;
      continue;
    }

    if (state === KEY) {
      const d = depth - 1;
      keyAt[d] = undefined; // until read, the pointer names the object
      if (c !== QUOTE) return violationAt('syntax', at, depth);
      const end = stringEnd(text, i);
      if (end < 0) return violationAt('syntax', at, depth);
      if (end - i - 1 > maxKey) return violationAt('key-length', at, depth);
      let key = text.slice(i + 1, end);
      if (backslash >= 0 && backslash < i) backslash = text.indexOf('\\', i);
      if (backslash >= 0 && backslash < end) {
        const decoded = decodeEscaped(key);
        if (decoded === null) return violationAt('syntax', at, depth);
        if (LONE_SURROGATE.test(decoded)) return violationAt('unicode', at, depth);
        key = decoded;
      }
      keyAt[d] = key;
      if (key === '__proto__' || key === 'constructor' || key === 'prototype') return violationAt('forbidden-key', at, depth);
      const set = keySets[d];
      if (set !== undefined) {
        if (set.has(key)) return violationAt('duplicate-key', at, depth);
        set.add(key);
      } else {
        const base = keyBase[d]!;
        for (let k = base; k < top; k++) if (keys[k] === key) return violationAt('duplicate-key', at, depth);
        keys[top++] = key;
        if (top - base > LINEAR_KEY_LIMIT) keySets[d] = new Set(keys.slice(base, top));
      }
      i = end + 1;
      c = text.charCodeAt(i);
      while (c === 32 || c === 10 || c === 13 || c === 9) c = text.charCodeAt(++i);
      if (c !== COLON) return violationAt('syntax', at, depth);
      i++;
      state = VALUE;
      continue;
    }

    // AFTER_VALUE
    if (depth === 0) return i >= n ? null : violationAt('syntax', at, depth);
    const d = depth - 1;
    if (c === COMMA) {
      i++;
      if (isObject[d]) state = KEY;
      else {
        indexAt[d]!++;
        state = VALUE;
      }
      continue;
    }
    if (c === CLOSE_OBJECT && isObject[d]) {
      depth--;
      top = keyBase[depth]!;
      i++;
      continue;
    }
    if (c === CLOSE_ARRAY && !isObject[d]) {
      depth--;
      i++;
      continue;
    }
    return violationAt('syntax', at, depth);
  }
}
