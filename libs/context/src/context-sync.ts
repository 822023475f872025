/**
 * Context written by other instances (STORE=elasticsearch): every CONTEXT_SYNC_MS (default 1 s) this
 * instance reads the versions other instances stored in the shared context index since its last
 * read (ContextStore.othersSince) and applies them to its in-memory index, so an encounter or VIP
 * flag posted to any instance explains or flags accesses evaluated on every instance within about
 * one interval (plus the time a read takes). Starts once the index is loaded; off with the embedded
 * store (one writer). Logs counts and error classes only.
 */
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { APP_CONFIG, AppConfig, DEPLOYMENT, Deployment, contextSettingsOf } from '@app/core';
import { CONTEXT_STORE, ContextStore } from './context-store.port';
import { ContextService } from './context.service';

@Injectable()
export class ContextSync implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('ContextSync');
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;
  private failing = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(DEPLOYMENT) private readonly deployment: Deployment,
    @Inject(CONTEXT_STORE) private readonly store: ContextStore,
    private readonly service: ContextService,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.deployment.sharedState) return;
    this.timer = setInterval(() => {
      this.running ??= this.syncOnce().finally(() => (this.running = null));
    }, contextSettingsOf(this.config).syncMs);
    this.timer.unref();
  }

  /** One read of others' writes, applied; how many versions (0 while the index is still loading). */
  async syncOnce(): Promise<number> {
    if (!this.service.isLoaded) return 0;
    try {
      const versions = await this.store.othersSince();
      this.service.applyOthers(versions);
      if (versions.length > 0) this.logger.log(JSON.stringify({ msg: 'context from other instances applied', versions: versions.length }));
      if (this.failing) this.logger.log(JSON.stringify({ msg: 'context sync recovered' }));
      this.failing = false;
      return versions.length;
    } catch (err) {
      if (!this.failing) this.logger.warn(JSON.stringify({ msg: 'context sync failed; context this instance received still applies, retrying', error: (err as Error)?.constructor?.name ?? 'error' }));
      this.failing = true;
      return 0;
    }
  }

  async onModuleDestroy(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }
}
