/** The ConsoleAccounts contract on every adapter: embedded SQLite, Elasticsearch (on EsFake), and the in-memory fake. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConsoleStore } from '@app/console';
import { ElasticsearchConsoleStore } from '@app/console/es-console-store';
import { openDatabase, SqliteDb } from '@app/storage';
import { EsFake } from '@app/storage/elasticsearch/es-fake';
import { EsRequests } from '@app/storage/elasticsearch/es-requests';
import { InMemoryConsoleAccounts } from '../fakes/in-memory-console-accounts';
import { describeConsoleAccountsContract } from './console-accounts.contract';
import { startedEsEventStore } from './es-harness';

describeConsoleAccountsContract('SQLite', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'console-contract-'));
  const dbs: SqliteDb[] = [openDatabase(dir)];
  return {
    store: new ConsoleStore(dbs[0]),
    other: () => {
      dbs.push(openDatabase(dir));
      return new ConsoleStore(dbs[dbs.length - 1]);
    },
    close: async () => {
      for (const db of dbs) db.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});

describeConsoleAccountsContract('Elasticsearch', async () => {
  const fake = new EsFake();
  const events = await startedEsEventStore(fake); // declares the console index with its mappings
  const open = () => new ElasticsearchConsoleStore(new EsRequests(fake.client(), { sleep: async () => undefined }), events.layout.consoleIndex);
  return { store: open(), other: open, close: () => events.close() };
});

describeConsoleAccountsContract('in-memory fake', async () => {
  const store = new InMemoryConsoleAccounts();
  return { store, other: () => new InMemoryConsoleAccounts(store.state), close: async () => undefined };
});
