/**
 * The RevocationStore a CLI command writes (`auditctl token revoke`, `auditctl certs issue|revoke`):
 * the data dir's database, or, with STORE=elasticsearch, the cluster's revocation indices (the store
 * of record every instance reads; no local file is opened).
 */
import type { AppConfig } from '@app/core';
import { RevocationStore, SqliteRevocationStore, openDatabase } from '@app/storage';

export async function openRevocationStore(config: AppConfig): Promise<{ store: RevocationStore; close: () => Promise<void> }> {
  const es = config.scaleOut?.store === 'elasticsearch' ? config.scaleOut.elasticsearch : undefined;
  if (es) {
    const { createElasticsearchClient, ElasticsearchRevocationStore, revocationIndices } = await import('@app/storage/scale-out-adapters');
    const client = createElasticsearchClient(es);
    return { store: new ElasticsearchRevocationStore(client, revocationIndices(es.indexPrefix)), close: () => client.close() };
  }
  const db = openDatabase(config.dataDir);
  return { store: new SqliteRevocationStore(db), close: async () => void db.close() };
}
