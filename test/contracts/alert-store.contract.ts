/**
 * The AlertStore contract: what detection (idempotent saves after a replay), the alert and case
 * endpoints (filters, cursors, newest first) and analysts (transitions judged against the stored
 * status, on any instance) rely on from any adapter: embedded SQLite, Elasticsearch and the
 * in-memory fake. What only one engine does (triggers, sealed documents, write requests, a
 * write that races a stale read) stays in that adapter's own spec.
 */
import { AlertNotFoundError, AlertStore, DetectionAlert, InvalidAlertTransitionError } from '@app/detection';

export interface OpenedAlertStore {
  store: AlertStore;
  /** Another handle on the same storage (another instance, or another connection). */
  other(): AlertStore;
  /** The patient token the store indexes (AlertIndexing it was given). */
  patientToken(id: string): string;
  close(): Promise<void>;
}

export function detectionAlert(n: number, fields: Partial<DetectionAlert> = {}): DetectionAlert {
  const end = new Date(Date.parse('2026-03-03T10:00:00Z') + n * 60_000).toISOString();
  const id = `00000000-0000-8000-8000-${String(n).padStart(12, '0')}`;
  return {
    id,
    ruleId: n % 2 ? 'bulk-phi-read' : 'break-glass-access',
    title: 't',
    severity: n % 3 ? 'high' : 'medium',
    kind: 'match',
    runbook: 'r',
    tags: [],
    groupKey: { 'actor.id': `u-${n}`, 'patient.id': `MRN-${n}` },
    windowStart: end,
    windowEnd: end,
    count: 1,
    evidence: { eventIds: [id], firstEventId: id, lastEventId: id, total: 1, truncated: false },
    summary: { eventCount: 1, firstEventAt: end, lastEventAt: end, spanMs: 0, distinctPatients: 1, topPatients: [], distinctActors: 1, actors: [], distinctSourceIps: 0, sourceIps: [], sourceSystems: [], integrations: [] },
    position: n,
    reasons: [n % 2 ? 'bulk-read' : 'break-glass'],
    actor: `u-${n}`,
    ...fields,
  };
}

const about = (n: number, actor: string, patient: string) => detectionAlert(n, { actor, groupKey: { 'actor.id': actor, 'patient.id': patient } });

export function describeAlertStoreContract(name: string, open: () => Promise<OpenedAlertStore>): void {
  describe(`AlertStore contract: ${name}`, () => {
    let opened: OpenedAlertStore;
    let store: AlertStore;
    beforeEach(async () => {
      opened = await open();
      store = opened.store;
    });
    afterEach(() => opened.close());

    it('an empty store has no alert and no case', async () => {
      expect(await store.get(detectionAlert(1).id)).toBeNull();
      expect(await store.list({ limit: 10 })).toEqual({ alerts: [], nextCursor: null });
      expect(await store.cases({ limit: 10 })).toEqual({ cases: [], nextCursor: null });
      expect(await store.saveAll([], '2026-03-03T10:05:00.000Z')).toEqual([]);
    });

    it('keeps the alert whole, open, with its reasons, actor and patient, as every instance reads it', async () => {
      const a = detectionAlert(5, { patient: 'MRN-5', reasons: ['same-surname', 'vip-record'] });
      const saved = await store.save(a, '2026-03-03T10:05:00.000Z');
      expect(saved.created).toBe(true);
      expect(saved.record).toEqual({ ...a, status: 'open', createdAt: '2026-03-03T10:05:00.000Z', updatedAt: '2026-03-03T10:05:00.000Z', history: [], caseId: expect.any(String) });
      expect(await opened.other().get(a.id)).toEqual(saved.record);
      expect((await store.list({ limit: 10 })).alerts).toEqual([saved.record]);
    });

    it('saves idempotently on the alert id: a replay changes nothing and returns the stored record', async () => {
      const first = await store.saveAll([detectionAlert(1), detectionAlert(2)], '2026-03-03T10:05:00.000Z');
      expect(first.map((r) => r.created)).toEqual([true, true]);
      await store.transition(detectionAlert(1).id, { action: 'acknowledge', by: 'jane', at: '2026-03-03T10:06:00.000Z' });
      const again = await opened.other().save(detectionAlert(1, { count: 99 }), '2026-03-03T11:00:00.000Z');
      expect(again.created).toBe(false);
      expect(again.record).toMatchObject({ count: 1, status: 'acknowledged', createdAt: '2026-03-03T10:05:00.000Z' });
      const mixed = await store.saveAll([detectionAlert(2, { count: 7 }), detectionAlert(3)], '2026-03-03T11:00:00.000Z');
      expect(mixed.map((r) => [r.created, r.record.count])).toEqual([
        [false, 1],
        [true, 1],
      ]);
      expect((await store.list({ limit: 10 })).alerts.map((a) => a.position)).toEqual([3, 2, 1]);
    });

    it('lists newest first (window end, then id) in pages with an opaque cursor, and filters by status, rule, severity and window', async () => {
      await store.saveAll(Array.from({ length: 25 }, (_, i) => detectionAlert(i + 1)), '2026-03-03T12:00:00.000Z');
      const ids: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await store.list({ limit: 7, cursor });
        ids.push(...page.alerts.map((a) => a.id));
        cursor = page.nextCursor ?? undefined;
        pages++;
      } while (cursor);
      expect(pages).toBe(4);
      expect(ids).toEqual(Array.from({ length: 25 }, (_, i) => detectionAlert(25 - i).id));
      const picked = await store.list({ limit: 100, rule: 'bulk-phi-read', severity: 'high', from: detectionAlert(5).windowEnd, to: detectionAlert(8).windowEnd });
      expect(picked.alerts.map((a) => a.position)).toEqual([7, 5]);
      const window = await store.list({ limit: 100, from: detectionAlert(5).windowEnd, to: detectionAlert(8).windowEnd });
      expect(window.alerts.map((a) => a.position)).toEqual([7, 6, 5]);
      await store.transition(detectionAlert(3).id, { action: 'resolve', by: 'raj', note: 'ok', at: '2026-03-03T12:01:00.000Z' });
      expect((await store.list({ limit: 100, status: 'resolved' })).alerts.map((a) => a.id)).toEqual([detectionAlert(3).id]);
      expect((await store.list({ limit: 100, status: 'open' })).alerts).toHaveLength(24);
      await expect(store.list({ limit: 1, cursor: 'bogus' })).rejects.toThrow(/invalid alert cursor/);
    });

    it('filters by the user and by a patient token (the patient the alert names)', async () => {
      await store.saveAll([about(1, 'nurse-a', 'MRN-1'), about(2, 'nurse-b', 'MRN-2'), about(3, 'nurse-a', 'MRN-3')], '2026-03-03T10:05:00.000Z');
      expect((await store.list({ actor: 'nurse-a', limit: 10 })).alerts.map((a) => a.position)).toEqual([3, 1]);
      expect((await store.list({ patientToken: opened.patientToken('MRN-2'), limit: 10 })).alerts.map((a) => a.position)).toEqual([2]);
      expect((await store.list({ patientToken: opened.patientToken('MRN-2'), actor: 'nurse-a', limit: 10 })).alerts).toEqual([]);
      expect((await store.list({ patientToken: opened.patientToken('MRN-9'), limit: 10 })).alerts).toEqual([]);
    });

    it('applies transitions against the stored status, on any instance; an unknown alert is not found', async () => {
      await store.save(detectionAlert(1), '2026-03-03T12:00:00.000Z');
      const acked = await store.transition(detectionAlert(1).id, { action: 'acknowledge', by: 'jane', note: 'on it', at: '2026-03-03T12:01:00.000Z' });
      expect(acked).toMatchObject({ status: 'acknowledged', acknowledgedBy: 'jane', updatedAt: '2026-03-03T12:01:00.000Z' });
      const other = opened.other();
      await expect(other.transition(detectionAlert(1).id, { action: 'acknowledge', by: 'raj', at: '2026-03-03T12:02:00.000Z' })).rejects.toMatchObject({ reason: 'not-allowed' });
      await expect(other.transition(detectionAlert(1).id, { action: 'resolve', by: 'raj', at: '2026-03-03T12:02:00.000Z' })).rejects.toBeInstanceOf(InvalidAlertTransitionError);
      await expect(other.transition(detectionAlert(1).id, { action: 'resolve', by: 'raj', at: '2026-03-03T12:02:00.000Z' })).rejects.toMatchObject({ reason: 'note-required' });
      const resolved = await other.transition(detectionAlert(1).id, { action: 'resolve', by: 'raj', note: 'fine', at: '2026-03-03T12:03:00.000Z' });
      expect(resolved.history.map((h) => `${h.from}->${h.to}:${h.by}`)).toEqual(['open->acknowledged:jane', 'acknowledged->resolved:raj']);
      expect(await store.get(detectionAlert(1).id)).toEqual(resolved);
      await expect(store.transition(detectionAlert(9).id, { action: 'acknowledge', by: 'jane', at: '2026-03-03T12:04:00.000Z' })).rejects.toBeInstanceOf(AlertNotFoundError);
    });

    it('groups a user’s alerts into the open case, opens a new one once it is resolved, and reopening reopens it', async () => {
      const [a1, a2, b1] = await store.saveAll([about(1, 'nurse-a', 'MRN-1'), about(2, 'nurse-a', 'MRN-2'), about(3, 'nurse-b', 'MRN-3')], '2026-03-03T10:05:00.000Z');
      expect(a2.record.caseId).toBe(a1.record.caseId);
      expect(b1.record.caseId).not.toBe(a1.record.caseId);
      await store.transition(a1.record.id, { action: 'resolve', by: 'jane', note: 'n', at: '2026-03-03T11:00:00.000Z' });
      const [stillOpen] = await store.saveAll([about(4, 'nurse-a', 'MRN-4')], '2026-03-03T11:05:00.000Z');
      expect(stillOpen.record.caseId).toBe(a1.record.caseId); // a2 is still open
      for (const r of [a2, stillOpen]) await store.transition(r.record.id, { action: 'resolve', by: 'jane', note: 'n', at: '2026-03-03T11:06:00.000Z' });
      const [later] = await opened.other().saveAll([about(5, 'nurse-a', 'MRN-5')], '2026-03-03T12:00:00.000Z');
      expect(later.record.caseId).not.toBe(a1.record.caseId);
      expect((await store.cases({ actor: 'nurse-a', limit: 10 })).cases.map((c) => [c.id, c.actor, c.status, c.alertCount, c.openAlertCount])).toEqual([
        [later.record.caseId, 'nurse-a', 'open', 1, 1],
        [a1.record.caseId, 'nurse-a', 'resolved', 3, 0],
      ]);
      expect((await store.cases({ status: 'resolved', limit: 10 })).cases.map((c) => c.id)).toEqual([a1.record.caseId]);
      expect((await store.list({ caseId: a1.record.caseId, limit: 10 })).alerts.map((a) => a.position)).toEqual([4, 2, 1]);
      await store.transition(a1.record.id, { action: 'reopen', by: 'raj', note: 'new evidence', at: '2026-03-03T12:30:00.000Z' });
      expect((await store.cases({ status: 'open', actor: 'nurse-a', limit: 10 })).cases.map((c) => c.id).sort()).toEqual([a1.record.caseId, later.record.caseId].sort());
    });

    it('lists cases newest activity first in pages with an opaque cursor', async () => {
      const saved = await store.saveAll([about(1, 'nurse-a', 'MRN-1'), about(2, 'nurse-b', 'MRN-2'), about(3, 'nurse-c', 'MRN-3')], '2026-03-03T10:05:00.000Z');
      const first = await store.cases({ limit: 2 });
      expect(first.cases.map((c) => c.actor)).toEqual(['nurse-c', 'nurse-b']);
      expect(first.nextCursor).not.toBeNull();
      const rest = await store.cases({ limit: 2, cursor: first.nextCursor! });
      expect(rest.cases.map((c) => c.id)).toEqual([saved[0].record.caseId]);
      expect(rest.nextCursor).toBeNull();
    });
  });
}
