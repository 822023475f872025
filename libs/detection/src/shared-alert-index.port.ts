/**
 * SHARED_ALERT_INDEX: where alerts live in a cluster every instance shares (STORE=elasticsearch),
 * the index that console counts and charts aggregate over without reading documents; null where
 * alerts are in the data dir's database. Bound by the infrastructure module (libs/infrastructure).
 */
import type { Client } from '@elastic/elasticsearch';

export const SHARED_ALERT_INDEX = Symbol('SHARED_ALERT_INDEX');

export interface SharedAlertIndex {
  client: Client;
  index: string;
}
