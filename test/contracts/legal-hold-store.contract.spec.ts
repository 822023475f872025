/** The LegalHoldStore contract on every adapter: embedded SQLite, Elasticsearch (on EsFake), and the in-memory fake. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { holdPatientProtection, SqliteLegalHoldStore } from '@app/retention';
import { EsLegalHoldStore } from '@app/retention/es-legal-hold-store';
import { embeddedFieldProtection } from '@app/security';
import { openDatabase, SqliteDb } from '@app/storage';
import { EsFake } from '@app/storage/elasticsearch/es-fake';
import { InMemoryLegalHoldStore } from '../fakes/in-memory-legal-hold-store';
import { describeLegalHoldStoreContract } from './legal-hold-store.contract';

describeLegalHoldStoreContract('SQLite', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hold-contract-'));
  const patientIds = holdPatientProtection(embeddedFieldProtection({ dataDir: dir }));
  const dbs: SqliteDb[] = [openDatabase(dir)];
  return {
    store: new SqliteLegalHoldStore(dbs[0], { patientIds }),
    other: () => {
      dbs.push(openDatabase(dir));
      return new SqliteLegalHoldStore(dbs[dbs.length - 1], { patientIds });
    },
    close: async () => {
      for (const db of dbs) db.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});

describeLegalHoldStoreContract('Elasticsearch', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hold-contract-es-'));
  const patientIds = holdPatientProtection(embeddedFieldProtection({ dataDir: dir }));
  const fake = new EsFake();
  const open = () => new EsLegalHoldStore(fake.client(), { index: 'audit-legal-holds', patientIds, sleep: async () => undefined });
  return { store: open(), other: open, close: async () => fs.rmSync(dir, { recursive: true, force: true }) };
});

describeLegalHoldStoreContract('in-memory fake', async () => {
  const store = new InMemoryLegalHoldStore();
  return { store, other: () => new InMemoryLegalHoldStore(store.holds), close: async () => undefined };
});
