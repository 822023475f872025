/** The CheckpointStore contract on every adapter: embedded SQLite, Elasticsearch (on EsFake), and the in-memory fake. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openDatabase, SqliteCheckpointStore } from '@app/storage';
import { ElasticsearchCheckpointStore } from '@app/storage/elasticsearch/es-checkpoint-store';
import { EsFake } from '@app/storage/elasticsearch/es-fake';
import { InMemoryCheckpointStore } from '../fakes/in-memory-checkpoint-store';
import { describeCheckpointStoreContract } from './checkpoint-store.contract';
import { startedEsEventStore } from './es-harness';

describeCheckpointStoreContract('SQLite', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cp-contract-'));
  const db = openDatabase(dir);
  const others: ReturnType<typeof openDatabase>[] = [];
  return {
    store: new SqliteCheckpointStore(db),
    other: () => {
      const second = openDatabase(dir);
      others.push(second);
      return new SqliteCheckpointStore(second);
    },
    close: async () => {
      for (const o of others) o.close();
      db.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});

describeCheckpointStoreContract('Elasticsearch', async () => {
  const fake = new EsFake();
  await startedEsEventStore(fake);
  const indices = { checkpointsIndex: 'audit-checkpoints', blocksIndex: 'audit-merkle-blocks', purgedIndex: 'audit-purged-prefixes' };
  const open = () => new ElasticsearchCheckpointStore(fake.client(), indices, { sleep: async () => undefined });
  return { store: open(), other: open, close: async () => undefined };
});

describeCheckpointStoreContract('in-memory fake', async () => {
  const store = new InMemoryCheckpointStore();
  return { store, other: () => new InMemoryCheckpointStore(store.state), close: async () => undefined };
});
