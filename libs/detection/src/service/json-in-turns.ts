/**
 * JSON.stringify in turns of the event loop, for values too big to serialize in one go (the
 * detection engine's snapshot: tens of MB at high rates). Plain objects are walked key by key and
 * long arrays are serialized in slices; after `budgetMs` of work the serializer yields
 * (setImmediate) so HTTP requests and group commits run in between. The value must not change
 * while it is being serialized (the engine's snapshot() returns fresh arrays and objects).
 *
 * Joined, the pieces are exactly the text JSON.stringify gives for the value.
 */
const SLICE = 2000;

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The JSON text of `value` in pieces, in order (join them, or hand them on as they are). */
export async function jsonInTurns(value: unknown, budgetMs = 8): Promise<string[]> {
  const parts: string[] = [];
  let turnStart = performance.now();

  const maybeYield = async (): Promise<void> => {
    const now = performance.now();
    if (now - turnStart < budgetMs) return;
    await yieldToEventLoop();
    turnStart = performance.now();
  };

  const walk = async (v: unknown): Promise<void> => {
    if (Array.isArray(v) && v.length > SLICE) {
      parts.push('[');
      for (let i = 0; i < v.length; i += SLICE) {
        const slice = JSON.stringify(v.slice(i, i + SLICE));
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
