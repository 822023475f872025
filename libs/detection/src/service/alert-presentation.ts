/**
 * Minimum necessary in alert views: the patient identifiers an alert carries (its `patient`, the
 * evidence summary's most-touched patients, a `patient.id` group value) shown through the caller's presenter, i.e. PatientIdentifiers.presentPatientId: real ids for
 * principals with `events:identified`, keyed-HMAC tokens for everyone else. Applied before the
 * runbook is rendered, so the runbook shows the same form. Pure: the stored alert is not changed.
 */
import type { AlertRecord } from '../alert-lifecycle';

/** Maps a patient id to what the caller may see (its token or itself). */
export type PatientIdPresenter = (patientId: string) => string;

const PATIENT_FIELD = 'patient.id';

export function presentAlertPatients<T extends AlertRecord>(alert: T, present: PatientIdPresenter | undefined): T {
  if (!present) return alert;
  const out: T = { ...alert };
  if (alert.summary?.topPatients?.length) {
    out.summary = { ...alert.summary, topPatients: alert.summary.topPatients.map((p) => ({ ...p, patientId: present(p.patientId) })) };
  }
  if (typeof alert.patient === 'string') out.patient = present(alert.patient);
  const grouped = alert.groupKey?.[PATIENT_FIELD];
  if (typeof grouped === 'string') out.groupKey = { ...alert.groupKey, [PATIENT_FIELD]: present(grouped) };
  return out;
}
