/**
 * Rule overrides in the service's SQLite database: rules switched off, exceptions, and the audit
 * trail of every change (append-only: a trigger refuses updates and deletes). The current state is
 * kept in memory, so detection checks it per alert without a query; writes go through
 * writeWhenFree so a busy writer thread never blocks the event loop.
 */
import { randomUUID } from 'node:crypto';
import { SqliteDb, writeWhenFree } from '@app/storage';
import { RuleException, RuleOverrideAction, RuleOverrideChange, RuleOverrideState } from '../rule-overrides';
import type { RuleOverrideStore } from '../rule-override-store.port';

export const RULE_OVERRIDE_SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS rule_disabled (
  rule_id     TEXT PRIMARY KEY,
  by_whom     TEXT NOT NULL,
  at          TEXT NOT NULL,
  note        TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rule_exceptions (
  id          TEXT PRIMARY KEY,
  rule_id     TEXT NOT NULL,
  field       TEXT NOT NULL,
  value       TEXT NOT NULL,
  reason      TEXT NOT NULL,
  created_by  TEXT NOT NULL,
  created_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rule_override_log (
  n           INTEGER PRIMARY KEY AUTOINCREMENT,
  at          TEXT NOT NULL,
  by_whom     TEXT NOT NULL,
  rule_id     TEXT NOT NULL,
  action      TEXT NOT NULL,
  detail      TEXT NOT NULL,
  note        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS rule_override_log_by_rule ON rule_override_log (rule_id, n);
CREATE TRIGGER IF NOT EXISTS rule_override_log_is_append_only_u BEFORE UPDATE ON rule_override_log
BEGIN SELECT RAISE(ABORT, 'the rule override log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS rule_override_log_is_append_only_d BEFORE DELETE ON rule_override_log
BEGIN SELECT RAISE(ABORT, 'the rule override log is append-only'); END;
`;

interface ExceptionRow {
  id: string;
  rule_id: string;
  field: string;
  value: string;
  reason: string;
  created_by: string;
  created_at: string;
}

const toException = (r: ExceptionRow): RuleException => ({ id: r.id, ruleId: r.rule_id, field: r.field, value: r.value, reason: r.reason, createdBy: r.created_by, createdAt: r.created_at });

export class SqliteRuleOverrideStore implements RuleOverrideStore {
  private current: RuleOverrideState;

  constructor(
    private readonly db: SqliteDb,
    private readonly now: () => Date = () => new Date(),
  ) {
    db.exec(RULE_OVERRIDE_SCHEMA_SQL);
    this.current = this.load();
  }

  state(): RuleOverrideState {
    return this.current;
  }

  async setEnabled(ruleId: string, enabled: boolean, by: string, note: string): Promise<boolean> {
    const at = this.now().toISOString();
    const changed = await writeWhenFree(this.db, () =>
      this.db.transaction(() => {
        const has = this.db.prepare('SELECT 1 FROM rule_disabled WHERE rule_id = ?').get(ruleId) !== undefined;
        if (has !== enabled) return false; // already in that state
        if (enabled) this.db.prepare('DELETE FROM rule_disabled WHERE rule_id = ?').run(ruleId);
        else this.db.prepare('INSERT INTO rule_disabled (rule_id, by_whom, at, note) VALUES (?, ?, ?, ?)').run(ruleId, by, at, note);
        this.log(at, by, ruleId, enabled ? 'enable' : 'disable', enabled ? 'rule switched on' : 'rule switched off', note);
        return true;
      })(),
    );
    this.current = this.load();
    return changed;
  }

  async addException(e: Omit<RuleException, 'id' | 'createdAt'>): Promise<RuleException> {
    const full: RuleException = { ...e, id: randomUUID(), createdAt: this.now().toISOString() };
    await writeWhenFree(this.db, () =>
      this.db.transaction(() => {
        this.db
          .prepare('INSERT INTO rule_exceptions (id, rule_id, field, value, reason, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
          .run(full.id, full.ruleId, full.field, full.value, full.reason, full.createdBy, full.createdAt);
        this.log(full.createdAt, full.createdBy, full.ruleId, 'add-exception', `${full.field} = ${full.value}`, full.reason);
      })(),
    );
    this.current = this.load();
    return full;
  }

  async removeException(id: string, by: string, note: string): Promise<RuleException | null> {
    const at = this.now().toISOString();
    const removed = await writeWhenFree(this.db, () =>
      this.db.transaction(() => {
        const row = this.db.prepare('SELECT * FROM rule_exceptions WHERE id = ?').get(id) as ExceptionRow | undefined;
        if (!row) return null;
        this.db.prepare('DELETE FROM rule_exceptions WHERE id = ?').run(id);
        this.log(at, by, row.rule_id, 'remove-exception', `${row.field} = ${row.value}`, note);
        return toException(row);
      })(),
    );
    this.current = this.load();
    return removed;
  }

  history(limit: number, ruleId?: string): RuleOverrideChange[] {
    const rows = (
      ruleId
        ? this.db.prepare('SELECT * FROM rule_override_log WHERE rule_id = ? ORDER BY n DESC LIMIT ?').all(ruleId, limit)
        : this.db.prepare('SELECT * FROM rule_override_log ORDER BY n DESC LIMIT ?').all(limit)
    ) as { at: string; by_whom: string; rule_id: string; action: RuleOverrideAction; detail: string; note: string }[];
    return rows.map((r) => ({ at: r.at, by: r.by_whom, ruleId: r.rule_id, action: r.action, detail: r.detail, note: r.note }));
  }

  private log(at: string, by: string, ruleId: string, action: RuleOverrideAction, detail: string, note: string): void {
    this.db.prepare('INSERT INTO rule_override_log (at, by_whom, rule_id, action, detail, note) VALUES (?, ?, ?, ?, ?, ?)').run(at, by, ruleId, action, detail, note);
  }

  private load(): RuleOverrideState {
    const disabled = new Map<string, { by: string; at: string; note: string }>();
    for (const r of this.db.prepare('SELECT rule_id, by_whom, at, note FROM rule_disabled').all() as { rule_id: string; by_whom: string; at: string; note: string }[]) {
      disabled.set(r.rule_id, { by: r.by_whom, at: r.at, note: r.note });
    }
    const exceptions = (this.db.prepare('SELECT * FROM rule_exceptions ORDER BY created_at, id').all() as ExceptionRow[]).map(toException);
    return { disabled, exceptions };
  }
}
