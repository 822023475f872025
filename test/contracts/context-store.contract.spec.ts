/** The ContextStore contract on every adapter: embedded SQLite, Elasticsearch (on EsFake), and the in-memory fake. */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SqliteContextStore } from '@app/context/sqlite-context-store';
import { EsContextStore } from '@app/context/es-context-store';
import { embeddedFieldProtection } from '@app/security';
import { SealedText } from '@app/storage';
import { EsFake } from '@app/storage/elasticsearch/es-fake';
import { InMemoryContextStore } from '../fakes/in-memory-context-store';
import { describeContextStoreContract } from './context-store.contract';

describeContextStoreContract('SQLite', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'context-contract-'));
  const sealer = new SealedText(embeddedFieldProtection({ dataDir: dir }).dataKeys);
  const dbs = [new Database(path.join(dir, 'audit.db'))];
  return {
    store: new SqliteContextStore(dbs[0], sealer),
    other: () => {
      dbs.push(new Database(path.join(dir, 'audit.db')));
      return new SqliteContextStore(dbs[dbs.length - 1], sealer);
    },
    close: async () => {
      for (const db of dbs) db.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});

describeContextStoreContract('Elasticsearch', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'context-contract-es-'));
  const sealer = new SealedText(embeddedFieldProtection({ dataDir: dir }).dataKeys);
  const fake = new EsFake();
  const open = () => new EsContextStore(fake.client(), { index: 'audit-context', sealer, sleep: async () => undefined });
  return { store: open(), other: open, close: async () => fs.rmSync(dir, { recursive: true, force: true }) };
});

describeContextStoreContract('in-memory fake', async () => {
  const store = new InMemoryContextStore();
  return { store, other: () => new InMemoryContextStore(store.versions), close: async () => undefined };
});
