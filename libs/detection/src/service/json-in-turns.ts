/**
 * JSON.stringify in turns of the event loop, for values too big to serialize in one go (the
 * detection engine's snapshot: tens of MB at high rates). Plain objects are walked key by key and
 * long arrays are serialized in slices; after `budgetMs` of work the serializer yields
 * (setImmediate) so HTTP requests and group commits run in between. The value must not change
 * while it is being serialized (the engine's snapshot() returns fresh arrays and objects).
 *
 * Joined, the pieces are exactly the text JSON.stringify gives for the value.
 */
/** Arrays up to this length are serialized in one piece. */
const SMALL_ARRAY = 16;
/** Elements in the first slice of a longer array; then doubled or halved towards SLICE_MS a slice, up to MAX_SLICE. */
const FIRST_SLICE = 16;
const MAX_SLICE = 4096;
const SLICE_MS = 1;

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The JSON text of `value` in pieces, in order (join them, or hand them on as they are). */
export async function jsonInTurns(value: unknown, budgetMs = 8): Promise<string[]> {
  const parts: string[] = [];
  let turnStart = performance.now();
  let sliceStart = turnStart;

  const maybeYield = async (): Promise<void> => {
    const now = performance.now();
    if (now - turnStart < budgetMs) return;
    await yieldToEventLoop();
    turnStart = performance.now();
  };

  const walk = async (v: unknown): Promise<void> => {
    if (Array.isArray(v) && v.length > SMALL_ARRAY) {
      // Elements differ a lot in size (a ref row is 100 bytes, a window group can be 100 kB): the
      // slice length adapts so that each slice takes about SLICE_MS.
      parts.push('[');
      let n = FIRST_SLICE;
      for (let i = 0; i < v.length; i += n) {
        if (i > 0) {
          const spent = performance.now() - sliceStart;
          if (spent < SLICE_MS / 2 && n < MAX_SLICE) n *= 2;
          else if (spent > SLICE_MS * 2 && n > 1) n = Math.max(1, Math.floor(n / 2));
        }
        sliceStart = performance.now();
        const slice = JSON.stringify(v.slice(i, i + n));
        parts.push(i === 0 ? slice.slice(1, -1) : `,${slice.slice(1, -1)}`);
        await maybeYield();
      }
      parts.push(']');
      return;
    }
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype && !('toJSON' in v)) {
      parts.push('{');
      let first = true;
      for (const [key, member] of Object.entries(v)) {
        if (member === undefined || typeof member === 'function' || typeof member === 'symbol') continue;
        parts.push(`${first ? '' : ','}${JSON.stringify(key)}:`);
        first = false;
        await walk(member);
      }
      parts.push('}');
      return;
    }
    parts.push(JSON.stringify(v) ?? 'null');
    await maybeYield();
  };

  await walk(value);
  return parts;
}
