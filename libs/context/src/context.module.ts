/**
 * Nest wiring of the context feeds: the store (CONTEXT_STORE, bound by the infrastructure module:
 * a table of the data dir's database, or an index of the shared cluster), the matching tokenizer (its own key), the
 * in-memory index loaded from the store before the application starts, and the index bound under
 * ACCESS_CONTEXT, and (where instances share state) ContextSync, which applies what other instances store.
 * Global and exported, so detection and reports inject ACCESS_CONTEXT and
 * ContextService without importing this module.
 */
import { Global, Logger, Module } from '@nestjs/common';
import { ACCESS_CONTEXT, APP_CONFIG, AppConfig, DEPLOYMENT, Deployment, contextSettingsOf } from '@app/core';
import { ContextIndex } from './context-index';
import { CONTEXT_STORE, ContextStore } from './context-store.port';
import { ContextService } from './context.service';
import { ContextSync } from './context-sync';
import { FhirContextService } from './fhir-context.service';
import { MatchingTokenizer } from './matching-tokens';

const logger = new Logger('ContextFeeds');
const RETRY_MS = 5000;

/** Loads the index; with Elasticsearch a cluster that is not up yet is retried in the background. */
async function loadContext(service: ContextService, background: boolean): Promise<void> {
  const attempt = async (): Promise<boolean> => {
    try {
      const n = await service.load();
      logger.log(`context loaded: ${n} version(s)`);
      return true;
    } catch (err) {
      if (!background) throw err;
      logger.warn(`context could not be loaded yet (${(err as Error).message}); retrying in ${RETRY_MS / 1000} s`);
      return false;
    }
  };
  if (await attempt()) return;
  const timer = setInterval(() => {
    void attempt().then((ok) => ok && clearInterval(timer));
  }, RETRY_MS);
  timer.unref();
}

@Global()
@Module({
  providers: [
    ContextIndex,
    {
      provide: MatchingTokenizer,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => MatchingTokenizer.forDataDir(config.dataDir, contextSettingsOf(config).matchingKeyFile),
    },
    {
      provide: ContextService,
      inject: [CONTEXT_STORE, ContextIndex, MatchingTokenizer, DEPLOYMENT],
      useFactory: async (store: ContextStore, index: ContextIndex, tokens: MatchingTokenizer, deployment: Deployment) => {
        // Other instances' writes arrive late: encounters by receipt, as the start-up load orders them.
        if (deployment.sharedState) index.orderEncountersByReceipt();
        const service = new ContextService(store, index, tokens);
        // A shared cluster that is not up yet is retried in the background; the data dir's database is there or the start fails.
        await loadContext(service, deployment.sharedState);
        return service;
      },
    },
    ContextSync,
    { provide: FhirContextService, inject: [ContextService], useFactory: (service: ContextService) => new FhirContextService(service) },
    // Bound to the index only once ContextService has loaded it (the factory above runs first).
    { provide: ACCESS_CONTEXT, inject: [ContextService], useFactory: (service: ContextService) => service.index },
  ],
  exports: [ACCESS_CONTEXT, ContextService, FhirContextService, ContextIndex, MatchingTokenizer],
})
export class ContextModule {}
