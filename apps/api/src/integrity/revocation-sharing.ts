/**
 * With STORE=elasticsearch, shares this instance's credential revocations with every other
 * instance (RevocationSync, @app/storage/scale-out-adapters): at start and then every
 * REVOCATION_SYNC_MS, what was revoked on this data dir is created in the shared index and what any
 * instance revoked is added to this data dir's database, where the RevocationList polls it (at most
 * REVOCATION_POLL_MS later). A revocation made with `auditctl` on any instance's data dir is thus
 * refused by every instance within about REVOCATION_SYNC_MS + REVOCATION_POLL_MS (3 s). While the
 * shared index cannot be read for longer than REVOCATION_SHARED_STALE_SECONDS (60), credential
 * checks answer 503 / refuse certificates rather than accept what another instance may have
 * revoked. Off with the embedded store (one data dir). Logs counts and error classes only.
 */
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy, Optional } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '@app/core';
import { RevocationList } from '@app/security';
import { SQLITE_DB, SqliteDb, SqliteRevocationStore } from '@app/storage';

/** How often revocations are mirrored with the shared index (ms). */
export const REVOCATION_SYNC_MS = 1000;

@Injectable()
export class RevocationSharing implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('Revocations');
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private failing = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(SQLITE_DB) private readonly db: SqliteDb,
    @Optional() @Inject(RevocationList) private readonly list?: RevocationList | null,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const es = this.config.scaleOut?.store === 'elasticsearch' ? this.config.scaleOut.elasticsearch : undefined;
    if (!es) return;
    const { createElasticsearchClient, ElasticsearchRevocationStore, RevocationSync } = await import('@app/storage/scale-out-adapters');
    const shared = new ElasticsearchRevocationStore(createElasticsearchClient(es), `${es.indexPrefix}-revocations`);
    const sync = new RevocationSync(new SqliteRevocationStore(this.db), shared);
    // Start counts as read: the first sync runs now. Unread for longer than the stale bound, credential checks refuse (503).
    let lastReadAt = Date.now();
    this.list?.dependOn(() => lastReadAt, (this.config.integrity?.revocationSharedStaleSeconds ?? 60) * 1000);
    const tick = async () => {
      try {
        await shared.init();
        const r = await sync.syncOnce();
        lastReadAt = Date.now();
        if (r.pushed + r.pulled > 0) this.logger.log(JSON.stringify({ msg: 'revocations shared', pushed: r.pushed, pulled: r.pulled }));
        if (this.failing) this.logger.log(JSON.stringify({ msg: 'revocation sharing recovered' }));
        this.failing = false;
      } catch (err) {
        if (!this.failing) this.logger.warn(JSON.stringify({ msg: 'revocation sharing failed; local revocations still apply, retrying', error: (err as Error)?.constructor?.name ?? 'error' }));
        this.failing = true;
      }
    };
    await tick();
    this.timer = setInterval(() => {
      this.running ??= tick().finally(() => (this.running = null));
    }, REVOCATION_SYNC_MS);
    this.timer.unref();
  }

  async onModuleDestroy(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }
}
