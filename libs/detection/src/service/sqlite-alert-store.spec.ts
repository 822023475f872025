/**
 * The SQLite AlertStore on a temp database: alerts that cannot be deleted or have their facts
 * changed, patients indexed by token, and a database made before case work upgraded. What every
 * AlertStore does (idempotent saves, filters and cursors, transitions, cases) is the contract in
 * test/contracts/alert-store.contract.ts, run on this adapter too.
 */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DetectionAlert } from '../alert';
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

    it('indexes the patients an alert names by token, never by id', async () => {
      const { db, alerts } = indexed();
      await alerts.saveAll([about(1, 'nurse-a', 'MRN-1'), about(2, 'nurse-b', 'MRN-2'), about(3, 'nurse-a', 'MRN-3')], '2026-03-03T10:05:00.000Z');
      const tokens = (db.prepare('SELECT patient_token FROM alert_patients').all() as { patient_token: string }[]).map((r) => r.patient_token);
      expect(tokens.sort()).toEqual(['MRN-1', 'MRN-2', 'MRN-3'].map(indexing.patientToken).sort());
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
