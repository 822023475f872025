/** Port: the shared alert store's side of the alert outbox: creates records that do not exist yet, leaves existing ones alone. */
import type { AlertRecord } from '../alert-lifecycle';

export interface AlertImporter {
  importRecords(records: readonly AlertRecord[]): Promise<void>;
}
