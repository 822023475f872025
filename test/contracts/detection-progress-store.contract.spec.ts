/** The DetectionProgressStore contract on every adapter: embedded SQLite, Elasticsearch (on EsFake), and the in-memory fake. */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ElasticsearchAlertStore } from '@app/detection/service/es-alert-store';
import { ElasticsearchDetectionProgressStore } from '@app/detection/service/es-detection-state';
import { SqliteAlertStore } from '@app/detection/service/sqlite-alert-store';
import { SqliteDetectionProgressStore } from '@app/detection/service/sqlite-detection-state';
import { embeddedFieldProtection } from '@app/security';
import { SealedText } from '@app/storage';
import { EsFake } from '@app/storage/elasticsearch/es-fake';
import { EsRequests } from '@app/storage/elasticsearch/es-requests';
import { InMemoryAlertStore } from '../fakes/in-memory-alert-store';
import { InMemoryDetectionProgressStore } from '../fakes/in-memory-detection-progress-store';
import { describeDetectionProgressStoreContract } from './detection-progress-store.contract';

describeDetectionProgressStoreContract('SQLite', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'progress-contract-'));
  const sealer = new SealedText(embeddedFieldProtection({ dataDir: dir }).dataKeys);
  const dbs: Database.Database[] = [];
  const openOne = () => {
    const db = new Database(path.join(dir, 'audit.db'));
    dbs.push(db);
    const alerts = new SqliteAlertStore(db, sealer);
    return { alerts, store: new SqliteDetectionProgressStore(db, alerts, 'engine', sealer) };
  };
  const first = openOne();
  return {
    store: first.store,
    restart: async () => openOne().store,
    alerts: first.alerts,
    close: async () => {
      for (const db of dbs) db.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});

describeDetectionProgressStoreContract('Elasticsearch', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'progress-contract-es-'));
  const sealer = new SealedText(embeddedFieldProtection({ dataDir: dir }).dataKeys);
  const fake = new EsFake();
  const alerts = new ElasticsearchAlertStore(fake.client(), 'audit-alerts', sealer, { sleep: async () => undefined });
  let instance = 0;
  const openOne = async () => {
    const store = new ElasticsearchDetectionProgressStore(new EsRequests(fake.client(), { sleep: async () => undefined }), 'audit-detection-state', alerts, sealer, `instance-${++instance}`);
    await store.prepare(); // what the wiring does once the instance holds the lease
    return store;
  };
  return { store: await openOne(), restart: openOne, alerts, close: async () => fs.rmSync(dir, { recursive: true, force: true }) };
});

describeDetectionProgressStoreContract('in-memory fake', async () => {
  const alerts = new InMemoryAlertStore();
  const store = new InMemoryDetectionProgressStore(alerts);
  return { store, restart: async () => new InMemoryDetectionProgressStore(alerts, store.kept), alerts, close: async () => undefined };
});
