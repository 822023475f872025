/**
 * IHE ATNA ingestion of one connection's byte stream (the TLS socket, or any Readable in tests):
 * RFC 5425 frames are decoded by @app/standards' OctetCountingFrameStream, each frame is mapped by
 * `mapAtnaSyslogFrame` (RFC 5424 + DICOM audit XML), and the events that arrived together are
 * stored in one `ingestValidated` call. Back-pressure: nothing more is read until that batch is
 * durable, so the frame stream fills up, the socket is paused and TCP pushes back on the sender;
 * memory per connection stays bounded (highWaterMarkItems frames of at most maxFrameBytes).
 *
 * Malformed frames, syslog headers or XML are counted (audit_atna_errors_total{stage,code}) and
 * logged by stable code and element name only (never content: no PHI), and the stream goes on.
 * A fatal framing error (framing lost) ends the stream so the owner closes only this connection.
 * Known deviations of stored messages (their `details.dataQuality` note) are counted per integration
 * (audit_atna_data_quality_total{integration,deviation}), as FHIR's are.
 */
import type { Readable } from 'node:stream';
import { AccessEvent, ProblemError } from '@app/core';
import { DecodedFrameItem, OctetCountingFrameStream, dataQualityDeviations, mapAtnaSyslogFrame } from '@app/standards';
import { MetricsService } from '../metrics.service';
import type { AtnaEventSink } from './atna-event-sink.port';

/** Log callback; fields are fixed codes, element names and counts only. */
export type AtnaLog = (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields: Record<string, string | number | boolean | undefined>) => void;

export interface AtnaStreamOptions {
  /** Integration id from the client certificate: `source.integration` of every event. */
  integration: string;
  sink: AtnaEventSink;
  /**
   * Admission of each batch before it is stored (rate limit and source ownership, e.g.
   * IngestAdmission.admitEvents for the certificate's principal). Throws ProblemErrors: 429 is
   * waited out (Retry-After) with the socket paused; 403 drops only the events it concerns.
   */
  admit?: (events: AccessEvent[]) => void;
  /** Largest frame accepted (longer ones are skipped and counted); also the XML size limit. */
  maxFrameBytes: number;
  /** Most events in one ingest call (default 500). */
  maxBatchEvents?: number;
  /** Decoded frames held before the socket is paused (default 64). */
  highWaterMarkItems?: number;
  metrics?: MetricsService;
  log?: AtnaLog;
  /** Individual log lines per connection for rejected input before only the summary counts (default 5). */
  maxLoggedRejects?: number;
  /** Aborted on shutdown: stop reading, store what was already decoded, then end. */
  stop?: AbortSignal;
  /** Aborted when the shutdown grace is over: give up retrying a busy store. */
  giveUp?: AbortSignal;
  /** How long a batch is retried while the store answers 503 (default 30 s). */
  retryForMs?: number;
}

export type AtnaStreamEnd = 'end' | 'framing-error' | 'store-failure' | 'stopped';

export interface AtnaStreamResult {
  frames: number;
  stored: number;
  rejected: number;
  /** Valid messages the store or admission refused (id reused with other content, foreign source). */
  refused: number;
  failed: number;
  batches: number;
  endedBy: AtnaStreamEnd;
}

class StoreFailure extends Error {}

const DEFAULT_BATCH = 500;
const DEFAULT_HWM_ITEMS = 64;

/**
 * Reads `input` to its end (or to a fatal framing error, a store failure, or `stop`), storing every
 * valid message. Resolves when everything it took from the stream is durable or counted as failed;
 * never rejects. The caller owns the socket: pipe only through this, close it afterwards.
 */
export async function ingestAtnaStream(input: Readable, options: AtnaStreamOptions): Promise<AtnaStreamResult> {
  const metrics = options.metrics;
  const log: AtnaLog = options.log ?? (() => undefined);
  const maxBatch = options.maxBatchEvents ?? DEFAULT_BATCH;
  const maxLogged = options.maxLoggedRejects ?? 5;
  const result: AtnaStreamResult = { frames: 0, stored: 0, rejected: 0, refused: 0, failed: 0, batches: 0, endedBy: 'end' };
  let logged = 0;

  const frames = new OctetCountingFrameStream({ maxFrameBytes: options.maxFrameBytes, highWaterMarkItems: options.highWaterMarkItems ?? DEFAULT_HWM_ITEMS });
  const endFrames = () => {
    if (!frames.writableEnded && !frames.destroyed) frames.end();
  };
  input.pipe(frames);
  // A reset or destroyed socket never emits 'end': flush the decoder so a partial frame is reported.
  input.once('close', endFrames);
  input.on('error', () => undefined); // the owner sees errors on the socket; here they only end the input
  const onStop = () => {
    result.endedBy = 'stopped';
    input.unpipe(frames);
    input.pause();
    endFrames();
  };
  if (options.stop?.aborted) onStop();
  else options.stop?.addEventListener('abort', onStop, { once: true });

  const reject = (stage: string, code: string, message: string, element?: string) => {
    metrics?.atnaErrors.inc({ stage, code });
    if (logged < maxLogged) {
      logged++;
      log('warn', 'atna message rejected', { integration: options.integration, stage, code, element, reason: message });
    }
  };

  try {
    for (;;) {
      const items = readAvailable(frames, maxBatch);
      if (items.length === 0) {
        if (frames.readableEnded || frames.destroyed) break;
        await readableOrEnd(frames);
        continue;
      }
      const events: AccessEvent[] = [];
      let fatal = false;
      for (const item of items) {
        if (item.type === 'framing-error') {
          reject('framing', item.code, item.message);
          if (item.fatal) {
            fatal = true;
            break;
          }
          result.rejected++;
          metrics?.atnaMessages.inc({ result: 'rejected' });
          continue;
        }
        result.frames++;
        const mapped = mapAtnaSyslogFrame(item.message, { integration: options.integration, maxXmlBytes: options.maxFrameBytes });
        if (mapped.ok) events.push(mapped.event);
        else {
          result.rejected++;
          metrics?.atnaMessages.inc({ result: 'rejected' });
          reject(mapped.error.stage, mapped.error.code, mapped.error.message, mapped.error.element);
        }
      }
      if (events.length > 0) await storeBatch(events, options, result, log);
      if (fatal) {
        result.endedBy = 'framing-error';
        break;
      }
    }
  } catch (err) {
    if (!(err instanceof StoreFailure)) throw err;
    result.endedBy = 'store-failure';
  } finally {
    options.stop?.removeEventListener('abort', onStop);
    input.unpipe(frames);
    frames.destroy();
  }
  if (logged >= maxLogged && result.rejected > logged) {
    log('warn', 'atna rejected messages not logged individually', { integration: options.integration, notLogged: result.rejected - logged });
  }
  return result;
}

/** Everything the frame stream holds right now (up to max): frames that arrived together. */
function readAvailable(frames: OctetCountingFrameStream, max: number): DecodedFrameItem[] {
  const items: DecodedFrameItem[] = [];
  while (items.length < max) {
    const item = frames.read() as DecodedFrameItem | null;
    if (item === null) break;
    items.push(item);
  }
  return items;
}

function readableOrEnd(stream: Readable): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off('readable', done);
      stream.off('end', done);
      stream.off('close', done);
      stream.off('error', done);
      resolve();
    };
    stream.on('readable', done);
    stream.on('end', done);
    stream.on('close', done);
    stream.on('error', done);
  });
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

/**
 * Stores one batch durably. A refusal of some events (409: an id already stored with other content,
 * e.g. the same XML sent by another integration; 403: a source the integration may not post for)
 * would refuse the whole batch, so the batch is then stored one event at a time and only the refused
 * events are dropped (counted). 429 and 503 (rate limit, writer saturated) are waited out with the
 * socket paused; when the store stays unusable the batch is counted as failed and the connection is
 * closed so the sender notices.
 */
async function storeBatch(events: AccessEvent[], options: AtnaStreamOptions, result: AtnaStreamResult, log: AtnaLog): Promise<void> {
  const metrics = options.metrics;
  const outcome = await storeWithRetry(events, options);
  if (outcome.kind === 'ok') {
    result.batches++;
    result.stored += events.length;
    metrics?.atnaMessages.inc({ result: 'stored' }, events.length);
    for (const event of events) {
      for (const deviation of dataQualityDeviations(event.details?.dataQuality)) metrics?.atnaDataQuality.inc({ integration: options.integration, deviation });
    }
    return;
  }
  if (outcome.kind === 'refused' && events.length > 1) {
    for (const event of events) await storeBatch([event], options, result, log);
    return;
  }
  if (outcome.kind === 'refused') {
    result.refused++;
    metrics?.atnaMessages.inc({ result: 'refused' });
    metrics?.atnaErrors.inc({ stage: 'store', code: outcome.code });
    log('warn', 'atna message refused', { integration: options.integration, code: outcome.code });
    return;
  }
  result.failed += events.length;
  metrics?.atnaMessages.inc({ result: 'failed' }, events.length);
  log('error', 'atna messages could not be made durable; closing the connection', { integration: options.integration, events: events.length });
  throw new StoreFailure();
}

type StoreOutcome = { kind: 'ok' } | { kind: 'refused'; code: string } | { kind: 'failed' };

async function storeWithRetry(events: AccessEvent[], options: AtnaStreamOptions): Promise<StoreOutcome> {
  const deadline = Date.now() + (options.retryForMs ?? 30_000);
  for (let attempt = 0; ; attempt++) {
    try {
      options.admit?.(events);
      await options.sink.ingestValidated(events);
      return { kind: 'ok' };
    } catch (err) {
      if (!(err instanceof ProblemError)) return { kind: 'failed' };
      if (err.status === 409 || err.status === 403) return { kind: 'refused', code: problemCode(err) };
      if ((err.status !== 503 && err.status !== 429) || Date.now() >= deadline || options.giveUp?.aborted) return { kind: 'failed' };
      const retryAfterMs = Number(err.headers['Retry-After']) * 1000;
      const backoff = Math.min(2000, 25 * 2 ** Math.min(attempt, 7));
      const wait = Number.isFinite(retryAfterMs) && retryAfterMs > 0 ? Math.min(retryAfterMs, 5000) : backoff;
      await sleep(Math.max(1, Math.min(wait, deadline - Date.now())), options.giveUp);
    }
  }
}

/** The problem's stable slug (e.g. idempotency-conflict, source-not-allowed) for metrics labels. */
function problemCode(err: ProblemError): string {
  const slug = err.body.type.slice(err.body.type.lastIndexOf('/') + 1);
  return /^[a-z0-9-]{1,64}$/.test(slug) ? slug : `http-${err.status}`;
}
