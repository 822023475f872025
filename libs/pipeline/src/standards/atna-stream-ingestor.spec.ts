/**
 * ingestAtnaStream over an in-memory stream (no TLS): frames that arrive together go into one
 * ingest call; nothing more is read while a batch is being stored (bounded memory, the input stays
 * buffered upstream); 409/403 refusals drop only the events concerned; 503 and 429 are retried;
 * a fatal framing error ends the stream; stop ends it after storing what was already decoded.
 */
import { PassThrough } from 'node:stream';
import { AccessEvent, ProblemError, Problems, Receipt } from '@app/core';
import { mapAtnaSyslogFrame } from '@app/standards';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AtnaEventSink } from './atna-event-sink.port';
import { ingestAtnaStream } from './atna-stream-ingestor';

const XML = readFileSync(join(__dirname, '..', '..', '..', 'standards', 'src', 'atna', 'fixtures', 'patient-record-read.xml'), 'utf8');

function message(n: number): Buffer {
  return Buffer.from(`<85>1 2024-03-14T09:26:53Z ehr01 EHR_APP 1 IHE+RFC-3881 - ${XML.replace('PAT-7731', `PAT-${n}`)}`);
}
function frame(m: Buffer | string): Buffer {
  const b = Buffer.isBuffer(m) ? m : Buffer.from(m);
  return Buffer.concat([Buffer.from(`${b.length} `), b]);
}
function idOf(n: number): string {
  const r = mapAtnaSyslogFrame(message(n), { integration: 'ehr' });
  if (!r.ok) throw new Error('fixture does not map');
  return r.event.id;
}

class RecordingSink implements AtnaEventSink {
  readonly calls: AccessEvent[][] = [];
  gate?: Promise<void>;
  failWith?: (events: AccessEvent[], call: number) => ProblemError | undefined;

  async ingestValidated(events: AccessEvent[]): Promise<Receipt[]> {
    this.calls.push(events);
    const err = this.failWith?.(events, this.calls.length);
    if (err) throw err;
    if (this.gate) await this.gate;
    return events.map((e, i) => ({ id: e.id, chain: e.category, seq: i, hash: '00' }));
  }

  get stored(): string[] {
    return this.calls.flat().map((e) => e.id);
  }
}

describe('ingestAtnaStream', () => {
  it('stores frames that arrive together in one ingest call, with the integration as source', async () => {
    const input = new PassThrough();
    const sink = new RecordingSink();
    const done = ingestAtnaStream(input, { integration: 'ehr', sink, maxFrameBytes: 65536 });
    input.end(Buffer.concat([1, 2, 3, 4].map((n) => frame(message(n)))));
    const result = await done;
    expect(result).toMatchObject({ frames: 4, stored: 4, rejected: 0, batches: 1, endedBy: 'end' });
    expect(sink.calls).toHaveLength(1);
    expect(sink.calls[0].map((e) => e.id)).toEqual([1, 2, 3, 4].map(idOf));
    expect(sink.calls[0].every((e) => e.source.integration === 'ehr')).toBe(true);
  });

  it('reads nothing more while a batch is being stored (the rest stays upstream), then stores all in order', async () => {
    const input = new PassThrough({ highWaterMark: 16 * 1024 });
    const sink = new RecordingSink();
    let release!: () => void;
    sink.gate = new Promise<void>((r) => (release = r));
    const done = ingestAtnaStream(input, { integration: 'ehr', sink, maxFrameBytes: 65536, highWaterMarkItems: 16, maxBatchEvents: 100 });
    const all = Buffer.concat(Array.from({ length: 600 }, (_, n) => frame(message(n))));
    for (let i = 0; i < all.length; i += 16 * 1024) input.write(all.subarray(i, i + 16 * 1024));
    input.end();
    await new Promise((r) => setTimeout(r, 100));
    // One batch is in flight; the decoder holds a bounded number of frames; the rest was not read.
    expect(sink.calls).toHaveLength(1);
    expect(sink.calls[0].length).toBeLessThanOrEqual(100);
    expect(input.readableLength).toBeGreaterThan(all.length - 256 * 1024);
    sink.gate = undefined;
    release();
    const result = await done;
    expect(result.stored).toBe(600);
    expect(sink.stored).toEqual(Array.from({ length: 600 }, (_, n) => idOf(n)));
    expect(sink.calls.every((c) => c.length <= 100)).toBe(true);
  });

  it('counts malformed input and keeps going; an oversize frame is skipped', async () => {
    const input = new PassThrough();
    const sink = new RecordingSink();
    const done = ingestAtnaStream(input, { integration: 'ehr', sink, maxFrameBytes: 4096 });
    input.end(Buffer.concat([frame(message(1)), frame('garbage'), frame(Buffer.alloc(5000, 0x41)), frame(message(2).toString().replace('<AuditMessage', '<Nope')), frame(message(3))]));
    const result = await done;
    expect(result).toMatchObject({ frames: 4, stored: 2, rejected: 3, endedBy: 'end' });
    expect(sink.stored).toEqual([idOf(1), idOf(3)]);
  });

  it('ends at a fatal framing error after storing what came before it', async () => {
    const input = new PassThrough();
    const sink = new RecordingSink();
    const done = ingestAtnaStream(input, { integration: 'ehr', sink, maxFrameBytes: 65536 });
    input.write(Buffer.concat([frame(message(1)), Buffer.from('<85>1 not framed\n'), frame(message(2))]));
    const result = await done;
    expect(result.endedBy).toBe('framing-error');
    expect(sink.stored).toEqual([idOf(1)]);
    input.destroy();
  });

  it('a 409 or 403 drops only the events concerned; the rest of the batch is stored', async () => {
    const input = new PassThrough();
    const sink = new RecordingSink();
    const bad = new Set([idOf(2), idOf(4)]);
    sink.failWith = (events) => {
      if (events.some((e) => e.id === idOf(2))) return Problems.conflict('idempotency-conflict', 'x');
      if (events.some((e) => e.id === idOf(4))) return Problems.sourceNotAllowed([{ pointer: '/source/system', message: 'x' }]);
      return undefined;
    };
    const result = await (async () => {
      const p = ingestAtnaStream(input, { integration: 'ehr', sink, maxFrameBytes: 65536 });
      input.end(Buffer.concat([1, 2, 3, 4, 5].map((n) => frame(message(n)))));
      return p;
    })();
    expect(result).toMatchObject({ stored: 3, refused: 2, failed: 0, endedBy: 'end' });
    expect(sink.calls.filter((c) => c.length === 1 && !bad.has(c[0].id)).map((c) => c[0].id)).toEqual([1, 3, 5].map(idOf));
  });

  it('retries while the writer is saturated (503) or the integration is over its rate (429)', async () => {
    const input = new PassThrough();
    const sink = new RecordingSink();
    sink.failWith = (_events, call) => (call === 1 ? Problems.unavailable('busy', 1) : call === 2 ? Problems.tooManyRequests(1) : undefined);
    const started = Date.now();
    const p = ingestAtnaStream(input, { integration: 'ehr', sink, maxFrameBytes: 65536 });
    input.end(frame(message(1)));
    const result = await p;
    expect(result).toMatchObject({ stored: 1, failed: 0 });
    expect(sink.calls).toHaveLength(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000); // Retry-After was honoured
  });

  it('gives up and ends the connection when the store stays unusable', async () => {
    const input = new PassThrough();
    const sink = new RecordingSink();
    sink.failWith = () => Problems.unavailable('down', 1);
    const p = ingestAtnaStream(input, { integration: 'ehr', sink, maxFrameBytes: 65536, retryForMs: 50 });
    input.write(frame(message(1)));
    const result = await p;
    expect(result).toMatchObject({ stored: 0, failed: 1, endedBy: 'store-failure' });
    input.destroy();
  });

  it('stop: stores what was already decoded, reads no more, and ends', async () => {
    const input = new PassThrough();
    const sink = new RecordingSink();
    const stop = new AbortController();
    const p = ingestAtnaStream(input, { integration: 'ehr', sink, maxFrameBytes: 65536, stop: stop.signal });
    input.write(Buffer.concat([frame(message(1)), frame(message(2))]));
    await new Promise((r) => setTimeout(r, 50));
    stop.abort();
    input.write(frame(message(3)));
    const result = await p;
    expect(result.endedBy).toBe('stopped');
    expect(sink.stored).toEqual([idOf(1), idOf(2)]);
  });

  it('an input closed mid-frame (reset) reports the frame as truncated and ends', async () => {
    const input = new PassThrough();
    const sink = new RecordingSink();
    const p = ingestAtnaStream(input, { integration: 'ehr', sink, maxFrameBytes: 65536 });
    input.write(Buffer.concat([frame(message(1)), Buffer.from('900 <85>1 2024')]));
    await new Promise((r) => setTimeout(r, 50));
    input.destroy();
    const result = await p;
    expect(result.endedBy).toBe('framing-error');
    expect(sink.stored).toEqual([idOf(1)]);
  });
});
