/**
 * The columns (and Elasticsearch fields) a store derives from a hashed record for its indexes and
 * filters: how they are derived (the ONE derivation appends use), and the check verification makes
 * that each stored value still equals what its record gives. The chain hash covers the record, not
 * these copies: without the check, a tamperer who changes `actor_id` hides an access from
 * "who opened this record?" while every hash still matches.
 */
import type { AccessEvent } from '@app/core';
import type { ChainRow } from '@app/ledger';

/** Stored copies of record fields, under their column names (hot and warm tier; ES fields map onto them). */
export interface DerivedColumns {
  id: string;
  occurred_ms: number;
  category: string;
  action: string;
  outcome: string;
  actor_id: string;
  /** The patient's keyed-HMAC token (rows written before field encryption: the id itself), or null. */
  patient_id: string | null;
}

/** Column names in the order they are checked (the first one that differs is reported). */
export const DERIVED_COLUMN_NAMES: readonly (keyof DerivedColumns)[] = ['id', 'occurred_ms', 'category', 'action', 'outcome', 'actor_id', 'patient_id'];

/** What the columns of a record are when it is stored. */
export function deriveColumns(event: AccessEvent, patientToken: (patientId: string) => string): DerivedColumns {
  return {
    id: event.id,
    occurred_ms: Date.parse(event.occurredAt),
    category: event.category,
    action: event.action,
    outcome: event.outcome,
    actor_id: event.actor.id,
    patient_id: event.patient ? patientToken(event.patient.id) : null,
  };
}

/** Keyed-HMAC tokens of the patients seen, so a chain's repeated patients cost one HMAC each. */
export class PatientTokenCache {
  private readonly tokens = new Map<string, string>();

  constructor(
    private readonly patientToken: (patientId: string) => string,
    private readonly max = 100_000,
  ) {}

  token(patientId: string): string {
    let t = this.tokens.get(patientId);
    if (t === undefined) {
      t = this.patientToken(patientId);
      if (this.tokens.size >= this.max) this.tokens.clear();
      this.tokens.set(patientId, t);
    }
    return t;
  }
}

/**
 * The first stored column that differs from what the record (its canonical JSON, exactly what the
 * chain hash covers) gives, or null when all match. `legacyPatientIds`: the row may predate field
 * encryption (no sealed blob), when `patient_id` held the id itself.
 */
export function derivedColumnMismatch(
  eventJson: string,
  stored: DerivedColumns,
  tokens: PatientTokenCache,
  legacyPatientIds = false,
): keyof DerivedColumns | null {
  let event: AccessEvent;
  try {
    event = JSON.parse(eventJson) as AccessEvent;
  } catch {
    return null; // not a record at all: its hash cannot match either, verification names that
  }
  return mismatchOf(event, stored, tokens, legacyPatientIds);
}

export function mismatchOf(event: AccessEvent, stored: DerivedColumns, tokens: PatientTokenCache, legacyPatientIds = false): keyof DerivedColumns | null {
  if (stored.id !== event?.id) return 'id';
  if (stored.occurred_ms !== Date.parse(event.occurredAt)) return 'occurred_ms';
  if (stored.category !== event.category) return 'category';
  if (stored.action !== event.action) return 'action';
  if (stored.outcome !== event.outcome) return 'outcome';
  if (stored.actor_id !== event.actor?.id) return 'actor_id';
  return patientMismatch(event.patient?.id, stored.patient_id, tokens, legacyPatientIds) ? 'patient_id' : null;
}

/** Whether a stored patient column differs from what the record's patient id gives. */
export function patientMismatch(patientId: string | undefined, stored: string | null, tokens: PatientTokenCache, legacyPatientIds = false): boolean {
  if (patientId === undefined) return stored !== null;
  if (stored === null) return true;
  if (legacyPatientIds && stored === patientId) return false;
  return stored !== tokens.token(patientId);
}

/**
 * An answer that cannot be trusted because the store's integrity is broken: a break is known (the
 * continuous verification found it), or a record the answer would include fails its re-check.
 * Names chain, seq, kind and column only: never record content. The API answers it as a problem
 * naming integrity as broken (docs/operations.md "Queries re-check what they return").
 */
export class IntegrityBrokenError extends Error {
  constructor(
    readonly chain: string,
    readonly seq: number,
    readonly kind: string,
    readonly column?: string,
  ) {
    super(`integrity break: chain ${chain} seq ${seq} kind ${kind}${column ? ` column ${column}` : ''}`);
    this.name = 'IntegrityBrokenError';
  }
}

/**
 * A record a query was about to return whose stored derived column (or Elasticsearch field)
 * differs from its hashed record: the index that selected it was tampered with.
 */
export class DerivedColumnMismatchError extends IntegrityBrokenError {
  constructor(chain: string, seq: number, column: string) {
    super(chain, seq, 'modified', column);
    this.name = 'DerivedColumnMismatchError';
  }
}

/** Marks a chain row whose stored columns differ from its record (ChainRow.columnMismatch). */
export function withColumnCheck(row: ChainRow, stored: DerivedColumns, tokens: PatientTokenCache, legacyPatientIds = false): ChainRow {
  const column = derivedColumnMismatch(row.eventJson, stored, tokens, legacyPatientIds);
  if (column !== null) row.columnMismatch = column;
  return row;
}
