/**
 * Whether events can be made durable right now, for readiness (readiness.service.ts): the chain
 * writer's last commit failed because the disk is full (SQLITE_FULL, ENOSPC, EFBIG), the database
 * stayed locked past its busy budget (SQLITE_BUSY after BUSY_TIMEOUT_MS), an I/O error, or the store
 * failed otherwise; or the writer is stalled (a group commit running past WRITER_STALL_SECONDS).
 * Every HEALTH_PROBE_INTERVAL_MS it re-probes a known fault (free space and a small fsync'd write
 * under the data dir; a write lock taken and released at once; the store's own reachability) so readiness comes back by itself
 * when the cause clears, even with no traffic (a load balancer sends none to an unready instance);
 * any durable commit clears it too. It also watches the free space under the data dir and warns
 * once below DISK_FREE_FLOOR_BYTES. Reasons carry codes and causes only: never record content.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown, Optional } from '@nestjs/common';
import { APP_CONFIG, AppConfig, faultSettingsOf, FaultSettings } from '@app/core';
import { BUSY_TIMEOUT_MS, EVENT_STORE, EventStore, SequenceConflictError, SQLITE_DB, SqliteDb } from '@app/storage';
import { ChainWriter } from './chain-writer';
import { MetricsService } from './metrics.service';

/** Why events cannot be made durable (readiness reason codes). */
export type DurabilityFault = 'disk_full' | 'database_locked' | 'io_error' | 'store_error';

export interface HealthReason {
  code: string;
  detail: string;
}

/** Free space the recovery probe needs, and writes, before it calls a full disk usable again. */
export const DISK_PROBE_BYTES = 1024 * 1024;
const PROBE_FILE = '.durability-probe';

/** Classifies a failed commit; null when it is no durability fault (another writer took the sequence number first). */
export function durabilityFaultOf(err: unknown): DurabilityFault | null {
  if (err instanceof SequenceConflictError) return null;
  const text = `${(err as { code?: unknown })?.code ?? ''} ${(err as Error)?.message ?? ''}`;
  if (/SQLITE_FULL|ENOSPC|EFBIG|EDQUOT/.test(text)) return 'disk_full';
  if (/SQLITE_BUSY|SQLITE_LOCKED/.test(text)) return 'database_locked';
  if (/SQLITE_IOERR|EIO\b/.test(text)) return 'io_error';
  return 'store_error';
}

const DETAIL: Record<DurabilityFault, string> = {
  disk_full: 'events cannot be made durable: the data dir\'s disk is full; free space under DATA_DIR',
  database_locked: `events cannot be made durable: the audit database stayed locked for more than ${BUSY_TIMEOUT_MS / 1000} s by another process`,
  io_error: 'events cannot be made durable: the disk reported an I/O error',
  store_error: 'events cannot be made durable: the event store refused the last commit',
};

/** What the monitor needs of the filesystem. */
export interface DiskProbe {
  freeBytes(dir: string): number;
  /** Writes and fsyncs `bytes` under `dir`, then removes them; throws when that fails. */
  writeProbe(dir: string, bytes: number): void;
}

export const localDisk: DiskProbe = {
  freeBytes(dir) {
    const s = fs.statfsSync(dir);
    return s.bavail * s.bsize;
  },
  writeProbe(dir, bytes) {
    const file = path.join(dir, PROBE_FILE);
    const fd = fs.openSync(file, 'w', 0o600);
    try {
      fs.writeSync(fd, Buffer.alloc(bytes));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
      fs.rmSync(file, { force: true });
    }
  },
};

@Injectable()
export class DurabilityMonitor implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Durability');
  private readonly settings: FaultSettings;
  private readonly dataDir: string;
  private fault: { code: DurabilityFault; since: number } | null = null;
  private stalledSince: number | null = null;
  private diskLow = false;
  private freeBytes: number | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly diskLowListeners: ((freeBytes: number, floorBytes: number) => void)[] = [];
  private readonly disk: DiskProbe = localDisk;

  constructor(
    private readonly writer: ChainWriter,
    private readonly metrics: MetricsService,
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Optional() @Inject(SQLITE_DB) private readonly db: SqliteDb | null,
  ) {
    this.settings = faultSettingsOf(config);
    this.dataDir = config.dataDir;
    writer.onCommitResult((failure) => this.onCommitResult(failure));
  }

  onApplicationBootstrap(): void {
    this.tick();
    this.timer = setInterval(() => this.tick(), this.settings.probeIntervalMs);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Called once per crossing below the free-space floor (the data-quality alert hooks in here). */
  onDiskLow(listener: (freeBytes: number, floorBytes: number) => void): void {
    this.diskLowListeners.push(listener);
    // Already below the floor (found at start, before this listener was added): tell it now.
    if (this.diskLow && this.freeBytes !== null) listener(this.freeBytes, this.settings.diskFreeFloorBytes);
  }

  /** Reasons events cannot be made durable now (empty: they can). */
  reasons(): HealthReason[] {
    // The stall is judged now, not at the next timer round, so the metric and the log line never lag
    // behind what readiness answers.
    this.checkStall();
    const out: HealthReason[] = [];
    if (this.fault) out.push({ code: this.fault.code, detail: DETAIL[this.fault.code] });
    if (this.stalledSince !== null || this.writer.stalled) {
      const seconds = Math.floor(this.writer.commitInFlightMs() / 1000);
      out.push({ code: 'writer_stalled', detail: `the chain writer has made no commit progress for ${seconds} s (bound ${this.settings.writerStallMs / 1000} s)` });
    }
    return out;
  }

  /** Conditions that do not stop ingestion yet but will (free space below the floor). */
  warnings(): HealthReason[] {
    if (!this.diskLow || this.freeBytes === null) return [];
    return [{ code: 'disk_low', detail: `free space under DATA_DIR is ${mib(this.freeBytes)} MiB, below DISK_FREE_FLOOR_BYTES (${mib(this.settings.diskFreeFloorBytes)} MiB)` }];
  }

  /** One round of checks (the timer's; tests call it to avoid waiting). */
  tick(): void {
    this.checkStall();
    if (this.fault) this.probeRecovery();
    this.checkFreeSpace();
  }

  private onCommitResult(failure: unknown): void {
    if (failure === null) {
      if (this.fault) this.clear('a commit was durable');
      return;
    }
    const code = durabilityFaultOf(failure);
    if (code) this.raise(code);
  }

  private raise(code: DurabilityFault): void {
    if (this.fault?.code === code) return;
    this.fault = { code, since: Date.now() };
    this.metrics.durabilityFaults.inc({ cause: code });
    this.setFaultGauge();
    this.logger.warn({ fact: 'events cannot be made durable', cause: code, readiness: 'not_ready' });
    if (code === 'disk_full') this.checkFreeSpace();
  }

  private clear(how: string): void {
    if (!this.fault) return;
    const { code, since } = this.fault;
    this.fault = null;
    this.setFaultGauge();
    this.logger.log({ fact: 'events can be made durable again', cause: code, seconds: Math.round((Date.now() - since) / 1000), how });
  }

  private setFaultGauge(): void {
    for (const cause of Object.keys(DETAIL)) this.metrics.durabilityFault.set({ cause }, this.fault?.code === cause ? 1 : 0);
  }

  private probeRecovery(): void {
    const fault = this.fault!;
    try {
      if (fault.code === 'database_locked') {
        if (!this.db?.open || this.db.inTransaction) return;
        // The write lock, taken without waiting and given back at once: free means the lock holder is gone.
        this.db.pragma('busy_timeout = 0');
        try {
          this.db.exec('BEGIN IMMEDIATE');
          this.db.exec('ROLLBACK');
        } finally {
          this.db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
        }
        this.clear('the write lock is free');
        return;
      }
      // Another store failure (Elasticsearch unreachable …): the store says when it is reachable again.
      if (fault.code === 'store_error' && !this.store.isReady()) return;
      if (this.disk.freeBytes(this.dataDir) < DISK_PROBE_BYTES) return;
      this.disk.writeProbe(this.dataDir, DISK_PROBE_BYTES);
      this.clear('a probe write under DATA_DIR was durable');
    } catch {
      /* still faulty: the next round probes again */
    }
  }

  private checkStall(): void {
    const stalled = this.writer.stalled;
    if (stalled && this.stalledSince === null) {
      this.stalledSince = Date.now();
      this.metrics.writerStalled.set(1);
      this.metrics.writerStalls.inc();
      this.logger.error({ fact: 'writer stalled', seconds: Math.floor(this.writer.commitInFlightMs() / 1000), boundSeconds: this.settings.writerStallMs / 1000 });
    } else if (!stalled && this.stalledSince !== null) {
      const seconds = Math.round((Date.now() - this.stalledSince) / 1000);
      this.stalledSince = null;
      this.metrics.writerStalled.set(0);
      this.logger.log({ fact: 'writer moving again', stalledSeconds: seconds });
    }
  }

  private checkFreeSpace(): void {
    let free: number;
    try {
      free = this.disk.freeBytes(this.dataDir);
    } catch {
      return;
    }
    this.freeBytes = free;
    this.metrics.diskFreeBytes.set(free);
    const floor = this.settings.diskFreeFloorBytes;
    if (floor <= 0) return;
    if (free < floor && !this.diskLow) {
      this.diskLow = true;
      this.metrics.diskLow.set(1);
      this.metrics.diskLowWarnings.inc();
      this.logger.warn({ fact: 'disk space below floor', freeMiB: mib(free), floorMiB: mib(floor) });
      for (const l of this.diskLowListeners) l(free, floor);
    } else if (free >= floor * 1.05 && this.diskLow) {
      // 5 % above the floor before a new crossing can warn again (no flapping at the edge).
      this.diskLow = false;
      this.metrics.diskLow.set(0);
      this.logger.log({ fact: 'disk space above floor again', freeMiB: mib(free), floorMiB: mib(floor) });
    }
  }
}

function mib(bytes: number): number {
  return Math.round((bytes / (1024 * 1024)) * 10) / 10;
}
