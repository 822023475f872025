/**
 * Event search filters checked on decoded records (ip, integration): pages come out newest first
 * without gaps or repeats, a page that reaches the scan budget comes back short with a cursor that
 * continues, and the parameters are validated (bad IP, relative times, enum values in any case).
 */
import { AccessEvent, ProblemError } from '@app/core';
import { EventPage, EventQuery, StoredRecord } from '@app/storage';
import { parseEventQuery, residualPage } from './query.service';

/** A store of `n` records, newest first by (occurredMs, position), paged like the real ones. */
function storeOf(records: StoredRecord[]) {
  const sorted = [...records].sort((a, b) => Date.parse(b.event.occurredAt) - Date.parse(a.event.occurredAt) || b.position - a.position);
  let reads = 0;
  return {
    reads: () => reads,
    async query(q: EventQuery): Promise<EventPage> {
      reads++;
      const after = q.after;
      const rest = after
        ? sorted.filter((r) => {
            const ms = Date.parse(r.event.occurredAt);
            return ms < after.occurredMs || (ms === after.occurredMs && r.position < after.position);
          })
        : sorted;
      const page = rest.slice(0, q.limit);
      const last = page[page.length - 1];
      return { records: page, next: rest.length > q.limit && last ? { occurredMs: Date.parse(last.event.occurredAt), position: last.position } : null };
    },
  };
}

function record(i: number, ip: string, integration = 'ehr'): StoredRecord {
  const event = {
    id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    occurredAt: new Date(Date.parse('2026-03-01T00:00:00Z') + i * 1000).toISOString(),
    category: 'data_access',
    action: 'read',
    outcome: 'success',
    actor: { id: 'u', type: 'user', ip },
    source: { system: 's', integration },
  } as AccessEvent;
  return { position: i, chain: 'data_access', seq: i, receivedAt: event.occurredAt, event, eventJson: '', prevHash: Buffer.alloc(32), hash: Buffer.alloc(32) };
}

describe('residualPage (ip / integration filters)', () => {
  const records = Array.from({ length: 5000 }, (_, i) => record(i, i % 1000 === 7 ? '10.0.0.9' : '10.0.0.1', i % 2 ? 'billing' : 'ehr'));

  it('pages newest first through every match, with no gap and no repeat', async () => {
    const store = storeOf(records);
    const seen: number[] = [];
    let after: EventQuery['after'];
    do {
      const page = await residualPage(store, { limit: 2, after }, { ip: '10.0.0.9' });
      seen.push(...page.records.map((r) => r.position));
      after = page.next ?? undefined;
    } while (after);
    expect(seen).toEqual([4007, 3007, 2007, 1007, 7]);
  });

  it('stops at the scan budget with a short page and a cursor that continues', async () => {
    const store = storeOf(records);
    const first = await residualPage(store, { limit: 10 }, { ip: '10.0.0.9' }, 2000);
    expect(first.records.map((r) => r.position)).toEqual([4007, 3007]);
    expect(first.next).not.toBeNull();
    const rest = await residualPage(store, { limit: 10, after: first.next! }, { ip: '10.0.0.9' }, 2000);
    expect(rest.records.map((r) => r.position)).toEqual([2007, 1007]);
    const last = await residualPage(store, { limit: 10, after: rest.next! }, { ip: '10.0.0.9' }, 2000);
    expect(last.records.map((r) => r.position)).toEqual([7]);
    expect(last.next).toBeNull();
  });

  it('combines ip and integration', async () => {
    const page = await residualPage(storeOf(records), { limit: 10 }, { ip: '10.0.0.9', integration: 'billing' });
    expect(page.records.map((r) => r.position)).toEqual([4007, 3007, 2007, 1007, 7]);
    const none = await residualPage(storeOf(records), { limit: 10 }, { ip: '10.0.0.9', integration: 'ehr' });
    expect(none).toEqual({ records: [], next: null });
  });
});

describe('parseEventQuery', () => {
  const errorsOf = (params: Record<string, unknown>) => {
    try {
      parseEventQuery(params);
    } catch (e) {
      return ((e as ProblemError).body.errors as { pointer: string }[]).map((x) => x.pointer);
    }
    return [];
  };

  it('normalizes enum values to the vocabulary, takes relative times, and keeps ip / integration apart', () => {
    const now = Date.parse('2026-12-07T12:00:00Z');
    const q = parseEventQuery({ outcome: 'SUCCESS', category: 'Data_Access', action: 'READ', from: 'now-30d', to: 'now', ip: '::ffff:10.0.0.9', integration: 'billing' }, now);
    expect(q).toMatchObject({ outcome: 'success', category: 'data_access', action: 'READ', fromMs: now - 30 * 86_400_000, toMs: now, residual: { ip: '10.0.0.9', integration: 'billing' } });
  });

  it('names each bad parameter, never its value', () => {
    expect(errorsOf({ ip: '10.0.0.300', outcome: 'meh', from: 'last week' }).sort()).toEqual(['/query/from', '/query/ip', '/query/outcome']);
  });
});
