/**
 * The RevocationStore a CLI command writes (`auditctl token revoke`, `auditctl certs issue|revoke`):
 * the data dir's database, or, with STORE=elasticsearch, the cluster's revocation indices (the store
 * of record every instance reads; no local file is opened), as the service's infrastructure opens it.
 */
import type { AppConfig } from '@app/core';
import { infrastructureFor } from '@app/infrastructure';
import type { RevocationStore } from '@app/storage';

export function openRevocationStore(config: AppConfig): Promise<{ store: RevocationStore; close: () => Promise<void> }> {
  return infrastructureFor(config).openRevocations();
}
