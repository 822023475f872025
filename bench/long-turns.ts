/**
 * Long-turn report of the service's event loop from a V8 CPU profile: which work sits in the busy
 * stretches that make the single-event latency tail (issue 19, stop 29). A busy stretch is a run of
 * consecutive samples that are not `(idle)` (the loop waiting in epoll): one macrotask, or several
 * callbacks of one poll phase back to back, i.e. what a request arriving meanwhile waits for.
 *
 * Take the profile under the bench, then read the main thread's file (index 0 in its name):
 *   BENCH_SERVICE_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof --cpu-prof-interval=250" \
 *     BENCH_EVENTS=20000 BENCH_BATCH=100 npm run bench
 *   node dist/bench/long-turns.js /tmp/prof/CPU.<date>.<time>.<pid>.0.001.cpuprofile [--from S] [--to S] [--min-ms 20] [--per-turn] [--seconds]
 * --from / --to: seconds since the profile started (the bench's half-max part is its last ~8 s before
 * shutdown: `--seconds` prints the busy share of each second to find it); --min-ms: what counts as a
 * long stretch (default 20); --per-turn: each long stretch with its five largest parts.
 * Prints the stretch-length histogram, then for the long stretches the time by sampled function
 * (self) and by the outermost function of the service's own code (dist/libs, dist/apps) on the stack.
 * On a machine shared with other load the stretches include time the thread was descheduled: each
 * long stretch is also given as the time seen running (gaps between samples capped at twice the
 * sampling interval achieved), and the difference is time the process did not get a core.
 */
import * as fs from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}
interface Stretch {
  start: number;
  ms: number;
  samples: number[];
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const OWN = /dist\/(libs|apps)\//;

function main(): void {
  const file = process.argv[2];
  if (!file || !fs.existsSync(file)) {
    console.error('usage: node dist/bench/long-turns.js <main-thread .cpuprofile> [--from S] [--to S] [--min-ms 20] [--per-turn] [--seconds]');
    process.exit(2);
  }
  const from = Number(arg('--from') ?? 0);
  const to = Number(arg('--to') ?? Infinity);
  const minMs = Number(arg('--min-ms') ?? 20);
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const label = (n: ProfileNode) => `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(/.*\/(dist|node_modules)\//, '$1/')}:${n.callFrame.lineNumber + 1}`;
  const stack = (id: number): ProfileNode[] => {
    const out: ProfileNode[] = [];
    for (let x: number | undefined = id; x !== undefined; x = parent.get(x)) out.push(byId.get(x)!);
    return out;
  };
  const idle = (id: number) => byId.get(id)!.callFrame.functionName === '(idle)';

  // Sample i is taken at `at[i]` and stands for the time until the next one.
  const at: number[] = [];
  let t = profile.startTime;
  for (const d of profile.timeDeltas) at.push((t += d));
  const spanMs = (i: number) => (profile.timeDeltas[i + 1] ?? 0) / 1000;
  // The sampling interval actually achieved (median gap): a gap much longer than it inside a busy
  // stretch is time the thread (or the profiler's sampler) was not running: preemption on a loaded machine.
  const sortedGaps = profile.timeDeltas.slice(1).sort((a, b) => a - b);
  const intervalMs = (sortedGaps[Math.floor(sortedGaps.length / 2)] ?? 0) / 1000;
  const runningMs = (st: Stretch) => st.samples.reduce((n, i) => n + Math.min(spanMs(i), 2 * intervalMs), 0);
  const seconds = (i: number) => (at[i] - profile.startTime) / 1e6;

  if (process.argv.includes('--seconds')) {
    const perSecond = new Map<number, { busy: number; all: number }>();
    for (let i = 0; i < profile.samples.length; i++) {
      const s = Math.floor(seconds(i));
      const e = perSecond.get(s) ?? { busy: 0, all: 0 };
      e.all += spanMs(i);
      if (!idle(profile.samples[i])) e.busy += spanMs(i);
      perSecond.set(s, e);
    }
    for (const [s, e] of perSecond) console.log(`second ${s}: busy ${((100 * e.busy) / Math.max(e.all, 1e-9)).toFixed(0)} %`);
  }

  const stretches: Stretch[] = [];
  let current: Stretch | null = null;
  for (let i = 0; i < profile.samples.length; i++) {
    const s = seconds(i);
    if (s < from || s > to) continue;
    if (idle(profile.samples[i])) {
      if (current) stretches.push(current);
      current = null;
      continue;
    }
    current ??= { start: s, ms: 0, samples: [] };
    current.ms += spanMs(i);
    current.samples.push(i);
  }
  if (current) stretches.push(current);

  const bounds = [1, 5, 10, 20, 40, 80, Infinity];
  const counts = bounds.map(() => ({ n: 0, ms: 0 }));
  let busy = 0;
  for (const st of stretches) {
    const k = bounds.findIndex((b) => st.ms < b);
    counts[k].n++;
    counts[k].ms += st.ms;
    busy += st.ms;
  }
  console.log(`${stretches.length} busy stretches, ${busy.toFixed(0)} ms busy, from ${from} s to ${to === Infinity ? 'the end' : `${to} s`}`);
  bounds.forEach((b, k) => console.log(`  under ${b === Infinity ? 'any' : `${b} ms`}: ${counts[k].n} stretches, ${counts[k].ms.toFixed(0)} ms`));

  const long = stretches.filter((st) => st.ms >= minMs);
  const longMs = long.reduce((n, st) => n + st.ms, 0);
  const self = new Map<string, number>();
  const outer = new Map<string, number>();
  const outermostOwn = (nodes: ProfileNode[]) => {
    for (let k = nodes.length - 1; k >= 0; k--) if (OWN.test(nodes[k].callFrame.url)) return label(nodes[k]);
    return `(not the service's code) ${label(nodes[0])}`;
  };
  for (const st of long) {
    for (const i of st.samples) {
      const nodes = stack(profile.samples[i]);
      self.set(label(nodes[0]), (self.get(label(nodes[0])) ?? 0) + spanMs(i));
      const o = outermostOwn(nodes);
      outer.set(o, (outer.get(o) ?? 0) + spanMs(i));
    }
  }
  const top = (m: Map<string, number>, n: number) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, v]) => `  ${v.toFixed(1).padStart(8)} ms ${((100 * v) / Math.max(longMs, 1e-9)).toFixed(1).padStart(5)} %  ${k}`)
      .join('\n');
  const longRunning = long.reduce((n, st) => n + runningMs(st), 0);
  console.log(
    `\nstretches of ${minMs} ms or more: ${long.length}, ${longMs.toFixed(0)} ms; sampled at ~${intervalMs.toFixed(2)} ms, ${longRunning.toFixed(0)} ms of them seen running (the rest: gaps between samples over twice the interval, the thread descheduled)`,
  );
  console.log(`\nby sampled function (self):\n${top(self, 25)}`);
  console.log(`\nby outermost function of the service's code:\n${top(outer, 20)}`);
  if (process.argv.includes('--per-turn')) {
    console.log('');
    for (const st of long) {
      const parts = new Map<string, number>();
      for (const i of st.samples) {
        const o = outermostOwn(stack(profile.samples[i])).replace(/ (dist|node_modules)\/.*\//, ' ');
        parts.set(o, (parts.get(o) ?? 0) + spanMs(i));
      }
      const largest = [...parts].sort((a, b) => b[1] - a[1]).slice(0, 5);
      console.log(`${st.start.toFixed(2)} s, ${st.ms.toFixed(1)} ms (${st.samples.length} samples, ${runningMs(st).toFixed(1)} ms seen running): ${largest.map(([k, v]) => `${k} ${v.toFixed(1)}`).join(' | ')}`);
    }
  }
}

main();
