/** The RuleOverrideStore contract on every adapter: embedded SQLite, Elasticsearch (on EsFake), and the in-memory fake. */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ElasticsearchRuleOverrideStore } from '@app/detection/service/es-rule-overrides';
import { SqliteRuleOverrideStore } from '@app/detection/service/sqlite-rule-overrides';
import { EsFake } from '@app/storage/elasticsearch/es-fake';
import { EsRequests } from '@app/storage/elasticsearch/es-requests';
import { InMemoryRuleOverrideStore } from '../fakes/in-memory-rule-override-store';
import { describeRuleOverrideStoreContract, tickingClock } from './rule-override-store.contract';

describeRuleOverrideStoreContract('SQLite', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'overrides-contract-'));
  const now = tickingClock();
  const dbs = [new Database(path.join(dir, 'audit.db'))];
  return {
    store: new SqliteRuleOverrideStore(dbs[0], now),
    reopen: async () => {
      dbs.push(new Database(path.join(dir, 'audit.db')));
      return new SqliteRuleOverrideStore(dbs[dbs.length - 1], now);
    },
    close: async () => {
      for (const db of dbs) db.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});

describeRuleOverrideStoreContract('Elasticsearch', async () => {
  const fake = new EsFake();
  const now = tickingClock();
  const open = async () => {
    const store = new ElasticsearchRuleOverrideStore(new EsRequests(fake.client(), { sleep: async () => undefined }), 'audit-rule-overrides', { now });
    await store.sync(); // what start() does before detection runs
    return store;
  };
  return { store: await open(), reopen: open, close: async () => undefined };
});

describeRuleOverrideStoreContract('in-memory fake', async () => {
  const now = tickingClock();
  const store = new InMemoryRuleOverrideStore(undefined, now);
  return { store, reopen: async () => new InMemoryRuleOverrideStore(store.kept, now), close: async () => undefined };
});
