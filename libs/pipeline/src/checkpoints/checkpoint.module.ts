/**
 * Nest wiring of signed checkpoints and proofs on the checkpoint store the infrastructure module
 * binds (CHECKPOINT_STORE: next to the events, libs/infrastructure), the signing keys (KEY_PROVIDER:
 * FileKeyProvider under DATA_DIR/keys/signing), the CheckpointService hooked to every durable
 * commit of the chain writer, and the ProofService.
 * Global, so the pipeline lifecycle (resume on start, seal on shutdown) and the verifier find them.
 */
import { Global, Logger, Module } from '@nestjs/common';
import { APP_CONFIG, AppConfig, securitySettings } from '@app/core';
import { FileKeyProvider } from '@app/security/key-provider';
import { KEY_PROVIDER, KeyProvider } from '@app/security/key-provider.port';
import { CHECKPOINT_STORE, CheckpointStore, EVENT_STORE, EventStore } from '@app/storage';
import { ChainWriter } from '../chain-writer';
import { CheckpointService, DEFAULT_CHECKPOINT_EVERY_RECORDS, DEFAULT_CHECKPOINT_INTERVAL_SECONDS } from './checkpoint.service';
import { CheckpointQueryService } from './checkpoint-query.service';
import { ProofService } from './proof.service';

const logger = new Logger('Checkpoints');

@Global()
@Module({
  providers: [
    { provide: KEY_PROVIDER, inject: [APP_CONFIG], useFactory: (config: AppConfig): KeyProvider => new FileKeyProvider(config.dataDir) },
    {
      provide: CheckpointService,
      inject: [EVENT_STORE, CHECKPOINT_STORE, KEY_PROVIDER, APP_CONFIG, ChainWriter],
      useFactory: (events: EventStore, checkpoints: CheckpointStore, keys: KeyProvider, config: AppConfig, writer: ChainWriter) => {
        const service = new CheckpointService(
          events,
          checkpoints,
          keys,
          {
            everyRecords: config.integrity?.checkpointEveryRecords ?? DEFAULT_CHECKPOINT_EVERY_RECORDS,
            intervalMs: (config.integrity?.checkpointIntervalSeconds ?? DEFAULT_CHECKPOINT_INTERVAL_SECONDS) * 1000,
            onDemandMinIntervalMs: securitySettings(config).checkpointOnDemandMinIntervalMs,
          },
          (level, msg, fields) => {
            const text = fields ? `${msg} ${JSON.stringify(fields)}` : msg;
            if (level === 'error') logger.error(text);
            else if (level === 'warn') logger.warn(text);
            else logger.debug(text);
          },
        );
        writer.onCommit((records) => service.recordsCommitted(records));
        return service;
      },
    },
    {
      provide: ProofService,
      inject: [EVENT_STORE, CHECKPOINT_STORE, CheckpointService],
      useFactory: (events: EventStore, checkpoints: CheckpointStore, sealer: CheckpointService) => new ProofService(events, checkpoints, sealer),
    },
    {
      provide: CheckpointQueryService,
      inject: [CHECKPOINT_STORE, KEY_PROVIDER],
      useFactory: (checkpoints: CheckpointStore, keys: KeyProvider) => new CheckpointQueryService(checkpoints, keys),
    },
  ],
  exports: [KEY_PROVIDER, CheckpointService, ProofService, CheckpointQueryService],
})
export class CheckpointModule {}
