/**
 * Legal holds against ILM, on the client's official test double (EsFake over
 * @elastic/elasticsearch-mock) with events written by the real Elasticsearch store: the exact
 * requests the reconciler sends (hold policy body, the search that finds held backing indices,
 * settings updates switching them to the hold policy and back on release), and that nothing it
 * sends deletes anything.
 */
import { createHmac, createSecretKey, randomBytes, randomUUID } from 'node:crypto';
import { AccessEvent } from '@app/core';
import { ChainHead, GENESIS_HASH, canonicalize, recordHash } from '@app/ledger';
import { ChainedRecord } from '../event-store.port';
import type { FieldProtection } from '../field-protection.port';
import { ElasticsearchEventStore, ElasticsearchEventStoreOptions } from './es-event-store';
import { EsFake } from './es-fake';
import { EsLegalHoldReconciler, HoldCriteria } from './es-hold-reconciler';

const OPTIONS: ElasticsearchEventStoreOptions = {
  indexPrefix: 'audit',
  alertsIndex: 'audit-alerts',
  checkpointsIndex: 'audit-checkpoints',
  rolloverMaxAge: '30d',
  rolloverMaxPrimaryShardSize: '50gb',
  warmAfter: '30d',
  coldAfter: '365d',
  sleep: async () => undefined,
  healthIntervalMs: 3_600_000,
};

const DA0 = '.ds-audit-events-data_access-0';
const DA1 = '.ds-audit-events-data_access-1';
const AUTH0 = '.ds-audit-events-authentication-0';

function protection(): FieldProtection {
  const key = createSecretKey(randomBytes(32));
  const tokenKey = randomBytes(32);
  return {
    patientToken: (id) => 'ptk_' + createHmac('sha256', tokenKey).update(id).digest('hex').slice(0, 24),
    isPatientToken: (v) => v.startsWith('ptk_'),
    dataKeys: { current: () => ({ keyId: 'dk-1', key }), byId: (id) => (id === 'dk-1' ? key : undefined), lists: (id) => id === 'dk-1' },
  };
}

function event(overrides: Partial<AccessEvent> = {}): AccessEvent {
  return {
    id: randomUUID(),
    occurredAt: '2026-03-02T10:15:00.000Z',
    category: 'data_access',
    action: 'read',
    outcome: 'success',
    actor: { id: 'dr-alice', type: 'user', role: 'physician' },
    patient: { id: 'MRN-0001' },
    source: { system: 'ehr-gateway' },
    ...overrides,
  };
}

function hold(criteria: Partial<HoldCriteria>): HoldCriteria {
  return { id: randomUUID(), patient: null, actor: null, from: null, to: null, ...criteria };
}

class Cluster {
  readonly fake = new EsFake();
  readonly p = protection();
  holds: HoldCriteria[] = [];
  private heads = new Map<string, ChainHead>();
  store!: ElasticsearchEventStore;
  reconciler!: EsLegalHoldReconciler;

  async start(): Promise<this> {
    this.store = new ElasticsearchEventStore(this.fake.client(), { ...OPTIONS, protection: this.p });
    await this.store.init();
    this.reconciler = new EsLegalHoldReconciler(this.fake.client(), this.store.layout, async () => this.holds, { patientToken: this.p.patientToken, sleep: async () => undefined });
    return this;
  }

  async append(events: AccessEvent[]): Promise<void> {
    const records: ChainedRecord[] = [];
    for (const e of events) {
      const json = canonicalize(e);
      const head = this.heads.get(e.category) ?? { seq: -1, hash: GENESIS_HASH };
      const seq = head.seq + 1;
      const receivedAt = '2026-03-02T12:00:00.000Z';
      const hash = recordHash(head.hash, e.category, seq, receivedAt, json);
      records.push({ chain: e.category, seq, receivedAt, event: e, eventJson: json, prevHash: head.hash, hash });
      this.heads.set(e.category, { seq, hash });
    }
    await this.store.append(records);
  }

  /** Requests from now on (after the store's own set-up). */
  mark(): () => { method: string; path: string; body: unknown }[] {
    const from = this.fake.requests.length;
    return () => this.fake.requests.slice(from).map(({ method, path, body }) => ({ method, path, body }));
  }

  settingsUpdates(reqs: { method: string; path: string; body: unknown }[]): [string, unknown][] {
    return reqs.filter((r) => r.method === 'PUT' && r.path.endsWith('/_settings')).map((r) => [decodeURIComponent(r.path.split('/')[1]), r.body]);
  }

  policyOf(index: string): string {
    return this.fake.lifecycle.get(index) ?? index.replace(/^\.ds-/, '').replace(/-\d+$/, '');
  }
}

function nothingDeleted(reqs: { method: string; path: string }[]): void {
  expect(reqs.filter((r) => r.method === 'DELETE' || /_delete|_forcemerge|_rollover|_close|_shrink/.test(r.path))).toEqual([]);
}

describe('EsLegalHoldReconciler', () => {
  it('declares the hold policy: the classes\u2019 hot, warm and cold phases and no delete phase', async () => {
    const c = await new Cluster().start();
    const reqs = c.mark();
    await c.reconciler.reconcile();
    const put = reqs().filter((r) => r.path === '/_ilm/policy/audit-legal-hold');
    expect(put).toHaveLength(1);
    expect(put[0]).toEqual({
      method: 'PUT',
      path: '/_ilm/policy/audit-legal-hold',
      body: {
        policy: {
          _meta: { managed_by: 'audit-siem', purpose: 'legal-hold', retention: 'until every covering hold is released' },
          phases: {
            hot: { min_age: '0ms', actions: { rollover: { max_age: '30d', max_primary_shard_size: '50gb' }, readonly: {}, set_priority: { priority: 100 } } },
            warm: { min_age: '30d', actions: { forcemerge: { max_num_segments: 1 }, set_priority: { priority: 50 } } },
            cold: { min_age: '365d', actions: { set_priority: { priority: 0 } } },
          },
        },
      },
    });
    // The class policies have no delete phase either (the retention run deletes, and checks the holds itself);
    // a hold policy keeps the same tiers.
    const classPolicy = c.fake.requests.find((r) => r.path === '/_ilm/policy/audit-events-data_access')!.body as { policy: { phases: Record<string, unknown> } };
    expect(Object.keys(classPolicy.policy.phases)).toEqual(['hot', 'warm', 'cold']);
    expect((put[0].body as { policy: { phases: unknown } }).policy.phases).toEqual(classPolicy.policy.phases);
    // Declared once per process.
    await c.reconciler.reconcile();
    expect(c.fake.requests.filter((r) => r.path === '/_ilm/policy/audit-legal-hold')).toHaveLength(1);
  });

  it('switches the backing index holding a held patient\u2019s records to the hold policy, and back on release', async () => {
    const c = await new Cluster().start();
    await c.append([event({ patient: { id: 'MRN-HELD' } }), event()]);
    c.fake.rollover();
    await c.append([event(), event({ category: 'authentication', action: 'login', patient: undefined })]);
    const held = hold({ patient: 'MRN-HELD' });
    c.holds = [held];

    const reqs = c.mark();
    const report = await c.reconciler.reconcile();
    expect(report).toEqual({ activeHolds: 1, heldIndices: [DA0], switchedToHold: [DA0], restored: [], inDeletePhase: [] });
    const search = reqs().find((r) => r.path === '/audit-events-*/_search')!;
    // The search names the patient by its token only: the id never reaches the cluster.
    expect(search.body).toEqual({
      size: 0,
      track_total_hits: false,
      query: { bool: { filter: [{ term: { 'audit.patient.token': c.p.patientToken('MRN-HELD') } }] } },
      aggs: { indices: { terms: { field: '_index', size: 10000 } } },
    });
    expect(JSON.stringify(reqs())).not.toContain('MRN-HELD');
    expect(c.settingsUpdates(reqs())).toEqual([[DA0, { 'index.lifecycle.name': 'audit-legal-hold' }]]);
    expect([DA0, DA1, AUTH0].map((i) => c.policyOf(i))).toEqual(['audit-legal-hold', 'audit-events-data_access', 'audit-events-authentication']);

    // Nothing changed: nothing is sent but reads.
    const again = c.mark();
    expect((await c.reconciler.reconcile()).switchedToHold).toEqual([]);
    expect(c.settingsUpdates(again())).toEqual([]);

    // Released: the index goes back to its class policy (and its delete phase).
    c.holds = [];
    const release = c.mark();
    expect(await c.reconciler.reconcile()).toEqual({ activeHolds: 0, heldIndices: [], switchedToHold: [], restored: [{ index: DA0, policy: 'audit-events-data_access' }], inDeletePhase: [] });
    expect(c.settingsUpdates(release())).toEqual([[DA0, { 'index.lifecycle.name': 'audit-events-data_access' }]]);
    expect(c.policyOf(DA0)).toBe('audit-events-data_access');
    nothingDeleted(c.fake.requests);
  });

  it('holds by actor and by time range cover every class\u2019s indices with matching records', async () => {
    const c = await new Cluster().start();
    await c.append([
      event({ actor: { id: 'dr-x', type: 'user' }, occurredAt: '2024-05-01T00:00:00.000Z' }),
      event({ category: 'authentication', action: 'login', patient: undefined, actor: { id: 'dr-x', type: 'user' }, occurredAt: '2025-02-01T00:00:00.000Z' }),
    ]);
    c.fake.rollover();
    await c.append([event({ occurredAt: '2024-12-31T23:59:59.999Z' }), event({ occurredAt: '2025-01-01T00:00:00.000Z' })]);

    c.holds = [hold({ actor: 'dr-x', to: '2025-01-01T00:00:00.000Z' })];
    const reqs = c.mark();
    expect((await c.reconciler.reconcile()).heldIndices).toEqual([DA0]);
    expect(reqs().find((r) => r.path === '/audit-events-*/_search')!.body).toMatchObject({
      query: { bool: { filter: [{ term: { 'audit.actor.id': 'dr-x' } }, { range: { '@timestamp': { lt: Date.parse('2025-01-01T00:00:00.000Z'), format: 'epoch_millis' } } }] } },
    });

    // A range hold ([from, to) on event time) adds the second data_access index; the actor's 2025 login is outside it.
    c.holds.push(hold({ from: '2024-01-01', to: '2025-01-01T00:00:00.000Z' }));
    expect((await c.reconciler.reconcile()).switchedToHold).toEqual([DA1]);
    // An actor hold with no range: the authentication index too.
    c.holds.push(hold({ actor: 'dr-x' }));
    expect(await c.reconciler.reconcile()).toMatchObject({ heldIndices: [AUTH0, DA0, DA1], switchedToHold: [AUTH0] });

    // Releasing one hold keeps what the others still cover.
    c.holds = c.holds.slice(1, 2);
    expect(await c.reconciler.reconcile()).toMatchObject({ heldIndices: [DA0, DA1], restored: [{ index: AUTH0, policy: 'audit-events-authentication' }] });
    nothingDeleted(c.fake.requests);
  });

  it('follows rollover: an index created while a hold is active is switched on the next run', async () => {
    const c = await new Cluster().start();
    await c.append([event({ patient: { id: 'MRN-HELD' } })]);
    c.holds = [hold({ patient: 'MRN-HELD' })];
    expect((await c.reconciler.reconcile()).heldIndices).toEqual([DA0]);
    c.fake.rollover();
    await c.append([event({ patient: { id: 'MRN-HELD' } }), event()]);
    const reqs = c.mark();
    expect(await c.reconciler.reconcile()).toMatchObject({ heldIndices: [DA0, DA1], switchedToHold: [DA1] });
    expect(c.settingsUpdates(reqs())).toEqual([[DA1, { 'index.lifecycle.name': 'audit-legal-hold' }]]);
  });

  it('reports held indices ILM has already moved into the delete phase', async () => {
    const c = await new Cluster().start();
    await c.append([event({ patient: { id: 'MRN-HELD' } })]);
    c.fake.phases.set(DA0, 'delete');
    c.holds = [hold({ patient: 'MRN-HELD' })];
    const reqs = c.mark();
    expect(await c.reconciler.reconcile()).toMatchObject({ switchedToHold: [DA0], inDeletePhase: [DA0] });
    expect(reqs().some((r) => r.method === 'GET' && r.path === `/${DA0}/_ilm/explain`)).toBe(true);
  });

  it('leaves indices alone that an operator put on a policy of their own', async () => {
    const c = await new Cluster().start();
    await c.append([event()]);
    c.fake.lifecycle.set(DA0, 'custom-forever');
    const reqs = c.mark();
    await c.reconciler.reconcile();
    expect(c.settingsUpdates(reqs())).toEqual([]);
    expect(c.policyOf(DA0)).toBe('custom-forever');
  });

  it('does not undo a hold placed while it ran: a run whose holds changed starts over before restoring', async () => {
    const c = await new Cluster().start();
    await c.append([event({ patient: { id: 'MRN-HELD' } })]);
    c.holds = [hold({ patient: 'MRN-HELD' })];
    await c.reconciler.reconcile();
    // Another instance releases the old hold and places a new one over the same records: the
    // first read of this run sees no hold, the re-check before restoring sees the new one.
    const placedElsewhere = hold({ patient: 'MRN-HELD' });
    let reads = 0;
    const racing = new EsLegalHoldReconciler(c.fake.client(), c.store.layout, async () => (reads++ === 0 ? [] : [placedElsewhere]), { patientToken: c.p.patientToken });
    expect(await racing.reconcile()).toMatchObject({ activeHolds: 1, heldIndices: [DA0], restored: [] });
    expect(c.policyOf(DA0)).toBe('audit-legal-hold');
  });
});

describe('EsLegalHoldReconciler against Elasticsearch limits (issue 17)', () => {
  it('switches policy the documented way: remove the current policy, then assign the new one', async () => {
    const c = await new Cluster().start();
    await c.append([event({ patient: { id: 'MRN-HELD' } })]);
    c.holds = [hold({ patient: 'MRN-HELD' })];
    const reqs = c.mark();
    await c.reconciler.reconcile();
    const ilm = reqs().filter((r) => r.path.startsWith(`/${DA0}/`) && r.method !== 'GET').map((r) => `${r.method} ${r.path}`);
    expect(ilm).toEqual([`POST /${DA0}/_ilm/remove`, `PUT /${DA0}/_settings`]);
    expect(c.policyOf(DA0)).toBe('audit-legal-hold');
    c.holds = [];
    const back = c.mark();
    await c.reconciler.reconcile();
    expect(back().filter((r) => r.path.startsWith(`/${DA0}/`) && r.method !== 'GET').map((r) => `${r.method} ${r.path}`)).toEqual([`POST /${DA0}/_ilm/remove`, `PUT /${DA0}/_settings`]);
    expect(c.policyOf(DA0)).toBe('audit-events-data_access');
  });

  it('explains 150 held indices without a request line over 4 kB (the fake refuses longer lines, as Elasticsearch does)', async () => {
    const c = await new Cluster().start();
    for (let i = 0; i < 150; i++) {
      await c.append([event({ patient: { id: 'MRN-HELD' } })]);
      c.fake.rollover();
    }
    c.fake.phases.set('.ds-audit-events-data_access-149', 'delete');
    c.holds = [hold({ patient: 'MRN-HELD' })];
    const reqs = c.mark();
    const report = await c.reconciler.reconcile();
    expect(report.heldIndices).toHaveLength(150);
    expect(report.inDeletePhase).toEqual(['.ds-audit-events-data_access-149']);
    const explains = reqs().filter((r) => r.path.endsWith('/_ilm/explain'));
    expect(explains.length).toBeGreaterThan(1);
    for (const r of explains) expect(r.path.length).toBeLessThan(4000);
  });
});
