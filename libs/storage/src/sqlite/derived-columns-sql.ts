/**
 * The derived-column check of the embedded store in SQL (see ../derived-columns.ts): the columns
 * SQLite can compare with the stored event text itself (JSON functions in C, one parse per row),
 * leaving occurred_ms (a date parse) and the patient token (a keyed HMAC of a sealed value) to the
 * reader. The stored text is exactly the hashed record with the sealed values emptied, so every
 * compared field is covered by the chain hash.
 */

/** Derived columns as selected for the JS check (DerivedColumns). */
export const DERIVED_COLUMNS_SQL = 'id, occurred_ms, category, action, outcome, actor_id, patient_id';

/**
 * Four columns: the first column that differs from the stored text ('' when none; NULL when the
 * text is not JSON), the record's occurredAt, the stored occurred_ms, and patient_id.
 */
export const DERIVED_CHECK_SQL = `CASE WHEN NOT json_valid(event) THEN NULL
    WHEN json_extract(event, '$.id') IS NOT id THEN 'id'
    WHEN json_extract(event, '$.category') IS NOT category THEN 'category'
    WHEN json_extract(event, '$.action') IS NOT action THEN 'action'
    WHEN json_extract(event, '$.outcome') IS NOT outcome THEN 'outcome'
    WHEN json_extract(event, '$.actor.id') IS NOT actor_id THEN 'actor_id'
    WHEN (json_type(event, '$.patient.id') IS NULL) <> (patient_id IS NULL) THEN 'patient_id'
    ELSE '' END,
  CASE WHEN json_valid(event) THEN json_extract(event, '$.occurredAt') END, occurred_ms, patient_id`;

/** Where field encryption cuts the patient id out of the canonical text (sealed-fields.ts). */
export const PATIENT_ID_MARK = '"patient":{"id":"';

/** The JSON string content starting at `at` of a text, unescaped; undefined if it does not end. */
export function patientIdAt(text: string, at: number): string | undefined {
  for (let i = at; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 92) i++;
    else if (c === 34) {
      const content = text.slice(at, i);
      return content.includes('\\') ? (JSON.parse(`"${content}"`) as string) : content;
    }
  }
  return undefined;
}
