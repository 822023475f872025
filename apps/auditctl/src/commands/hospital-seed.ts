/**
 * `auditctl seed --hospital`: the hospital simulator's context feeds and week of traffic, either
 * posted to a running service (context first, `POST /v1/context/{users,patients,encounters}`, then
 * the events in the order the service would receive them, late batches included) or written to
 * `--out <dir>` as NDJSON files (users, patients, encounters, events) with the answer key of the
 * planted scenarios (planted.json). Events are streamed from the generator: memory stays bounded
 * whatever the number of days.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { once } from 'node:events';
import { Hospital, HOSPITAL_INTEGRATIONS, hospitalContext, hospitalTraffic, planArrivalTicks, postTicks, SeedBatch } from '@app/simulation';
import { ApiClient } from '../api-client';
import { Progress } from '../progress';

export const CONTEXT_KINDS = ['users', 'patients', 'encounters'] as const;
const HOUR = 3_600_000;

export interface SeedSummary {
  users: number;
  patients: number;
  encounters: number;
  events: number;
}

/** Writes `lines` as NDJSON to `file`, waiting for the stream to drain (bounded memory). */
async function writeNdjson(file: string, lines: Iterable<unknown>, onCount: (n: number) => void): Promise<number> {
  const out = fs.createWriteStream(file, { encoding: 'utf8' });
  let n = 0;
  let buffer = '';
  for (const line of lines) {
    buffer += `${JSON.stringify(line)}\n`;
    n++;
    if (buffer.length > 1 << 20) {
      if (!out.write(buffer)) await once(out, 'drain');
      buffer = '';
      onCount(n);
    }
  }
  out.end(buffer);
  await once(out, 'finish');
  onCount(n);
  return n;
}

/** The simulated hours elapsed at a receive time (for the progress bar). */
function hoursDone(h: Hospital, receivedAtMs: number): number {
  return Math.max(0, Math.min(h.days * 24 + 3, Math.floor((receivedAtMs - h.start) / HOUR)));
}

export async function writeHospitalFiles(h: Hospital, dir: string, progress: Progress): Promise<SeedSummary> {
  fs.mkdirSync(dir, { recursive: true });
  const context = hospitalContext(h);
  const counts: Record<string, number> = {};
  for (const kind of CONTEXT_KINDS) {
    counts[kind] = await writeNdjson(path.join(dir, `${kind}.ndjson`), context[kind], (n) => progress.update(kind, n, context[kind].length));
  }
  const totalHours = h.days * 24 + 3;
  let last = 0;
  function* eventLines() {
    for (const item of hospitalTraffic(h)) {
      last = item.receivedAtMs;
      yield item.event;
    }
  }
  const events = await writeNdjson(path.join(dir, 'events.ndjson'), eventLines(), () => progress.update('simulated hours', hoursDone(h, last), totalHours, 'hours'));
  fs.writeFileSync(path.join(dir, 'planted.json'), `${JSON.stringify({ start: new Date(h.start).toISOString(), days: h.days, seed: h.seed, planted: h.planted }, null, 2)}\n`);
  return { users: counts.users, patients: counts.patients, encounters: counts.encounters, events };
}

/** A non-202 answer of the service, as an error naming what was posted (no record content). */
export class SeedRejectedError extends Error {}

export async function postHospital(
  h: Hospital,
  options: { contextClient: ApiClient; eventClient: (integration: string) => Promise<ApiClient>; batch: number; concurrency: number; progress: Progress },
): Promise<SeedSummary> {
  const { contextClient, batch, concurrency, progress } = options;
  const context = hospitalContext(h);
  const counts: Record<string, number> = {};
  for (const kind of CONTEXT_KINDS) {
    const records = context[kind] as unknown[];
    let done = 0;
    for (let i = 0; i < records.length; i += 5000) {
      const chunk = records.slice(i, i + 5000);
      const res = await withRetry(() => contextClient.request('POST', `/v1/context/${kind}`, { records: chunk }));
      if (res.status === 404) throw new SeedRejectedError(`the service at ${contextClient.url} has no context feeds (POST /v1/context/${kind} answered 404): it predates them`);
      if (res.status !== 202) throw new SeedRejectedError(answered(`POST /v1/context/${kind}`, res));
      const receipt = JSON.parse(res.body) as { accepted: number; rejected: { index: number; pointer: string; message: string }[] };
      if (receipt.rejected.length > 0) {
        const r = receipt.rejected[0];
        throw new SeedRejectedError(`POST /v1/context/${kind} rejected ${receipt.rejected.length} record(s), e.g. record ${i + r.index} at ${r.pointer}: ${r.message}`);
      }
      done += chunk.length;
      progress.update(kind, done, records.length);
    }
    counts[kind] = done;
  }
  const clients = new Map<string, ApiClient>();
  for (const { integration } of Object.values(HOSPITAL_INTEGRATIONS)) clients.set(integration, await options.eventClient(integration));
  const totalHours = h.days * 24 + 3;
  let events = 0;
  let newest = h.start;
  const send = async (b: SeedBatch) => {
    const client = clients.get(b.integration) ?? (await options.eventClient(b.integration));
    clients.set(b.integration, client);
    const res = await withRetry(() => client.request('POST', '/v1/events', { events: b.events }));
    if (res.status !== 202) throw new SeedRejectedError(answered(`POST /v1/events (${b.integration})`, res));
    events += b.events.length;
    progress.update('simulated hours', hoursDone(h, newest), totalHours, 'hours');
  };
  // One request in flight per integration, as an integration sends its log: its events are
  // committed in the order it sent them (a nightly batch packs a day of event time into minutes,
  // so two of its requests overtaking each other would put hours of disorder into its stream).
  // Different integrations still overlap.
  const previous = new Map<string, Promise<void>>();
  const post = (b: SeedBatch): Promise<void> => {
    const sent = (previous.get(b.integration) ?? Promise.resolve()).then(() => send(b));
    previous.set(b.integration, sent.catch(() => undefined));
    return sent;
  };
  function* ticks() {
    for (const tick of planArrivalTicks(track(hospitalTraffic(h)), { maxBatch: batch })) yield tick;
  }
  function* track<T extends { receivedAtMs: number }>(items: Iterable<T>) {
    for (const item of items) {
      newest = item.receivedAtMs;
      yield item;
    }
  }
  try {
    // Receive-time ticks: the window alone bounds disorder; late batches keep their lateness.
    await postTicks(ticks(), post, { window: concurrency, maxDisorderMs: Infinity });
  } finally {
    for (const c of clients.values()) c.close();
  }
  return { users: counts.users, patients: counts.patients, encounters: counts.encounters, events };
}

function answered(what: string, res: { status: number; body: string }): string {
  if (res.status === 401) return `${what} answered 401: the service rejected the token signed with this data dir's key; pass --data-dir <the DATA_DIR that service runs on>`;
  return `${what} answered ${res.status}: ${res.body.slice(0, 300)}`;
}

/** Retries 429 / 503 (back-pressure) with growing waits, up to 10 times. */
async function withRetry(send: () => Promise<{ status: number; body: string }>) {
  for (let attempt = 0; ; attempt++) {
    const res = await send();
    if ((res.status === 503 || res.status === 429) && attempt < 10) {
      await new Promise((r) => setTimeout(r, 200 * (attempt + 1)));
      continue;
    }
    return res;
  }
}
