/** The DeliveryOutboxPort contract on every outbox: embedded SQLite, Elasticsearch (on EsFake), and the in-memory fake. */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeliveryOutbox } from '@app/detection/delivery/delivery-outbox';
import { ElasticsearchDeliveryOutbox } from '@app/detection/delivery/es-delivery-outbox';
import { ElasticsearchAlertStore } from '@app/detection/service/es-alert-store';
import { SqliteAlertStore } from '@app/detection/service/sqlite-alert-store';
import { embeddedFieldProtection } from '@app/security';
import { SealedText } from '@app/storage';
import { EsFake } from '@app/storage/elasticsearch/es-fake';
import { EsRequests } from '@app/storage/elasticsearch/es-requests';
import { InMemoryAlertStore } from '../fakes/in-memory-alert-store';
import { InMemoryDeliveryOutbox } from '../fakes/in-memory-delivery-outbox';
import { describeDeliveryOutboxContract } from './delivery-outbox.contract';

describeDeliveryOutboxContract('SQLite', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-contract-'));
  const db = new Database(path.join(dir, 'audit.db'));
  const alerts = new SqliteAlertStore(db, new SealedText(embeddedFieldProtection({ dataDir: dir }).dataKeys));
  const outbox = new DeliveryOutbox(db, true);
  return {
    outbox,
    raise: async (list, createdAt) => void (await alerts.saveAll(list, createdAt)),
    close: async () => {
      db.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});

describeDeliveryOutboxContract('Elasticsearch', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-contract-es-'));
  const sealer = new SealedText(embeddedFieldProtection({ dataDir: dir }).dataKeys);
  const fake = new EsFake();
  const alerts = new ElasticsearchAlertStore(fake.client(), 'audit-alerts', sealer, { sleep: async () => undefined }, undefined, 'audit-alert-delivery-queue');
  const outbox = new ElasticsearchDeliveryOutbox(new EsRequests(fake.client(), { sleep: async () => undefined }), {
    alertsIndex: 'audit-alerts',
    queueIndex: 'audit-alert-delivery-queue',
    deliveriesIndex: 'audit-alert-deliveries',
    holder: 'instance-a',
    claimMs: 30_000,
    countsMaxAgeMs: 0,
  });
  return {
    outbox,
    raise: async (list, createdAt) => void (await alerts.saveAll(list, createdAt)),
    close: async () => fs.rmSync(dir, { recursive: true, force: true }),
  };
});

describeDeliveryOutboxContract('in-memory fake', async () => {
  const alerts = new InMemoryAlertStore();
  const outbox = new InMemoryDeliveryOutbox();
  return {
    outbox,
    raise: async (list, createdAt) => {
      for (const r of await alerts.saveAll(list, createdAt)) if (r.created) outbox.queue(JSON.stringify(r.record));
    },
    close: async () => undefined,
  };
});
