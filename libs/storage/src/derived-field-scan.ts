/**
 * Finds, in the bytes of a record's canonical event JSON (exactly what the chain hash covers), the
 * fields the stored index columns are derived from, without parsing the record into objects: one
 * pass over the top level (and over `actor` and `patient` one level down), in the verification fast
 * path (SqliteChainReader). It answers only when it is certain: anything it does not expect (a
 * malformed text, a key written with escapes, a field twice, a compared field that is not a string)
 * makes it give up, and the caller then checks the record the ordinary way (JSON.parse,
 * derived-columns.ts), which names the column.
 */

/** Slots of DerivedFieldScan.at: [start, end) of each field's JSON string literal, quotes included; -1 when absent. */
export const enum DerivedField {
  Id = 0,
  Category = 2,
  Action = 4,
  Outcome = 6,
  ActorId = 8,
  OccurredAt = 10,
  PatientId = 12,
}

const QUOTE = 34;
const BACKSLASH = 92;
const COLON = 58;
const COMMA = 44;
const OPEN_OBJECT = 123;
const CLOSE_OBJECT = 125;
const OPEN_ARRAY = 91;
const CLOSE_ARRAY = 93;

/** End (just past the closing quote) of the string literal opening at `i`, or -1; `escaped[0]` is set when it holds a backslash. */
function stringEnd(b: Uint8Array, i: number, end: number, escaped: Uint8Array): number {
  for (i++; i < end; i++) {
    const c = b[i];
    if (c === QUOTE) return i + 1;
    if (c === BACKSLASH) {
      escaped[0] = 1;
      i++;
    }
  }
  return -1;
}

/** End of the JSON value starting at `i` (not a string: those use stringEnd), or -1. */
function valueEnd(b: Uint8Array, i: number, end: number, escaped: Uint8Array): number {
  const c = b[i];
  if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
    let depth = 0;
    for (; i < end; i++) {
      const d = b[i];
      if (d === QUOTE) {
        i = stringEnd(b, i, end, escaped) - 1;
        if (i < 0) return -1;
      } else if (d === OPEN_OBJECT || d === OPEN_ARRAY) depth++;
      else if (d === CLOSE_OBJECT || d === CLOSE_ARRAY) {
        if (--depth === 0) return i + 1;
      }
    }
    return -1;
  }
  // A number, true, false or null: up to the next separator.
  for (; i < end; i++) {
    const d = b[i];
    if (d === COMMA || d === CLOSE_OBJECT || d === CLOSE_ARRAY) return i;
  }
  return -1;
}

/** Whether key bytes [ks + 1, ke - 1) (inside the quotes) spell `name` (ASCII). */
function keyIs(b: Uint8Array, ks: number, ke: number, name: string): boolean {
  if (ke - ks - 2 !== name.length) return false;
  for (let k = 0; k < name.length; k++) if (b[ks + 1 + k] !== name.charCodeAt(k)) return false;
  return true;
}

/**
 * Scans an object starting at `i` (its `{`) whose members are read by `member(keyStart, keyEnd,
 * valueStart, valueEnd)` (a false return gives up); returns the object's end, or -1.
 */
function scanObject(
  b: Uint8Array,
  i: number,
  end: number,
  escaped: Uint8Array,
  member: (ks: number, ke: number, vs: number, ve: number) => boolean,
): number {
  if (b[i] !== OPEN_OBJECT) return -1;
  i++;
  if (b[i] === CLOSE_OBJECT) return i + 1;
  for (;;) {
    if (b[i] !== QUOTE) return -1;
    escaped[0] = 0;
    const ke = stringEnd(b, i, end, escaped);
    if (ke < 0 || escaped[0] !== 0 || b[ke] !== COLON) return -1; // a key with escapes: the ordinary path decides
    const vs = ke + 1;
    const ve = b[vs] === QUOTE ? stringEnd(b, vs, end, escaped) : valueEnd(b, vs, end, escaped);
    if (ve < 0 || !member(i, ke, vs, ve)) return -1;
    const c = b[ve];
    if (c === CLOSE_OBJECT) return ve + 1;
    if (c !== COMMA) return -1;
    i = ve + 1;
  }
}

/** One scanner, reused record after record (it keeps no record bytes between calls). */
export class DerivedFieldScan {
  /** [start, end) per DerivedField slot. */
  readonly at = new Int32Array(14);
  private readonly escaped = new Uint8Array(1);
  private bytes: Uint8Array = new Uint8Array(0);
  private end = 0;
  private actorSeen = false;
  private patientSeen = false;
  private nestedSlot = 0;

  private readonly topMember = (ks: number, ke: number, vs: number, ve: number): boolean => {
    const b = this.bytes;
    switch (ke - ks - 2) {
      case 2:
        return keyIs(b, ks, ke, 'id') ? this.setString(DerivedField.Id, vs, ve) : true;
      case 5:
        if (!keyIs(b, ks, ke, 'actor')) return true;
        if (this.actorSeen) return false;
        this.actorSeen = true;
        return this.nested(vs, DerivedField.ActorId);
      case 6:
        return keyIs(b, ks, ke, 'action') ? this.setString(DerivedField.Action, vs, ve) : true;
      case 7:
        if (keyIs(b, ks, ke, 'outcome')) return this.setString(DerivedField.Outcome, vs, ve);
        if (!keyIs(b, ks, ke, 'patient')) return true;
        if (this.patientSeen) return false;
        this.patientSeen = true;
        return this.nested(vs, DerivedField.PatientId);
      case 8:
        return keyIs(b, ks, ke, 'category') ? this.setString(DerivedField.Category, vs, ve) : true;
      case 10:
        return keyIs(b, ks, ke, 'occurredAt') ? this.setString(DerivedField.OccurredAt, vs, ve) : true;
      default:
        return true;
    }
  };

  private readonly nestedMember = (ks: number, ke: number, vs: number, ve: number): boolean =>
    keyIs(this.bytes, ks, ke, 'id') ? this.setString(this.nestedSlot, vs, ve) : true;

  /**
   * Scans the event JSON in bytes [start, end) of `bytes`. True when every field was found at most
   * once and each found one is a string literal (`at` then holds where; -1 for an absent one, or an
   * `actor` / `patient` without an id); false when the caller must check the record the ordinary way.
   */
  scan(bytes: Uint8Array, start: number, end: number): boolean {
    this.bytes = bytes;
    this.end = end;
    this.actorSeen = false;
    this.patientSeen = false;
    this.at.fill(-1);
    return scanObject(bytes, start, end, this.escaped, this.topMember) === end;
  }

  /** Whether the literal of a found field holds a backslash (an escape). */
  hasEscape(slot: DerivedField): boolean {
    const b = this.bytes;
    for (let i = this.at[slot] + 1, e = this.at[slot + 1] - 1; i < e; i++) if (b[i] === BACKSLASH) return true;
    return false;
  }

  private setString(slot: number, vs: number, ve: number): boolean {
    if (this.at[slot] !== -1 || this.bytes[vs] !== QUOTE) return false; // twice, or not a string
    this.at[slot] = vs;
    this.at[slot + 1] = ve;
    return true;
  }

  /** The `actor` or `patient` object: its `id` goes to `slot`. */
  private nested(vs: number, slot: number): boolean {
    if (this.bytes[vs] !== OPEN_OBJECT) return false;
    this.nestedSlot = slot;
    return scanObject(this.bytes, vs, this.end, this.escaped, this.nestedMember) >= 0;
  }
}
