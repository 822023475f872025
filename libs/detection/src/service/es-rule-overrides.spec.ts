/**
 * Rule overrides in Elasticsearch (the client's official test double, EsFake), with two
 * instances' stores on one cluster: a change made through one is in the other's state after its
 * next read, the trail is append-only (one created document per change, none updated or deleted)
 * and folds to the same state on both, newest first in the history.
 */
import { EsFake } from '@app/storage/elasticsearch/es-fake';
import { EsRequests } from '@app/storage/elasticsearch/es-requests';
import { ElasticsearchRuleOverrideStore } from './es-rule-overrides';

const INDEX = 'audit-rule-overrides';

function store(fake: EsFake, clock: { ms: number }) {
  return new ElasticsearchRuleOverrideStore(new EsRequests(fake.client(), { sleep: async () => undefined }), INDEX, { now: () => new Date((clock.ms += 1000)) });
}

describe('rule overrides in Elasticsearch', () => {
  it('a change made through one instance applies on the other after its next read; the trail is append-only', async () => {
    const fake = new EsFake();
    const clock = { ms: Date.parse('2026-03-04T09:00:00Z') };
    const a = store(fake, clock);
    const b = store(fake, clock);
    await Promise.all([a.sync(), b.sync()]);
    expect(a.loaded && b.loaded).toBe(true);

    expect(await a.setEnabled('bulk-phi-read', false, 'admin-ann', 'noisy during migration')).toBe(true);
    expect(await a.setEnabled('bulk-phi-read', false, 'admin-ann', 'again')).toBe(false); // already off: no change recorded
    const exception = await b.addException({ ruleId: 'break-glass-access', field: 'actor.id', value: 'svc-backup', reason: 'backup job', createdBy: 'admin-bob' });

    await Promise.all([a.sync(), b.sync()]);
    for (const s of [a, b]) {
      expect([...s.state().disabled]).toEqual([['bulk-phi-read', { by: 'admin-ann', at: '2026-03-04T09:00:01.000Z', note: 'noisy during migration' }]]);
      expect(s.state().exceptions).toEqual([exception]);
    }

    expect(await b.removeException(exception.id, 'admin-bob', 'job retired')).toEqual(exception);
    expect(await a.removeException(exception.id, 'admin-ann', 'twice')).toBeNull(); // a already sees it gone (read before the change)
    expect(await b.setEnabled('bulk-phi-read', true, 'admin-bob', 'migration over')).toBe(true);
    await a.sync();
    expect(a.state()).toEqual({ disabled: new Map(), exceptions: [] });
    expect(a.history(10).map((c) => [c.action, c.ruleId, c.by])).toEqual([
      ['enable', 'bulk-phi-read', 'admin-bob'],
      ['remove-exception', 'break-glass-access', 'admin-bob'],
      ['add-exception', 'break-glass-access', 'admin-bob'],
      ['disable', 'bulk-phi-read', 'admin-ann'],
    ]);
    expect(a.history(10, 'break-glass-access').map((c) => c.detail)).toEqual(['actor.id = svc-backup', 'actor.id = svc-backup']);

    // Append-only: every write was a create of a new document.
    const writes = fake.bulks().flat().filter((op) => op.action.create?._index === INDEX || op.action.index?._index === INDEX);
    expect(writes.map((op) => Object.keys(op.action)[0])).toEqual(['create', 'create', 'create', 'create']);
    expect(fake.indices.get(INDEX)!.size).toBe(4);
  });
});
