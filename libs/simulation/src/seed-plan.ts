/**
 * How `auditctl seed` (and the end-to-end tests) post synthetic traffic: in event-time order, in
 * "ticks" of consecutive events spanning at most `maxSpanMs` (30 s) of event time, each tick split
 * into one batch per integration (an integration may only post its own events). `postTicks` keeps
 * at most `window` (3) ticks in flight, and starts a tick only once every earlier tick holding
 * events more than `maxDisorderMs` (90 s) older than the new tick's newest event is acknowledged.
 * So commit order never trails event order by more than 90 s, however sparse the traffic: inside
 * detection's late-event allowance (DETECTION_ALLOWED_LATENESS, 2m by default), and windowed
 * rules see the traffic as it happened.
 */
import { AccessEvent } from '@app/core';
import type { SimulatedEvent } from './hospital';

export interface SeedBatch {
  /** The integration that posts this batch (its token's subject). */
  integration: string;
  events: AccessEvent[];
}

export interface SeedPlanOptions {
  /** Most events in one request (default 100). */
  maxBatch?: number;
  /** Most event time one tick spans (default 30 s). */
  maxSpanMs?: number;
  /** Integration for events that name none (default sample-ehr). */
  defaultIntegration?: string;
}

/** Ticks of per-integration batches; post the ticks in order, the batches of a tick in any order. */
export function planSeedRequests(events: readonly AccessEvent[], options: SeedPlanOptions = {}): SeedBatch[][] {
  const maxBatch = Math.max(1, options.maxBatch ?? 100);
  const maxSpanMs = options.maxSpanMs ?? 30_000;
  const fallback = options.defaultIntegration ?? 'sample-ehr';
  const sorted = [...events].sort((a, b) => Date.parse(a.occurredAt) - Date.parse(b.occurredAt));
  const ticks: SeedBatch[][] = [];
  let tick = new Map<string, AccessEvent[]>();
  let tickStart = 0;
  const flush = () => {
    if (tick.size > 0) ticks.push([...tick].map(([integration, batch]) => ({ integration, events: batch })));
    tick = new Map();
  };
  for (const event of sorted) {
    const t = Date.parse(event.occurredAt);
    const integration = event.source.integration ?? fallback;
    const batch = tick.get(integration);
    if (tick.size > 0 && (t - tickStart > maxSpanMs || (batch !== undefined && batch.length >= maxBatch))) flush();
    if (tick.size === 0) tickStart = t;
    const current = tick.get(integration);
    if (current) current.push(event);
    else tick.set(integration, [event]);
  }
  flush();
  return ticks;
}

export interface PostTicksOptions {
  /** Most ticks in flight (default 3). */
  window?: number;
  /** Most event time by which a commit may precede an older event's commit (default 90 s). */
  maxDisorderMs?: number;
}

function timeRange(tick: readonly SeedBatch[]): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (const b of tick) {
    for (const e of b.events) {
      const t = Date.parse(e.occurredAt);
      if (t < min) min = t;
      if (t > max) max = t;
    }
  }
  return { min, max };
}

/**
 * Posts the ticks in order with bounded disorder (see the top of this file); a tick's batches go in
 * parallel. `post` must resolve only once its batch is acknowledged (and reject otherwise): the
 * first rejection stops the run and is rethrown. `options` may also be just the window.
 */
export async function postTicks(ticks: Iterable<readonly SeedBatch[]>, post: (batch: SeedBatch) => Promise<void>, options: PostTicksOptions | number = {}): Promise<void> {
  const { window = 3, maxDisorderMs = 90_000 } = typeof options === 'number' ? { window: options } : options;
  const inflight: { min: number; done: Promise<void> }[] = [];
  for (const tick of ticks) {
    const { min, max } = timeRange(tick);
    // Ticks are in time order, so the oldest in flight is the first that could be too old.
    while (inflight.length >= Math.max(1, window) || (inflight.length > 0 && inflight[0].min < max - maxDisorderMs)) {
      await inflight.shift()!.done;
    }
    const done = Promise.all(tick.map(post)).then(() => undefined);
    done.catch(() => undefined); // observed when awaited; avoids an unhandled rejection meanwhile
    inflight.push({ min, done });
  }
  await Promise.all(inflight.map((t) => t.done));
}

/**
 * Ticks for traffic that arrives late on purpose (the hospital simulator's nightly batches, a
 * clock running behind): planned by *receive* time, not event time, and streamed. Each tick holds
 * at most `maxSpanMs` (30 s) of receive time and `maxBatch` events per integration. Post them with
 * postTicks and `maxDisorderMs: Infinity`: the window of ticks in flight alone bounds the disorder
 * (window x 30 s of receive time), and the late events keep exactly the lateness they were built with.
 */
export function* planArrivalTicks(traffic: Iterable<SimulatedEvent>, options: SeedPlanOptions = {}): Generator<SeedBatch[]> {
  const maxBatch = Math.max(1, options.maxBatch ?? 100);
  const maxSpanMs = options.maxSpanMs ?? 30_000;
  const fallback = options.defaultIntegration ?? 'sample-ehr';
  let tick = new Map<string, AccessEvent[]>();
  let tickStart = 0;
  for (const { event, receivedAtMs } of traffic) {
    const integration = event.source.integration ?? fallback;
    const batch = tick.get(integration);
    if (tick.size > 0 && (receivedAtMs - tickStart > maxSpanMs || (batch !== undefined && batch.length >= maxBatch))) {
      yield [...tick].map(([name, events]) => ({ integration: name, events }));
      tick = new Map();
    }
    if (tick.size === 0) tickStart = receivedAtMs;
    const current = tick.get(integration);
    if (current) current.push(event);
    else tick.set(integration, [event]);
  }
  if (tick.size > 0) yield [...tick].map(([name, events]) => ({ integration: name, events }));
}
