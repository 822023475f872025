/** Progress bars for long CLI work, shown only on a terminal (stderr), silent in pipes and CI. */
import { MultiBar, Presets, SingleBar } from 'cli-progress';

export interface Progress {
  /** `unit` names what is counted (default records). */
  update(label: string, done: number, total: number, unit?: string): void;
  stop(): void;
}

export function progressBar(enabled = Boolean(process.stderr.isTTY)): Progress {
  if (!enabled) return { update: () => undefined, stop: () => undefined };
  const multi = new MultiBar(
    { format: ' {label} |{bar}| {percentage}% {value}/{total} {unit}', hideCursor: true, clearOnComplete: false, stream: process.stderr },
    Presets.shades_classic,
  );
  const bars = new Map<string, SingleBar>();
  return {
    update(label, done, total, unit = 'records') {
      let bar = bars.get(label);
      if (!bar) {
        bar = multi.create(Math.max(total, done, 1), 0, { label: label.padEnd(18), unit });
        bars.set(label, bar);
      }
      bar.setTotal(Math.max(total, done, 1));
      bar.update(done, { label: label.padEnd(18), unit });
    },
    stop() {
      multi.stop();
    },
  };
}
