/** Progress bars for long CLI work, shown only on a terminal (stderr), silent in pipes and CI. */
import { MultiBar, Presets, SingleBar } from 'cli-progress';

export interface Progress {
  update(label: string, done: number, total: number): void;
  stop(): void;
}

export function progressBar(enabled = Boolean(process.stderr.isTTY)): Progress {
  if (!enabled) return { update: () => undefined, stop: () => undefined };
  const multi = new MultiBar(
    { format: ' {label} |{bar}| {percentage}% {value}/{total} records', hideCursor: true, clearOnComplete: false, stream: process.stderr },
    Presets.shades_classic,
  );
  const bars = new Map<string, SingleBar>();
  return {
    update(label, done, total) {
      let bar = bars.get(label);
      if (!bar) {
        bar = multi.create(Math.max(total, done, 1), 0, { label: label.padEnd(18) });
        bars.set(label, bar);
      }
      bar.setTotal(Math.max(total, done, 1));
      bar.update(done, { label: label.padEnd(18) });
    },
    stop() {
      multi.stop();
    },
  };
}
