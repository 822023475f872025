/** The RevocationStore contract on every adapter: embedded SQLite, Elasticsearch (on EsFake), and the in-memory fake. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openDatabase, SqliteDb, SqliteRevocationStore } from '@app/storage';
import { ElasticsearchRevocationStore, revocationIndices } from '@app/storage/elasticsearch/es-revocation-store';
import { EsFake } from '@app/storage/elasticsearch/es-fake';
import { InMemoryRevocationStore } from '../fakes/in-memory-revocation-store';
import { describeRevocationStoreContract } from './revocation-store.contract';

describeRevocationStoreContract('SQLite', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'revocation-contract-'));
  const dbs: SqliteDb[] = [openDatabase(dir)];
  return {
    store: new SqliteRevocationStore(dbs[0]),
    other: () => {
      dbs.push(openDatabase(dir));
      return new SqliteRevocationStore(dbs[dbs.length - 1]);
    },
    close: async () => {
      for (const db of dbs) db.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});

describeRevocationStoreContract('Elasticsearch', async () => {
  const fake = new EsFake();
  const open = () => new ElasticsearchRevocationStore(fake.client(), revocationIndices('audit'), { sleep: async () => undefined });
  return { store: open(), other: open, close: async () => undefined };
});

describeRevocationStoreContract('in-memory fake', async () => {
  const store = new InMemoryRevocationStore();
  return { store, other: () => new InMemoryRevocationStore(store.state), close: async () => undefined };
});
