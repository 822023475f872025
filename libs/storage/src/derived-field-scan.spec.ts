/**
 * DerivedFieldScan against JSON.parse: on canonical records (random fields, nesting, escapes,
 * unicode) it finds exactly the literals of id, category, action, outcome, actor.id, occurredAt and
 * patient.id that JSON.parse reads, and on anything it is not certain of (duplicate keys, escaped
 * keys, non-string values, malformed or non-canonical text) it gives up rather than answer.
 */
import { canonicalize } from '@app/ledger';
import { DerivedField, DerivedFieldScan } from './derived-field-scan';

const SLOTS: [DerivedField, (e: Record<string, unknown>) => unknown][] = [
  [DerivedField.Id, (e) => e.id],
  [DerivedField.Category, (e) => e.category],
  [DerivedField.Action, (e) => e.action],
  [DerivedField.Outcome, (e) => e.outcome],
  [DerivedField.ActorId, (e) => (e.actor as { id?: unknown } | undefined)?.id],
  [DerivedField.OccurredAt, (e) => e.occurredAt],
  [DerivedField.PatientId, (e) => (e.patient as { id?: unknown } | undefined)?.id],
];

function scanText(text: string): { ok: boolean; values: (string | undefined)[] } {
  const bytes = Buffer.concat([Buffer.from('xx'), Buffer.from(text, 'utf8'), Buffer.from('yy')]);
  const scan = new DerivedFieldScan();
  const ok = scan.scan(bytes, 2, bytes.length - 2);
  const values = SLOTS.map(([slot]) => (scan.at[slot] < 0 ? undefined : (JSON.parse(bytes.toString('utf8', scan.at[slot], scan.at[slot + 1])) as string)));
  return { ok, values };
}

let seed = 7;
function rnd(n: number): number {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed % n;
}
const PIECES = ['a', 'Z', '0', ' ', '"', '\\', '/', '\n', '\u0001', 'é', '✓', '\u2028', '{', '}', '[', ']', ':', ',', '"id":"x"'];
function text(): string {
  let s = '';
  for (let i = rnd(12); i > 0; i--) s += PIECES[rnd(PIECES.length)];
  return s;
}
function event(): Record<string, unknown> {
  const e: Record<string, unknown> = {
    id: text(),
    occurredAt: '2026-01-01T00:00:00.000Z',
    category: text(),
    action: text(),
    outcome: text(),
    actor: { id: text(), type: 'user', ...(rnd(2) ? { ip: text() } : {}), ...(rnd(3) === 0 ? { a: { id: 'nested' } } : {}) },
    source: { system: text(), integration: text() },
  };
  if (rnd(3)) e.patient = rnd(5) ? { id: text() } : {};
  if (rnd(2)) e.details = { [text()]: text(), id: text(), list: [1, { category: 'no' }, 'x'], n: rnd(1000) - 500, t: true, z: null };
  if (rnd(4) === 0) e.recordCount = rnd(10);
  return e;
}

describe('DerivedFieldScan', () => {
  it('finds exactly the fields JSON.parse reads in canonical records, whatever they hold', () => {
    for (let i = 0; i < 3000; i++) {
      const e = event();
      const t = canonicalize(e);
      const r = scanText(t);
      expect({ i, ok: r.ok }).toEqual({ i, ok: true });
      const parsed = JSON.parse(t) as Record<string, unknown>;
      expect({ i, values: r.values }).toEqual({ i, values: SLOTS.map(([, get]) => get(parsed)) });
    }
  });

  it('gives up on what it cannot be certain of', () => {
    const good = canonicalize({ action: 'read', actor: { id: 'u1', type: 'user' }, category: 'data_access', id: 'e1', occurredAt: '2026-01-01T00:00:00.000Z', outcome: 'success', patient: { id: 'P1' } });
    expect(scanText(good).ok).toBe(true);
    const bad = [
      good.replace('"category":"data_access"', '"category":"data_access","category":"authentication"'), // a key twice
      good.replace('"actor":{', '"actor":{"id":"u2",'), // actor.id twice
      good.replace('"patient":{"id":"P1"}', '"patient":{"id":"P1"},"patient":{"id":"P2"}'), // patient twice
      good.replace('"category"', '"c\\u0061tegory"'), // an escaped key
      good.replace('"id":"e1"', '"id":7'), // not a string
      good.replace('"actor":{"id":"u1","type":"user"}', '"actor":"u1"'),
      good.replace('"patient":{"id":"P1"}', '"patient":{"id":null}'),
      good.replace('"outcome":"success"', '"outcome": "success"'), // not canonical
      good.slice(0, good.length - 1), // cut short
      good + ' ',
      good.replace('"occurredAt":"2026-01-01T00:00:00.000Z"', '"occurredAt":"2026-01-01T00:00:00.000Z'),
      '[]',
      '',
    ];
    for (const t of bad) expect({ t, ok: scanText(t).ok }).toEqual({ t, ok: false });
  });

  it('reports absent fields as absent, and an actor or patient without an id as no id', () => {
    const t = canonicalize({ actor: { type: 'user' }, patient: {}, details: { id: 'not-top-level', category: 'x' } });
    const r = scanText(t);
    expect(r.ok).toBe(true);
    expect(r.values).toEqual([undefined, undefined, undefined, undefined, undefined, undefined, undefined]);
  });
});
