/**
 * RFC 5425 octet-counting framing: frames split across chunks and packed into one chunk, oversize
 * frames skipped without buffering, truncated frames and garbage lengths reported (never thrown),
 * and back-pressure through the Transform.
 */
import { Readable } from 'node:stream';
import { DecodedFrameItem, OctetCountingFrameDecoder, OctetCountingFrameStream } from './octet-counting-frame-decoder';

function frame(message: string | Buffer): Buffer {
  const body = Buffer.isBuffer(message) ? message : Buffer.from(message, 'utf8');
  return Buffer.concat([Buffer.from(`${body.length} `), body]);
}

function summary(items: DecodedFrameItem[]): string[] {
  return items.map((i) => (i.type === 'frame' ? `frame:${i.message.toString('utf8')}` : `error:${i.code}${i.fatal ? ':fatal' : ''}`));
}

function decodeChunks(chunks: Buffer[], maxFrameBytes?: number): string[] {
  const d = new OctetCountingFrameDecoder({ maxFrameBytes });
  return summary([...chunks.flatMap((c) => d.push(c)), ...d.end()]);
}

describe('OctetCountingFrameDecoder', () => {
  const a = '<13>1 - h app - - - first';
  const b = '<13>1 - h app - - - sécond';

  it('decodes several frames in one chunk', () => {
    expect(decodeChunks([Buffer.concat([frame(a), frame(b), frame('x')])])).toEqual([`frame:${a}`, `frame:${b}`, 'frame:x']);
  });

  it('decodes frames split across chunks at every byte boundary', () => {
    const all = Buffer.concat([frame(a), frame(b)]);
    for (let cut = 1; cut < all.length; cut++) {
      expect(decodeChunks([all.subarray(0, cut), all.subarray(cut)])).toEqual([`frame:${a}`, `frame:${b}`]);
    }
    expect(decodeChunks([...all].map((byte) => Buffer.from([byte])))).toEqual([`frame:${a}`, `frame:${b}`]);
  });

  it('counts octets, not characters (multi-byte UTF-8)', () => {
    const m = 'ü'.repeat(10);
    expect(frame(m).toString('latin1').startsWith('20 ')).toBe(true);
    expect(decodeChunks([frame(m)])).toEqual([`frame:${m}`]);
  });

  it('skips an oversize frame without buffering it, and goes on with the next', () => {
    const d = new OctetCountingFrameDecoder({ maxFrameBytes: 100 });
    const big = frame('z'.repeat(5000));
    const items: DecodedFrameItem[] = [];
    for (let i = 0; i < big.length; i += 512) {
      items.push(...d.push(big.subarray(i, i + 512)));
      expect(d.bufferedBytes).toBe(0);
    }
    items.push(...d.push(frame(a)), ...d.end());
    expect(summary(items)).toEqual(['error:oversize', `frame:${a}`]);
    expect(items[0]).toEqual(expect.objectContaining({ fatal: false, declaredLength: 5000 }));
    expect(d.stats).toEqual({ frames: 1, errors: 1, bytesDiscarded: 5000 });
  });

  it('accepts a frame of exactly the maximum size', () => {
    expect(decodeChunks([frame('m'.repeat(100))], 100)).toEqual([`frame:${'m'.repeat(100)}`]);
  });

  it('reports a frame truncated at the end of input as an error, not a crash', () => {
    const whole = frame(a);
    expect(decodeChunks([frame(b), whole.subarray(0, whole.length - 3)])).toEqual([`frame:${b}`, 'error:truncated:fatal']);
    expect(decodeChunks([Buffer.from('12')])).toEqual(['error:truncated:fatal']);
    expect(decodeChunks([Buffer.from('12 ')])).toEqual(['error:truncated:fatal']);
    expect(decodeChunks([])).toEqual([]);
  });

  it.each([
    ['garbage', 'hello world'],
    ['non-transparent framing (a bare message)', '<13>1 - h app - - - msg\n'],
    ['a length with a leading zero', '05 hello'],
    ['a length of more than 10 digits', '12345678901 x'],
    ['a space with no length', ' 5 hello'],
    ['a length followed by something else than a space', '5\thello'],
  ])('treats %s as a fatal framing error and discards the rest', (_what, input) => {
    const d = new OctetCountingFrameDecoder();
    const items = [...d.push(Buffer.from(input)), ...d.push(frame(a)), ...d.end()];
    expect(summary(items)).toEqual(['error:bad-length:fatal']);
    expect(d.failed).toBe(true);
  });

  it('reports garbage after good frames only once', () => {
    expect(decodeChunks([frame(a), Buffer.from('garbage'), frame(b)])).toEqual([`frame:${a}`, 'error:bad-length:fatal']);
  });

  it('copies frames, so reusing the input chunk does not change them', () => {
    const chunk = Buffer.from('3 abc');
    const [item] = new OctetCountingFrameDecoder().push(chunk);
    chunk.fill(0x7a);
    expect(item.type === 'frame' && item.message.toString()).toBe('abc');
  });
});

describe('OctetCountingFrameStream', () => {
  it('emits frames and framing errors in order, and ends cleanly on a truncated frame', async () => {
    const input = Buffer.concat([frame('one'), frame('two'), Buffer.from('9 abc')]);
    const items: DecodedFrameItem[] = [];
    for await (const item of Readable.from([input.subarray(0, 7), input.subarray(7)]).pipe(new OctetCountingFrameStream())) items.push(item as DecodedFrameItem);
    expect(summary(items)).toEqual(['frame:one', 'frame:two', 'error:truncated:fatal']);
  });

  it('applies back-pressure: stops taking input while nobody reads, resumes when read', async () => {
    const stream = new OctetCountingFrameStream({ highWaterMarkItems: 4 });
    const chunk = Buffer.concat(Array.from({ length: 8 }, (_, i) => frame(`${'m'.repeat(200)}${i}`)));
    let accepted = 0;
    let blocked = false;
    for (let i = 0; i < 1000 && !blocked; i++) {
      blocked = !stream.write(chunk);
      accepted++;
    }
    await new Promise((r) => setImmediate(r));
    expect(blocked).toBe(true);
    expect(accepted).toBeLessThan(100);
    // The decoded side holds at most the high-water mark plus one chunk's frames.
    expect(stream.readableLength).toBeLessThanOrEqual(4 + 8);
    expect(stream.writableLength).toBeLessThanOrEqual(stream.writableHighWaterMark + chunk.length);

    const drained = new Promise((r) => stream.once('drain', r));
    let read = 0;
    stream.on('data', () => read++);
    await drained;
    stream.end();
    await new Promise((r) => stream.once('end', r));
    expect(read).toBe(accepted * 8);
  });
});
