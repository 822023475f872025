/**
 * The Elasticsearch LegalHoldStore on the client's official test double (EsFake): the exact
 * requests (strict mappings of its own index, `create` by hold id, fenced release), patient ids
 * stored only as token + sealed id (sharing and releasing once between instances is the contract
 * in test/contracts/legal-hold-store.contract.ts), and the
 * LegalHoldService placing and releasing holds with the ILM reconciler applied before it answers.
 */
import { createHmac, createSecretKey, randomBytes, randomUUID } from 'node:crypto';
import { AccessEvent, ProblemError } from '@app/core';
import { GENESIS_HASH, canonicalize, recordHash } from '@app/ledger';
import { FieldProtection } from '@app/storage';
import { EsFake } from '@app/storage/elasticsearch/es-fake';
import { legalHold as hold } from '../../../test/contracts/legal-hold-store.contract';
import { ElasticsearchEventStore, EsLegalHoldReconciler } from '@app/storage/scale-out-adapters';
import { EsLegalHoldStore, LEGAL_HOLD_MAPPINGS } from './es-legal-hold-store';
import { LegalHoldService } from './legal-hold.service';
import { holdPatientProtection } from './sqlite-legal-hold-store';

function protection(): FieldProtection {
  const key = createSecretKey(randomBytes(32));
  const tokenKey = randomBytes(32);
  return {
    patientToken: (id) => 'ptk_' + createHmac('sha256', tokenKey).update(id).digest('hex').slice(0, 24),
    isPatientToken: (v) => v.startsWith('ptk_'),
    dataKeys: { current: () => ({ keyId: 'dk-1', key }), byId: (id) => (id === 'dk-1' ? key : undefined), lists: (id) => id === 'dk-1' },
  };
}

const release = { releasedAt: '2026-05-01T00:00:00.000Z', releasedBy: 'u-officer', releasedByRole: 'compliance_officer', releaseNote: 'Case closed' };

function storeOn(fake: EsFake, p: FieldProtection) {
  return new EsLegalHoldStore(fake.client(), { index: 'audit-legal-holds', patientIds: holdPatientProtection(p), sleep: async () => undefined });
}

describe('EsLegalHoldStore', () => {
  it('keeps holds in their own index with strict mappings, created by hold id, patient ids as token + sealed id only', async () => {
    const fake = new EsFake();
    const p = protection();
    const store = storeOn(fake, p);
    const h = hold();
    await store.create(h);

    expect(fake.requests[0]).toMatchObject({ method: 'PUT', path: '/audit-legal-holds', body: { settings: { number_of_shards: 1 }, mappings: LEGAL_HOLD_MAPPINGS } });
    expect(LEGAL_HOLD_MAPPINGS.dynamic).toBe('strict');
    const [[op]] = fake.bulks();
    expect(op.action).toEqual({ create: { _index: 'audit-legal-holds', _id: h.id } });
    expect(fake.requests.find((r) => r.path === '/_bulk')!.querystring).toMatchObject({ refresh: 'wait_for' });
    expect(op.doc).toMatchObject({ id: h.id, status: 'active', patient_token: p.patientToken('MRN-HELD-1'), actor: null, from: h.from, case_id: 'CASE-117' });
    expect(typeof op.doc.patient_sealed).toBe('string');
    expect(JSON.stringify(fake.requests)).not.toContain('MRN-HELD-1');

    expect(await store.get(h.id)).toEqual(h);
    expect(await store.get(randomUUID())).toBeNull();
    // A second create of the same id is refused (op_type=create).
    await expect(store.create(h)).rejects.toThrow(/409/);
  });

  it('releases with optimistic concurrency: the index op carries if_seq_no / if_primary_term of the version read', async () => {
    const fake = new EsFake();
    const p = protection();
    const h = hold();
    await storeOn(fake, p).create(h);
    await storeOn(fake, p).release(h.id, release);
    const releaseOp = fake.bulks().flat().find((o) => 'index' in o.action)!;
    expect(Object.keys(releaseOp.action.index).sort()).toEqual(['_id', '_index', 'if_primary_term', 'if_seq_no']);
  });

  it('refuses the embedded runner\u2019s chain-range question instead of answering "nothing held"', async () => {
    await expect(storeOn(new EsFake(), protection()).coverage('data_access', 0, 10)).rejects.toThrow(/per backing index/);
  });
});

describe('LegalHoldService on Elasticsearch (store + ILM reconciler)', () => {
  const officer = { sub: 'u-officer', role: 'compliance_officer', via: 'token' };

  async function cluster() {
    const fake = new EsFake();
    const p = protection();
    const events = new ElasticsearchEventStore(fake.client(), {
      indexPrefix: 'audit',
      alertsIndex: 'audit-alerts',
      checkpointsIndex: 'audit-checkpoints',
      rolloverMaxAge: '30d',
      rolloverMaxPrimaryShardSize: '50gb',
      warmAfter: '30d',
      coldAfter: '365d',
      protection: p,
      sleep: async () => undefined,
      healthIntervalMs: 3_600_000,
    });
    await events.init();
    const e: AccessEvent = {
      id: randomUUID(),
      occurredAt: '2024-06-01T10:00:00.000Z',
      category: 'data_access',
      action: 'read',
      outcome: 'success',
      actor: { id: 'dr-alice', type: 'user' },
      patient: { id: 'MRN-HELD-1' },
      source: { system: 'ehr' },
    };
    const json = canonicalize(e);
    const receivedAt = '2024-06-01T10:00:01.000Z';
    await events.append([{ chain: 'data_access', seq: 0, receivedAt, event: e, eventJson: json, prevHash: GENESIS_HASH, hash: recordHash(GENESIS_HASH, 'data_access', 0, receivedAt, json) }]);
    const store = new EsLegalHoldStore(fake.client(), { index: events.layout.legalHoldsIndex, patientIds: holdPatientProtection(p) });
    const reconciler = new EsLegalHoldReconciler(fake.client(), events.layout, () => store.list('active'), { patientToken: p.patientToken });
    let failing = false;
    const service = new LegalHoldService(store, { record: () => undefined }, undefined, undefined, p.patientToken, {
      applyHolds: async () => {
        if (failing) throw new Error('cluster down');
        await reconciler.reconcile();
      },
    });
    return { fake, service, fail: () => (failing = true) };
  }

  it('a placed hold is effective when the call returns; a release restores the class policy', async () => {
    const { fake, service } = await cluster();
    const placed = await service.create({ patient: 'MRN-HELD-1', reason: 'litigation', caseId: 'C-1' }, officer);
    expect(fake.lifecycle.get('.ds-audit-events-data_access-0')).toBe('audit-legal-hold');
    await service.release(placed.id, { note: 'settled' }, officer);
    expect(fake.lifecycle.get('.ds-audit-events-data_access-0')).toBe('audit-events-data_access');
  });

  it('answers 503 naming the stored hold when it could not be applied', async () => {
    const { service, fail } = await cluster();
    fail();
    const err = await service.create({ actor: 'dr-alice', reason: 'audit', caseId: 'C-2' }, officer).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(ProblemError);
    expect((err as ProblemError).status).toBe(503);
    const [stored] = (await service.list()).holds;
    expect((err as ProblemError).body.detail).toContain(stored.id);
  });
});
