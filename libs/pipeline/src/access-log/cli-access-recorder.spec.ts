/**
 * recordCliAccess on a real database shared with a running chain writer (two connections, as the
 * CLI and the service have): records from both interleave in one access chain that still links and
 * hashes, the writer recovers from the CLI having moved the head, and the record names the OS user.
 * On a store fenced per chain (Elasticsearch, no shared database) a lost race is chained again.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ACCESS_LOG_CHAIN } from '@app/core';
import { GENESIS_HASH, canonicalize, recordHash } from '@app/ledger';
import { embeddedFieldProtection } from '@app/security';
import { SqliteDb, SqliteEventStore, openDatabase } from '@app/storage';
import { ElasticsearchEventStore } from '@app/storage/scale-out-adapters';
import { EsFake } from '@app/storage/elasticsearch/es-fake';
import { ChainWriter } from '../chain-writer';
import { IntegrityService } from '../integrity.service';
import { buildAccessRecord } from './access-record';
import { cliPrincipal, recordCliAccess } from './cli-access-recorder';

describe('recordCliAccess', () => {
  let dir: string;
  let serviceDb: SqliteDb;
  let cliDb: SqliteDb;
  let service: SqliteEventStore;
  let cli: SqliteEventStore;
  let writer: ChainWriter;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-access-'));
    serviceDb = openDatabase(dir);
    cliDb = openDatabase(dir);
    service = new SqliteEventStore(serviceDb, embeddedFieldProtection({ dataDir: dir }));
    cli = new SqliteEventStore(cliDb, embeddedFieldProtection({ dataDir: dir }));
    writer = new ChainWriter(service, { maxGroupEvents: 64 });
    await writer.start();
  });

  afterAll(async () => {
    await writer.drain();
    await service.close();
    await cli.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const serviceRecord = (i: number) => {
    const event = buildAccessRecord({ action: 'events.query', principal: { sub: `svc-${i}`, role: 'soc_analyst', via: 'token' }, filters: { limit: i }, recordCount: i, outcome: 'success' });
    return [{ event, json: canonicalize(event), chain: ACCESS_LOG_CHAIN }];
  };

  it('interleaves with the service writer in one access chain that links and hashes, seq 0..n without gaps', async () => {
    const receipts: { seq: number; by: string }[] = [];
    for (let round = 0; round < 5; round++) {
      // The service writes (its cached head moves), then the CLI appends behind its back.
      for (const r of await writer.submit(serviceRecord(round))) receipts.push({ seq: r.seq, by: 'service' });
      const pending = writer.submit(serviceRecord(100 + round)); // queued while the CLI appends
      const mine = await recordCliAccess(cliDb, cli, { action: 'integrity.verify', filters: { chain: 'data_access' }, recordCount: round, outcome: 'success' });
      receipts.push({ seq: mine.seq, by: 'cli' });
      for (const r of await pending) receipts.push({ seq: r.seq, by: 'service' });
    }
    const seqs = receipts.map((r) => r.seq).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: 15 }, (_, i) => i));
    expect(receipts.filter((r) => r.by === 'cli')).toHaveLength(5);

    let prev = GENESIS_HASH;
    let expected = 0;
    for await (const page of cli.readChain(ACCESS_LOG_CHAIN, 0)) {
      for (const row of page) {
        expect(row.seq).toBe(expected++);
        expect(row.prevHash.equals(prev)).toBe(true);
        expect(recordHash(row.prevHash, ACCESS_LOG_CHAIN, row.seq, row.receivedAt, row.eventJson).equals(row.hash)).toBe(true);
        prev = row.hash;
      }
    }
    expect(expected).toBe(15);
    expect((await service.chainHeads()).get(ACCESS_LOG_CHAIN)).toEqual({ seq: 14, hash: prev });
  });

  it('names the OS user, via cli, the filters and the count; stores nothing when the transaction fails', async () => {
    const receipt = await recordCliAccess(cliDb, cli, { action: 'chain.export', filters: { chain: 'data_access', from: '3' }, recordCount: 42, outcome: 'success' });
    const stored = await cli.getById(receipt.id);
    expect(stored!.event).toMatchObject({
      action: 'chain.export',
      outcome: 'success',
      recordCount: 42,
      actor: { id: os.userInfo().username, type: 'user' },
      details: { via: 'cli', 'filter.chain': 'data_access', 'filter.from': '3' },
    });
    expect(cliPrincipal()).toEqual({ sub: os.userInfo().username, via: 'cli' });

    const before = (await cli.chainHeads()).get(ACCESS_LOG_CHAIN);
    const failing = { chainHeads: () => cli.chainHeads(), append: () => Promise.reject(new Error('disk full')) };
    await expect(recordCliAccess(cliDb, failing, { action: 'chain.export', recordCount: 1, outcome: 'success' })).rejects.toThrow('disk full');
    expect(cliDb.inTransaction).toBe(false);
    expect((await cli.chainHeads()).get(ACCESS_LOG_CHAIN)).toEqual(before);
  });

  it('on a fenced store (STORE=elasticsearch, no database): a lost race is chained again on the new head', async () => {
    const fake = new EsFake();
    const options = { indexPrefix: 'audit', alertsIndex: 'audit-alerts', checkpointsIndex: 'audit-checkpoints', rolloverMaxAge: '30d', rolloverMaxPrimaryShardSize: '50gb', warmAfter: '30d', coldAfter: '365d' };
    const serviceEs = new ElasticsearchEventStore(fake.client(), options);
    await serviceEs.init();
    const cliEs = new ElasticsearchEventStore(fake.client(), options);
    try {
      let raced = false;
      // The service appends to the access chain after the CLI read the head, before it appends.
      const racing = {
        chainHeads: async () => {
          const heads = await cliEs.chainHeads();
          if (!raced) {
            raced = true;
            const [rec] = serviceRecord(7);
            const receivedAt = new Date().toISOString();
            await serviceEs.append([{ chain: ACCESS_LOG_CHAIN, seq: 0, receivedAt, event: rec.event, eventJson: rec.json, prevHash: GENESIS_HASH, hash: recordHash(GENESIS_HASH, ACCESS_LOG_CHAIN, 0, receivedAt, rec.json) }]);
          }
          return heads;
        },
        append: (records: Parameters<typeof cliEs.append>[0]) => cliEs.append(records),
      };
      const receipt = await recordCliAccess(null, racing, { action: 'integrity.verify', recordCount: 3, outcome: 'success' });
      expect(raced).toBe(true);
      expect(receipt.seq).toBe(1);
      expect(await new IntegrityService(cliEs).verify({ chain: ACCESS_LOG_CHAIN })).toMatchObject({ ok: true, verified: 2 });
    } finally {
      await cliEs.close();
      await serviceEs.close();
    }
  });
});
