/**
 * Field errors for unknown members (body fields, query parameters) that never repeat the member's
 * name: a client's own key may be PHI (e.g. a patient id typed as a key). The error points at the
 * parent object, says which names are allowed there, and gives the member's position instead.
 */
import { FieldError } from './problem';

/** Most unknown members reported per object (each one is a separate error). */
const MAX_UNKNOWN_REPORTED = 10;

/** `1st`, `2nd`, `3rd`, `4th`, `11th`, `22nd`, … */
export function ordinal(n: number): string {
  const mod100 = n % 100;
  if (mod100 >= 11 && mod100 <= 13) return `${n}th`;
  switch (n % 10) {
    case 1:
      return `${n}st`;
    case 2:
      return `${n}nd`;
    case 3:
      return `${n}rd`;
    default:
      return `${n}th`;
  }
}

export type UnknownMemberKind = 'field' | 'element' | 'parameter' | 'filter';

/** The message for one unknown member at 1-based `position` of its parent; no name is repeated. */
export function unknownMemberMessage(position: number, allowed: readonly string[], kind: UnknownMemberKind = 'field'): string {
  const sent = kind === 'field' || kind === 'element' ? 'member of this object' : `${kind} in the query string`;
  const allowedText = allowed.length > 0 ? `allowed: ${allowed.join(', ')}` : 'no members are allowed here';
  return `unknown ${kind} (the ${ordinal(position)} ${sent}; its name is not repeated); ${allowedText}`;
}

/**
 * One error per key of `keys` that is not in `allowed` (at most 10), each pointing at `parentPointer`
 * (`''` for the body, `/actor`, `/query`, …) and naming the key's position only.
 */
export function unknownMemberErrors(
  keys: readonly string[],
  allowed: readonly string[],
  parentPointer: string,
  kind: UnknownMemberKind = 'field',
): FieldError[] {
  const out: FieldError[] = [];
  keys.forEach((key, i) => {
    if (out.length < MAX_UNKNOWN_REPORTED && !allowed.includes(key)) out.push({ pointer: parentPointer, message: unknownMemberMessage(i + 1, allowed, kind) });
  });
  return out;
}
