/**
 * What admins do to rules (API `POST /v1/rules/{id}/disable|enable`, `.../exceptions`, and the
 * console's rules page): checks the rule, the body and the exception field, records the change with
 * who and why in the override store's audit trail, and shows each rule with its effective state.
 * Bad input is a 400 naming the field by JSON pointer, without echoing what was sent.
 */
import { Inject, Injectable } from '@nestjs/common';
import { FieldError, Problems, unknownMemberErrors } from '@app/core';
import { RuleException, RuleOverrideChange } from '../rule-overrides';
import { RULE_OVERRIDE_STORE, RuleOverrideStore } from '../rule-override-store.port';
import { DETECTION_RUNTIME, DetectionRuntime } from './detection-runtime';

export interface RuleAdminView {
  id: string;
  title: string;
  severity: string;
  kind: string;
  /** Switched on in its rule file. */
  enabledInFile: boolean;
  /** Raises alerts: on in its file and not switched off by an admin. */
  enabled: boolean;
  disabled: { by: string; at: string; note: string } | null;
  exceptions: RuleException[];
  /** groupBy fields an exception can name (patient fields never). */
  exceptionFields: string[];
}

const NOTE_MAX = 500;
const VALUE_MAX = 200;
const RULE_ID = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function bodyObject(body: unknown, allowed: readonly string[], errors: FieldError[]): Record<string, unknown> {
  if (body === undefined || body === null || body === '') return {};
  if (typeof body !== 'object' || Array.isArray(body)) {
    errors.push({ pointer: '', message: 'the body must be a JSON object' });
    return {};
  }
  const b = body as Record<string, unknown>;
  errors.push(...unknownMemberErrors(Object.keys(b), allowed, ''));
  return b;
}

function text(b: Record<string, unknown>, key: string, max: number, errors: FieldError[], required = true): string {
  const v = b[key];
  if (v === undefined || v === '') {
    if (required) errors.push({ pointer: `/${key}`, message: 'is required' });
    return '';
  }
  if (typeof v !== 'string' || v.trim().length === 0 || v.length > max) {
    errors.push({ pointer: `/${key}`, message: `must be a non-empty string of at most ${max} characters` });
    return '';
  }
  return v.trim();
}

@Injectable()
export class RuleOverridesService {
  constructor(
    @Inject(DETECTION_RUNTIME) private readonly runtime: DetectionRuntime,
    @Inject(RULE_OVERRIDE_STORE) private readonly store: RuleOverrideStore,
  ) {}

  rules(): RuleAdminView[] {
    const state = this.store.state();
    return this.runtime.rules.map((r) => {
      const disabled = state.disabled.get(r.id) ?? null;
      return {
        id: r.id,
        title: r.title,
        severity: r.severity,
        kind: r.kind,
        enabledInFile: r.enabled !== false,
        enabled: r.enabled !== false && !disabled,
        disabled,
        exceptions: state.exceptions.filter((e) => e.ruleId === r.id),
        exceptionFields: this.exceptionFields(r.id),
      };
    });
  }

  history(limit = 100, ruleId?: string): RuleOverrideChange[] {
    return this.store.history(Math.max(1, Math.min(1000, limit)), ruleId);
  }

  async setEnabled(ruleId: string, enabled: boolean, by: string, body: unknown): Promise<RuleAdminView> {
    this.rule(ruleId);
    const errors: FieldError[] = [];
    const note = text(bodyObject(body, ['note'], errors), 'note', NOTE_MAX, errors, !enabled);
    if (errors.length) throw Problems.validation(errors, 'The request body is invalid.');
    await this.store.setEnabled(ruleId, enabled, by, note);
    return this.rules().find((r) => r.id === ruleId)!;
  }

  async addException(ruleId: string, by: string, body: unknown): Promise<RuleException> {
    this.rule(ruleId);
    const errors: FieldError[] = [];
    const b = bodyObject(body, ['field', 'value', 'reason'], errors);
    const field = text(b, 'field', 100, errors);
    const value = text(b, 'value', VALUE_MAX, errors);
    const reason = text(b, 'reason', NOTE_MAX, errors);
    const fields = this.exceptionFields(ruleId);
    if (field && !fields.includes(field)) {
      errors.push({ pointer: '/field', message: fields.length ? `must be one of this rule's groupBy fields: ${fields.join(', ')}` : 'this rule groups by no field an exception can name' });
    }
    if (errors.length) throw Problems.validation(errors, 'The request body is invalid.');
    return this.store.addException({ ruleId, field, value, reason, createdBy: by });
  }

  async removeException(ruleId: string, exceptionId: string, by: string, body: unknown): Promise<RuleException> {
    this.rule(ruleId);
    if (!UUID.test(exceptionId)) throw Problems.validation([{ pointer: '/path/exceptionId', message: 'must be a UUID' }]);
    const errors: FieldError[] = [];
    const note = text(bodyObject(body, ['note'], errors), 'note', NOTE_MAX, errors);
    if (errors.length) throw Problems.validation(errors, 'The request body is invalid.');
    const current = this.store.state().exceptions.find((e) => e.id === exceptionId && e.ruleId === ruleId);
    if (!current) throw Problems.notFound('No such exception on this rule.');
    const removed = await this.store.removeException(exceptionId, by, note);
    if (!removed) throw Problems.notFound('No such exception on this rule.');
    return removed;
  }

  private rule(ruleId: string) {
    if (!RULE_ID.test(ruleId) || ruleId.length > 100) throw Problems.validation([{ pointer: '/path/id', message: 'must be a rule id (kebab-case)' }]);
    const rule = this.runtime.rulesById.get(ruleId);
    if (!rule) throw Problems.notFound('No rule with this id is loaded.');
    return rule;
  }

  private exceptionFields(ruleId: string): string[] {
    const rule = this.runtime.rulesById.get(ruleId);
    return (rule?.groupBy ?? []).filter((f) => !f.startsWith('patient'));
  }
}
