/**
 * With STORE=elasticsearch, reads the cluster's revocations (the store of record: what `auditctl
 * token revoke` / `certs revoke` and the console's admin pages write there) into this instance's
 * PolledRevocations, at start and then every REVOCATION_SYNC_MS, which the RevocationList checks on
 * every use. A revocation made anywhere is thus refused by every instance within about
 * REVOCATION_SYNC_MS (1 s). No instance keeps a copy in a file.
 * While the index cannot be read for longer than REVOCATION_SHARED_STALE_SECONDS (60), credential
 * checks answer 503 / refuse certificates rather than accept what may have been revoked. Off with
 * the embedded store (the RevocationList polls the data dir's database). Logs counts and error
 * classes only.
 */
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy, Optional } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '@app/core';
import { PolledRevocations, REVOCATION_SYNC_MS, RevocationList } from '@app/security';

export { REVOCATION_SYNC_MS } from '@app/security';

@Injectable()
export class RevocationSharing implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('Revocations');
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private failing = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Optional() @Inject(PolledRevocations) private readonly polled?: PolledRevocations | null,
    @Optional() @Inject(RevocationList) private readonly list?: RevocationList | null,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const polled = this.polled;
    if (!polled) return;
    // Unread for longer than the stale bound, credential checks refuse (503).
    this.list?.dependOn(() => polled.lastReadAt, (this.config.integrity?.revocationSharedStaleSeconds ?? 60) * 1000);
    const tick = async () => {
      try {
        const added = await polled.refresh();
        if (added > 0) this.logger.log(JSON.stringify({ msg: 'revocations read from the cluster', added }));
        if (this.failing) this.logger.log(JSON.stringify({ msg: 'revocations readable again' }));
        this.failing = false;
      } catch (err) {
        if (!this.failing) this.logger.warn(JSON.stringify({ msg: 'revocations cannot be read from the cluster; the last list still applies, retrying', error: (err as Error)?.constructor?.name ?? 'error' }));
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
