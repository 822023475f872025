/**
 * Where the service's log lines go (stdout, stderr) when that sink fails: a full disk under a
 * redirected log file (ENOSPC, EFBIG), a log reader that went away (EPIPE, a closed pipe). A log line
 * that cannot be written is dropped and counted (audit_log_lines_dropped_total, metrics.service.ts);
 * it never throws into the caller and never crashes the process, so a broken log sink cannot take the
 * audit service down. Files are written with fs.writeSync on the descriptor, so lines flow again as
 * soon as space is freed (a Node stream stays errored for good after its first failure).
 */
import * as fs from 'node:fs';

export type LogStream = 'stdout' | 'stderr';

/** Lines dropped so far, per stream and error code (read by the metrics registry). */
const dropped = new Map<string, { stream: LogStream; reason: string; count: number }>();

export function droppedLogLines(): readonly { stream: LogStream; reason: string; count: number }[] {
  return [...dropped.values()];
}

function countDropped(stream: LogStream, err: unknown): void {
  const code = (err as { code?: unknown } | null)?.code;
  const reason = typeof code === 'string' && /^[A-Z0-9_]{1,40}$/.test(code) ? code : 'unknown';
  const key = `${stream}:${reason}`;
  const entry = dropped.get(key) ?? { stream, reason, count: 0 };
  entry.count++;
  dropped.set(key, entry);
}

const sinks = new Map<LogStream, (text: string) => void>();

/**
 * A writer of whole lines (text ending in a newline) to the process's stdout or stderr that never
 * throws: failures are counted and the line dropped. One per stream per process.
 */
export function lineSink(stream: LogStream): (text: string) => void {
  const existing = sinks.get(stream);
  if (existing) return existing;
  const fd = stream === 'stdout' ? 1 : 2;
  let isFile = false;
  try {
    isFile = fs.fstatSync(fd).isFile();
  } catch {
    /* no descriptor: every line is dropped below */
  }
  let sink: (text: string) => void;
  if (isFile) {
    // A line the disk took only part of (ENOSPC midway) is ended with a newline before the next one,
    // so a reader sees one torn line and then whole ones again.
    let torn = false;
    sink = (text) => {
      const prefix = torn ? 1 : 0;
      const buf = Buffer.from(torn ? '\n' + text : text);
      let off = 0;
      try {
        while (off < buf.length) off += fs.writeSync(fd, buf, off, buf.length - off);
        torn = false;
      } catch (err) {
        if (off > prefix) torn = true;
        else if (off === prefix) torn = false;
        countDropped(stream, err);
      }
    };
  } else {
    const out = process[stream];
    // An EPIPE after the reader closed arrives as an 'error' event: without a listener it would be
    // an uncaught exception. The line's own callback counts it.
    out.on('error', () => undefined);
    sink = (text) => {
      if (out.destroyed || out.writableEnded) {
        countDropped(stream, { code: 'EPIPE' });
        return;
      }
      try {
        out.write(text, (err) => {
          if (err) countDropped(stream, err);
        });
      } catch (err) {
        countDropped(stream, err);
      }
    };
  }
  sinks.set(stream, sink);
  return sink;
}
