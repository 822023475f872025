/**
 * RFC 5425 (syslog over TLS) octet-counting framing: `MSG-LEN SP SYSLOG-MSG`, MSG-LEN a decimal
 * without leading zero. `OctetCountingFrameDecoder` is the pure state machine fed Buffers;
 * `OctetCountingFrameStream` wraps it as a Transform (bytes in, decoded items out) that applies
 * back-pressure: it holds at most one partial frame (bounded by `maxFrameBytes`) and stops taking
 * input while its readable side is full.
 *
 * Framing problems come out in-band as `framing-error` items, never as thrown exceptions:
 * - `oversize`: a frame longer than `maxFrameBytes` is skipped (its bytes are discarded as they
 *   arrive, never buffered) and decoding continues with the next frame; not fatal;
 * - `bad-length`: the stream does not start a frame with a valid length (garbage, a leading zero,
 *   non-transparent framing, more than 10 digits); framing is lost, so it is fatal and the rest of
 *   the input is discarded: the owner should close the connection;
 * - `truncated`: the input ended inside a frame; fatal.
 */
import { Transform, TransformCallback } from 'node:stream';

export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024;
/** 10 digits: lengths up to 9,999,999,999; anything longer cannot be a syslog frame. */
const MAX_LENGTH_DIGITS = 10;

export type FramingErrorCode = 'bad-length' | 'oversize' | 'truncated';

export type DecodedFrameItem =
  | { type: 'frame'; message: Buffer }
  | { type: 'framing-error'; code: FramingErrorCode; fatal: boolean; message: string; declaredLength?: number };

export interface FrameDecoderOptions {
  /** Largest frame (SYSLOG-MSG bytes) accepted; larger ones are skipped (default 64 KiB). */
  maxFrameBytes?: number;
}

export interface FrameDecoderStats {
  frames: number;
  errors: number;
  bytesDiscarded: number;
}

type State = 'length' | 'body' | 'skip' | 'failed';

export class OctetCountingFrameDecoder {
  readonly maxFrameBytes: number;
  readonly stats: FrameDecoderStats = { frames: 0, errors: 0, bytesDiscarded: 0 };
  private state: State = 'length';
  private digits = '';
  private declared = 0;
  private remaining = 0;
  private parts: Buffer[] = [];

  constructor(options: FrameDecoderOptions = {}) {
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    if (!Number.isSafeInteger(this.maxFrameBytes) || this.maxFrameBytes < 1) throw new RangeError('maxFrameBytes must be a positive integer');
  }

  /** True once framing was lost; everything fed afterwards is discarded. */
  get failed(): boolean {
    return this.state === 'failed';
  }

  /** Bytes of the frame being assembled (never more than maxFrameBytes). */
  get bufferedBytes(): number {
    return this.parts.reduce((n, p) => n + p.length, 0);
  }

  /** Feeds bytes; returns the frames and framing errors they complete, in order. */
  push(chunk: Buffer): DecodedFrameItem[] {
    const out: DecodedFrameItem[] = [];
    let i = 0;
    while (i < chunk.length) {
      switch (this.state) {
        case 'failed':
          this.stats.bytesDiscarded += chunk.length - i;
          i = chunk.length;
          break;
        case 'length': {
          const b = chunk[i];
          if (b >= 0x30 && b <= 0x39) {
            if (this.digits.length === 0 && b === 0x30) {
              out.push(this.fail('bad-length', 'frame length must not start with 0 (RFC 5425 MSG-LEN)'));
            } else if (this.digits.length >= MAX_LENGTH_DIGITS) {
              out.push(this.fail('bad-length', `frame length has more than ${MAX_LENGTH_DIGITS} digits`));
            } else {
              this.digits += String.fromCharCode(b);
              i++;
            }
          } else if (b === 0x20 && this.digits.length > 0) {
            i++;
            this.declared = Number(this.digits);
            this.remaining = this.declared;
            this.digits = '';
            if (this.declared > this.maxFrameBytes) {
              this.stats.errors++;
              this.state = 'skip';
              out.push({ type: 'framing-error', code: 'oversize', fatal: false, message: `frame of ${this.declared} bytes exceeds the ${this.maxFrameBytes}-byte limit; skipped`, declaredLength: this.declared });
            } else {
              this.state = 'body';
            }
          } else {
            out.push(this.fail('bad-length', 'expected a decimal frame length and a space (RFC 5425 octet-counting framing)'));
          }
          break;
        }
        case 'body': {
          const take = Math.min(this.remaining, chunk.length - i);
          this.parts.push(chunk.subarray(i, i + take));
          this.remaining -= take;
          i += take;
          if (this.remaining === 0) {
            const message = Buffer.concat(this.parts); // copies: the frame never pins the socket's chunk
            this.parts = [];
            this.state = 'length';
            this.stats.frames++;
            out.push({ type: 'frame', message });
          }
          break;
        }
        case 'skip': {
          const take = Math.min(this.remaining, chunk.length - i);
          this.remaining -= take;
          this.stats.bytesDiscarded += take;
          i += take;
          if (this.remaining === 0) this.state = 'length';
          break;
        }
      }
    }
    return out;
  }

  /** Signals the end of input: a frame left incomplete is reported as `truncated`. */
  end(): DecodedFrameItem[] {
    const incomplete = (this.state === 'length' && this.digits.length > 0) || this.state === 'body' || this.state === 'skip';
    if (!incomplete) return [];
    const item: DecodedFrameItem = {
      type: 'framing-error',
      code: 'truncated',
      fatal: true,
      message: this.state === 'length' ? 'input ended inside a frame length' : 'input ended inside a frame',
      ...(this.state === 'length' ? {} : { declaredLength: this.declared }),
    };
    this.stats.bytesDiscarded += this.bufferedBytes;
    this.stats.errors++;
    this.parts = [];
    this.digits = '';
    this.state = 'failed';
    return [item];
  }

  private fail(code: FramingErrorCode, message: string): DecodedFrameItem {
    this.stats.errors++;
    this.state = 'failed';
    this.stats.bytesDiscarded += this.bufferedBytes;
    this.parts = [];
    this.digits = '';
    return { type: 'framing-error', code, fatal: true, message };
  }
}

export interface FrameStreamOptions extends FrameDecoderOptions {
  /** Decoded items held before the stream stops reading input (default 16). */
  highWaterMarkItems?: number;
}

/**
 * Bytes in, `DecodedFrameItem`s out (object mode). Pipe a TLS socket into it; read items with
 * `for await` or 'data'. While the consumer lags, the Transform withholds its write callback, the
 * socket's pipe pauses, and TCP flow control pushes back on the sender.
 */
export class OctetCountingFrameStream extends Transform {
  readonly decoder: OctetCountingFrameDecoder;

  constructor(options: FrameStreamOptions = {}) {
    super({ readableObjectMode: true, writableObjectMode: false, readableHighWaterMark: options.highWaterMarkItems ?? 16 });
    this.decoder = new OctetCountingFrameDecoder(options);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    for (const item of this.decoder.push(chunk)) this.push(item);
    callback();
  }

  override _flush(callback: TransformCallback): void {
    for (const item of this.decoder.end()) this.push(item);
    callback();
  }
}
