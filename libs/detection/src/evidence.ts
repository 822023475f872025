/**
 * Evidence carried by an alert: which events made it fire (capped, but always the first and the
 * last that contributed) and a summary an analyst reads first: patients touched, time span,
 * source IPs, source systems. Answers "why did this fire" without a second query.
 */
import { EventRef } from './event-ref';

export const DEFAULT_EVIDENCE_CAP = 50;
const SUMMARY_LIST_CAP = 20;
const TOP_PATIENTS = 10;

export interface AlertEvidence {
  /** Contributing event ids in time order, at most the cap; always holds the first and last. */
  eventIds: string[];
  firstEventId: string;
  lastEventId: string;
  /** How many events contributed (may exceed eventIds.length). */
  total: number;
  truncated: boolean;
}

export interface EvidenceSummary {
  eventCount: number;
  firstEventAt: string;
  lastEventAt: string;
  spanMs: number;
  distinctPatients: number;
  /** Most-touched patients first (ties by id), at most 10. */
  topPatients: { patientId: string; count: number }[];
  distinctActors: number;
  actors: string[];
  distinctSourceIps: number;
  sourceIps: string[];
  sourceSystems: string[];
  integrations: string[];
}

/**
 * Picks evidence ids from time-ordered contributing refs. `priority` (indexes into refs) says
 * which to keep first when over the cap, e.g. the first event of each distinct patient.
 */
export function selectEvidence(refs: readonly EventRef[], cap: number = DEFAULT_EVIDENCE_CAP, priority?: readonly number[]): AlertEvidence {
  if (refs.length === 0) throw new Error('an alert needs at least one contributing event');
  const last = refs.length - 1;
  const limit = Math.max(2, cap);
  let chosen: number[];
  if (refs.length <= limit) {
    chosen = refs.map((_, i) => i);
  } else {
    const keep = new Set<number>([0, last]);
    const order = priority ?? refs.map((_, i) => i);
    for (let k = 0; k < order.length && keep.size < limit; k++) keep.add(order[k]);
    for (let i = 1; i < last && keep.size < limit; i++) keep.add(i);
    chosen = [...keep].sort((a, b) => a - b);
  }
  return {
    eventIds: chosen.map((i) => refs[i].id),
    firstEventId: refs[0].id,
    lastEventId: refs[last].id,
    total: refs.length,
    truncated: chosen.length < refs.length,
  };
}

function distinctCapped(values: Iterable<string | undefined>): { count: number; list: string[] } {
  const set = new Set<string>();
  for (const v of values) if (v !== undefined) set.add(v);
  return { count: set.size, list: [...set].sort().slice(0, SUMMARY_LIST_CAP) };
}

export function summarizeEvidence(refs: readonly EventRef[]): EvidenceSummary {
  let first = Infinity;
  let lastTs = -Infinity;
  const patients = new Map<string, number>();
  for (const ref of refs) {
    if (ref.ts < first) first = ref.ts;
    if (ref.ts > lastTs) lastTs = ref.ts;
    if (ref.patient !== undefined) patients.set(ref.patient, (patients.get(ref.patient) ?? 0) + 1);
  }
  const topPatients = [...patients]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .slice(0, TOP_PATIENTS)
    .map(([patientId, count]) => ({ patientId, count }));
  const actors = distinctCapped(refs.map((r) => r.actor));
  const ips = distinctCapped(refs.map((r) => r.ip));
  return {
    eventCount: refs.length,
    firstEventAt: new Date(first).toISOString(),
    lastEventAt: new Date(lastTs).toISOString(),
    spanMs: lastTs - first,
    distinctPatients: patients.size,
    topPatients,
    distinctActors: actors.count,
    actors: actors.list,
    distinctSourceIps: ips.count,
    sourceIps: ips.list,
    sourceSystems: distinctCapped(refs.map((r) => r.system)).list,
    integrations: distinctCapped(refs.map((r) => r.integration)).list,
  };
}
