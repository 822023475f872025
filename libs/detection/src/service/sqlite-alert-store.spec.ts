/**
 * The SQLite AlertStore on a temp database: idempotent saves, filters and cursor pages newest
 * first, lifecycle transitions against the stored status, and alerts that cannot be deleted or
 * have their facts changed.
 */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DetectionAlert } from '../alert';
import { AlertNotFoundError, InvalidAlertTransitionError } from '../alert-lifecycle';
import { SqliteAlertStore } from './sqlite-alert-store';

function alert(n: number, fields: Partial<DetectionAlert> = {}): DetectionAlert {
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
    groupKey: { 'actor.id': `u-${n}` },
    windowStart: end,
    windowEnd: end,
    count: 1,
    evidence: { eventIds: [id], firstEventId: id, lastEventId: id, total: 1, truncated: false },
    summary: { eventCount: 1, firstEventAt: end, lastEventAt: end, spanMs: 0, distinctPatients: 0, topPatients: [], distinctActors: 1, actors: [], distinctSourceIps: 0, sourceIps: [], sourceSystems: [], integrations: [] },
    position: n,
    reasons: [n % 2 ? "bulk-read" : "break-glass"],
    actor: `u-${n}`,
    ...fields,
  };
}

function store(): { db: Database.Database; alerts: SqliteAlertStore } {
  const db = new Database(path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'audit-alerts-')), 'audit.db'));
  return { db, alerts: new SqliteAlertStore(db) };
}

describe('SqliteAlertStore', () => {
  it('saves idempotently on the alert id', async () => {
    const { alerts } = store();
    const first = await alerts.saveAll([alert(1), alert(2)], '2026-03-03T10:05:00Z');
    expect(first.map((r) => r.created)).toEqual([true, true]);
    await alerts.transition(alert(1).id, { action: 'acknowledge', by: 'jane', at: '2026-03-03T10:06:00Z' });
    const again = await alerts.save(alert(1, { count: 99 }), '2026-03-03T11:00:00Z');
    expect(again.created).toBe(false);
    expect(again.record).toMatchObject({ count: 1, status: 'acknowledged', createdAt: '2026-03-03T10:05:00Z' });
    expect(alerts.count()).toBe(2);
  });

  it('keeps the reasons, actor and patient with the alert', async () => {
    const { alerts } = store();
    await alerts.save(alert(5, { patient: 'MRN-5', reasons: ['self-access'] }), '2026-03-03T10:05:00Z');
    expect(await alerts.get(alert(5).id)).toMatchObject({ reasons: ['self-access'], actor: 'u-5', patient: 'MRN-5' });
    const page = await alerts.list({ limit: 10 });
    expect(page.alerts[0]).toMatchObject({ reasons: ['self-access'], actor: 'u-5', patient: 'MRN-5' });
  });

  it('lists newest first with filters and an opaque cursor', async () => {
    const { alerts } = store();
    await alerts.saveAll(Array.from({ length: 25 }, (_, i) => alert(i + 1)), '2026-03-03T12:00:00Z');
    const ids: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await alerts.list({ limit: 7, cursor });
      ids.push(...page.alerts.map((a) => a.id));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(ids).toEqual(Array.from({ length: 25 }, (_, i) => alert(25 - i).id));
    const bulk = await alerts.list({ limit: 100, rule: 'bulk-phi-read', severity: 'high' });
    expect(bulk.alerts.every((a) => a.ruleId === 'bulk-phi-read' && a.severity === 'high')).toBe(true);
    const window = await alerts.list({ limit: 100, from: alert(5).windowEnd, to: alert(8).windowEnd });
    expect(window.alerts.map((a) => a.position)).toEqual([7, 6, 5]);
    await alerts.transition(alert(3).id, { action: 'resolve', by: 'raj', note: 'ok', at: '2026-03-03T12:01:00Z' });
    expect((await alerts.list({ limit: 100, status: 'resolved' })).alerts.map((a) => a.id)).toEqual([alert(3).id]);
    expect((await alerts.list({ limit: 100, status: 'open' })).alerts).toHaveLength(24);
  });

  it('applies transitions against the stored status', async () => {
    const { alerts } = store();
    await alerts.save(alert(1), '2026-03-03T12:00:00Z');
    const acked = await alerts.transition(alert(1).id, { action: 'acknowledge', by: 'jane', note: 'on it', at: '2026-03-03T12:01:00Z' });
    expect(acked).toMatchObject({ status: 'acknowledged', acknowledgedBy: 'jane' });
    await expect(alerts.transition(alert(1).id, { action: 'acknowledge', by: 'raj', at: '2026-03-03T12:02:00Z' })).rejects.toBeInstanceOf(InvalidAlertTransitionError);
    await expect(alerts.transition(alert(1).id, { action: 'resolve', by: 'raj', at: '2026-03-03T12:02:00Z' })).rejects.toMatchObject({ reason: 'note-required' });
    const resolved = await alerts.transition(alert(1).id, { action: 'resolve', by: 'raj', note: 'fine', at: '2026-03-03T12:03:00Z' });
    expect(resolved.history.map((h) => h.by)).toEqual(['jane', 'raj']);
    expect(await alerts.get(alert(1).id)).toEqual(resolved);
    await expect(alerts.transition(alert(9).id, { action: 'acknowledge', by: 'jane', at: '2026-03-03T12:04:00Z' })).rejects.toBeInstanceOf(AlertNotFoundError);
  });

  it('refuses to delete alerts or rewrite their facts', async () => {
    const { db, alerts } = store();
    await alerts.save(alert(1), '2026-03-03T12:00:00Z');
    expect(() => db.prepare('DELETE FROM alerts').run()).toThrow(/cannot be deleted/);
    expect(() => db.prepare("UPDATE alerts SET rule_id = 'x'").run()).toThrow(/immutable/);
  });

  describe('case work', () => {
    const indexing = { patientToken: (id: string) => `ptk_${Buffer.from(id).toString('hex')}` };
    const about = (n: number, actor: string, patient?: string) => alert(n, { actor, groupKey: { 'actor.id': actor, ...(patient ? { 'patient.id': patient } : {}) } });
    const indexed = () => {
      const db = new Database(path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'audit-alerts-')), 'audit.db'));
      return { db, alerts: new SqliteAlertStore(db, undefined, indexing) };
    };

    it('filters by actor and by patient token, with no patient id in the index', async () => {
      const { db, alerts } = indexed();
      await alerts.saveAll([about(1, 'nurse-a', 'MRN-1'), about(2, 'nurse-b', 'MRN-2'), about(3, 'nurse-a', 'MRN-3')], '2026-03-03T10:05:00.000Z');
      expect((await alerts.list({ actor: 'nurse-a', limit: 10 })).alerts.map((a) => a.position)).toEqual([3, 1]);
      expect((await alerts.list({ patientToken: indexing.patientToken('MRN-2'), limit: 10 })).alerts.map((a) => a.position)).toEqual([2]);
      expect((await alerts.list({ patientToken: indexing.patientToken('MRN-2'), actor: 'nurse-a', limit: 10 })).alerts).toEqual([]);
      const tokens = (db.prepare('SELECT patient_token FROM alert_patients').all() as { patient_token: string }[]).map((r) => r.patient_token);
      expect(tokens.sort()).toEqual(['MRN-1', 'MRN-2', 'MRN-3'].map(indexing.patientToken).sort());
    });

    it("opens a case per user, joins it while it is open, opens a new one once it is resolved, and reopening reopens the case", async () => {
      const { alerts } = indexed();
      const [a1, a2, b1] = await alerts.saveAll([about(1, 'nurse-a'), about(2, 'nurse-a'), about(3, 'nurse-b')], '2026-03-03T10:05:00.000Z');
      expect(a2.record.caseId).toBe(a1.record.caseId);
      expect(b1.record.caseId).not.toBe(a1.record.caseId);
      for (const r of [a1, a2]) await alerts.transition(r.record.id, { action: 'resolve', by: 'jane', note: 'n', at: '2026-03-03T11:00:00.000Z' });
      const [a3] = await alerts.saveAll([about(4, 'nurse-a')], '2026-03-03T12:00:00.000Z');
      expect(a3.record.caseId).not.toBe(a1.record.caseId);
      const listed = await alerts.cases({ actor: 'nurse-a', limit: 10 });
      expect(listed.cases.map((c) => [c.id, c.status, c.alertCount, c.openAlertCount])).toEqual([
        [a3.record.caseId, 'open', 1, 1],
        [a1.record.caseId, 'resolved', 2, 0],
      ]);
      await alerts.transition(a1.record.id, { action: 'reopen', by: 'raj', note: 'new evidence', at: '2026-03-03T12:30:00.000Z' });
      expect((await alerts.cases({ status: 'open', actor: 'nurse-a', limit: 10 })).cases.map((c) => c.id).sort()).toEqual([a1.record.caseId, a3.record.caseId].sort());
      const first = await alerts.cases({ limit: 2 });
      expect(first.cases).toHaveLength(2);
      const rest = await alerts.cases({ limit: 2, cursor: first.nextCursor! });
      expect([...first.cases, ...rest.cases].map((c) => c.id).sort()).toEqual([a1.record.caseId, a3.record.caseId, b1.record.caseId].sort());
      expect(rest.nextCursor).toBeNull();
    });

    it('upgrades a database made before case work: indexes and groups the alerts it holds', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'audit-alerts-'));
      const db = new Database(path.join(dir, 'audit.db'));
      db.exec(`CREATE TABLE alerts (id TEXT PRIMARY KEY, rule_id TEXT NOT NULL, severity TEXT NOT NULL, status TEXT NOT NULL, window_end_ms INTEGER NOT NULL,
               position INTEGER NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, record TEXT NOT NULL)`);
      const insert = db.prepare('INSERT INTO alerts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
      for (const a of [about(1, 'nurse-a', 'MRN-1'), about(2, 'nurse-a', 'MRN-2')]) {
        const record = { ...a, status: 'open', createdAt: '2026-03-03T10:05:00.000Z', updatedAt: '2026-03-03T10:05:00.000Z', history: [] };
        insert.run(a.id, a.ruleId, a.severity, 'open', Date.parse(a.windowEnd), a.position, record.createdAt, record.updatedAt, JSON.stringify(record));
      }
      const alerts = new SqliteAlertStore(db, undefined, indexing);
      const { cases } = await alerts.cases({ limit: 10 });
      expect(cases).toHaveLength(1);
      expect(cases[0]).toMatchObject({ actor: 'nurse-a', alertCount: 2, status: 'open' });
      expect((await alerts.list({ patientToken: indexing.patientToken('MRN-2'), limit: 10 })).alerts.map((a) => a.caseId)).toEqual([cases[0].id]);
    });
  });
});
