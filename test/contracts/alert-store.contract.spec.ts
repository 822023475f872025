/** The AlertStore contract on every adapter: embedded SQLite, Elasticsearch (on EsFake), and the in-memory fake. */
import Database from 'better-sqlite3';
import { createHmac, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SqliteAlertStore } from '@app/detection/service/sqlite-alert-store';
import { ElasticsearchAlertStore } from '@app/detection/service/es-alert-store';
import { embeddedFieldProtection } from '@app/security';
import { SealedText } from '@app/storage';
import { EsFake } from '@app/storage/elasticsearch/es-fake';
import { InMemoryAlertStore } from '../fakes/in-memory-alert-store';
import { describeAlertStoreContract } from './alert-store.contract';

function keyed() {
  const tokenKey = randomBytes(32);
  return { patientToken: (id: string) => `ptk_${createHmac('sha256', tokenKey).update(id).digest('hex').slice(0, 24)}` };
}

describeAlertStoreContract('SQLite', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alert-contract-'));
  const sealer = new SealedText(embeddedFieldProtection({ dataDir: dir }).dataKeys);
  const indexing = keyed();
  const dbs = [new Database(path.join(dir, 'audit.db'))];
  return {
    store: new SqliteAlertStore(dbs[0], sealer, indexing),
    other: () => {
      dbs.push(new Database(path.join(dir, 'audit.db')));
      return new SqliteAlertStore(dbs[dbs.length - 1], sealer, indexing);
    },
    patientToken: indexing.patientToken,
    close: async () => {
      for (const db of dbs) db.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});

describeAlertStoreContract('Elasticsearch', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alert-contract-es-'));
  const sealer = new SealedText(embeddedFieldProtection({ dataDir: dir }).dataKeys);
  const indexing = keyed();
  const fake = new EsFake();
  const open = () => new ElasticsearchAlertStore(fake.client(), 'audit-alerts', sealer, { sleep: async () => undefined }, indexing);
  return { store: open(), other: open, patientToken: indexing.patientToken, close: async () => fs.rmSync(dir, { recursive: true, force: true }) };
});

describeAlertStoreContract('in-memory fake', async () => {
  const indexing = keyed();
  const store = new InMemoryAlertStore(new Map(), indexing);
  return { store, other: () => new InMemoryAlertStore(store.alerts, indexing), patientToken: indexing.patientToken, close: async () => undefined };
});
