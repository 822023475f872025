/** Port: where the RevocationList reads the revocations from, and a version that changes when they do (PolledRevocations, the RevocationStore). */
import type { Revocation } from '@app/storage';

export interface RevocationSource {
  list(): Revocation[];
  version(): number;
}
