/**
 * Fault handling configuration (issue 20): how long the chain writer may sit on one group commit
 * before it counts as stalled, how often readiness re-probes a fault it found (full disk, locked
 * database) so it comes back by itself, and the free-space floor under the data dir that raises a
 * disk-pressure warning before the disk is full. Merged into the main config schema (config.ts).
 */
import { z } from 'zod';

export const FAULTS_ENV = {
  /** A group commit that has not finished after this many seconds makes the writer "stalled" (readiness false, new writes 503). */
  WRITER_STALL_SECONDS: z.coerce.number().min(0.5).max(3600).default(10),
  /** How often (ms) the service re-checks a durability fault (disk full, database locked, writer stalled) and the free space. */
  HEALTH_PROBE_INTERVAL_MS: z.coerce.number().int().min(100).max(60_000).default(1000),
  /** Free bytes on the data dir's filesystem below which a disk-pressure warning is raised (metric, log, data-quality alert); 0: off. */
  DISK_FREE_FLOOR_BYTES: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(1024 * 1024 * 1024),
} as const;

export interface FaultSettings {
  writerStallMs: number;
  probeIntervalMs: number;
  diskFreeFloorBytes: number;
}

export const DEFAULT_FAULT_SETTINGS: FaultSettings = { writerStallMs: 10_000, probeIntervalMs: 1000, diskFreeFloorBytes: 1024 * 1024 * 1024 };

export function parseFaults(c: { WRITER_STALL_SECONDS: number; HEALTH_PROBE_INTERVAL_MS: number; DISK_FREE_FLOOR_BYTES: number }): FaultSettings {
  return { writerStallMs: Math.round(c.WRITER_STALL_SECONDS * 1000), probeIntervalMs: c.HEALTH_PROBE_INTERVAL_MS, diskFreeFloorBytes: c.DISK_FREE_FLOOR_BYTES };
}

/** The fault settings of a config (hand-built test configs may leave them out). */
export function faultSettingsOf(config: { faults?: Partial<FaultSettings> }): FaultSettings {
  return { ...DEFAULT_FAULT_SETTINGS, ...(config.faults ?? {}) };
}
