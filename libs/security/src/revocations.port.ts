/**
 * REVOCATIONS: where the deployment keeps credential revocations, bound by the infrastructure module
 * (libs/infrastructure): the store, what the RevocationList reads, and (a store other instances
 * write too) the poller that reads it every REVOCATION_SYNC_MS. Absent: no revocations are checked.
 */
import type { RevocationStore } from '@app/storage';
import type { PolledRevocations } from './credential-revocations';
import type { RevocationSource } from './revocation-source.port';

export const REVOCATIONS = Symbol('REVOCATIONS');

export interface Revocations {
  store: RevocationStore;
  source: RevocationSource;
  polled: PolledRevocations | null;
}
