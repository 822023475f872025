/** The EventStore contract on every adapter: embedded SQLite, Elasticsearch (on EsFake), and the in-memory fake. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { embeddedFieldProtection } from '@app/security';
import { EventStore, openDatabase, SqliteEventStore, TieredSqliteEventStore } from '@app/storage';
import { EsFake } from '@app/storage/elasticsearch/es-fake';
import { InMemoryEventStore } from '../fakes/in-memory-event-store';
import { describeEventStoreContract } from './event-store.contract';
import { startedEsEventStore } from './es-harness';

/** Closes every store once, then removes the directory. */
function closer(stores: EventStore[], dir?: string) {
  return async () => {
    for (const s of stores) await s.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  };
}

describeEventStoreContract('SQLite', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'event-contract-'));
  const protection = embeddedFieldProtection({ dataDir: dir });
  const store = new SqliteEventStore(openDatabase(dir), protection);
  const stores: EventStore[] = [store];
  return {
    store,
    other: async () => {
      const second = new SqliteEventStore(openDatabase(dir), protection);
      stores.push(second);
      return second;
    },
    patientToken: (id) => protection.patientToken(id),
    close: closer(stores, dir),
  };
});

// What the service and the CLI open: hot and warm tiers read as one (an empty warm tier here).
describeEventStoreContract('SQLite, tiered', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'event-contract-tiered-'));
  const protection = embeddedFieldProtection({ dataDir: dir });
  const store = new TieredSqliteEventStore(openDatabase(dir), protection);
  const stores: EventStore[] = [store];
  return {
    store,
    other: async () => {
      const second = new TieredSqliteEventStore(openDatabase(dir), protection);
      stores.push(second);
      return second;
    },
    patientToken: (id) => protection.patientToken(id),
    close: closer(stores, dir),
  };
});

describeEventStoreContract('Elasticsearch', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'event-contract-es-'));
  const protection = embeddedFieldProtection({ dataDir: dir });
  const fake = new EsFake();
  const store = await startedEsEventStore(fake, { protection });
  const stores: EventStore[] = [store];
  return {
    store,
    other: async () => {
      const second = await startedEsEventStore(fake, { protection });
      stores.push(second);
      return second;
    },
    patientToken: (id) => protection.patientToken(id),
    close: closer(stores, dir),
  };
});

describeEventStoreContract('in-memory fake', async () => {
  const store = new InMemoryEventStore();
  return { store, other: async () => new InMemoryEventStore(store.state), patientToken: (id) => `ptk_${id}`, close: closer([store]) };
});
