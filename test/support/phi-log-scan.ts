/**
 * The whole-suite PHI scan (issue 5: "after the whole test suite runs, a test scans everything the
 * service logged and finds none of the patient ids or IPs that were posted"). Test helpers write
 * every service log (in-process apps and spawned services) to files under the run directory and
 * register the identifiers they post as markers; jest's globalTeardown scans all of those files for
 * all of those markers and fails the run naming file and line, never the identifier itself.
 *
 * Only node built-ins here: jest loads globalSetup/globalTeardown without the @app path mapping.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export const RUN_DIR_ENV = 'AUDIT_TEST_RUN_DIR';

/** `name` and `address`: clear names and addresses posted in context feeds (kept only as tokens). */
export type MarkerKind = 'patient-id' | 'actor-id' | 'ip' | 'name' | 'address';

export interface PhiMarker {
  kind: MarkerKind;
  value: string;
  /** Where it was planted (the test file that posted it), for the failure message. */
  plantedBy?: string;
}

export interface PhiFinding {
  file: string;
  line: number;
  kind: MarkerKind;
  plantedBy?: string;
}

/** The run directory of this jest run, or undefined when jest was started without the global setup. */
export function runDir(): string | undefined {
  const dir = process.env[RUN_DIR_ENV];
  return dir && fs.existsSync(dir) ? dir : undefined;
}

export function logsDir(dir: string): string {
  return path.join(dir, 'service-logs');
}

export function markersDir(dir: string): string {
  return path.join(dir, 'phi-markers');
}

const LOOPBACK_OR_UNSPECIFIED = /^(127\.|0\.0\.0\.0$|::1?$|::ffff:127\.)/i;

/** Whether a value is distinctive enough to scan for without matching ordinary log text. */
export function isScannable(kind: MarkerKind, value: string): boolean {
  if (typeof value !== 'string') return false;
  if (kind === 'ip') return value.length >= 7 && !LOOPBACK_OR_UNSPECIFIED.test(value);
  return value.length >= (kind === 'patient-id' ? 4 : 6) && /[A-Za-z0-9]/.test(value);
}

/** Reads every marker file of a run (one JSON marker per line). */
export function loadMarkers(dir: string): PhiMarker[] {
  const mdir = markersDir(dir);
  if (!fs.existsSync(mdir)) return [];
  const seen = new Map<string, PhiMarker>();
  for (const f of fs.readdirSync(mdir)) {
    for (const line of fs.readFileSync(path.join(mdir, f), 'utf8').split('\n')) {
      if (!line) continue;
      try {
        const m = JSON.parse(line) as PhiMarker;
        if (isScannable(m.kind, m.value) && !seen.has(m.value)) seen.set(m.value, m);
      } catch {
        /* a torn last line of a worker that was killed */
      }
    }
  }
  return [...seen.values()];
}

/** Every service log file of a run. */
export function listLogFiles(dir: string): string[] {
  const ldir = logsDir(dir);
  return fs.existsSync(ldir) ? fs.readdirSync(ldir).filter((f) => f.endsWith('.log')).map((f) => path.join(ldir, f)).sort() : [];
}

const WORD = /[A-Za-z0-9]/;

/**
 * Finds every occurrence of a marker in the files (a marker counts where it is not part of a longer
 * word: `10.1.2.3` is not found in `10.1.2.34`). One finding per file, line and marker.
 */
export function scanLogFiles(files: readonly string[], markers: readonly PhiMarker[]): PhiFinding[] {
  const findings: PhiFinding[] = [];
  for (const file of files) {
    const text = fs.readFileSync(file, 'utf8');
    let lineStarts: number[] | undefined;
    const lineOf = (index: number): number => {
      lineStarts ??= [0, ...[...text.matchAll(/\n/g)].map((m) => m.index! + 1)];
      let lo = 0;
      let hi = lineStarts.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (lineStarts[mid]! <= index) lo = mid;
        else hi = mid - 1;
      }
      return lo + 1;
    };
    for (const m of markers) {
      const lines = new Set<number>();
      for (let at = text.indexOf(m.value); at >= 0; at = text.indexOf(m.value, at + 1)) {
        const before = at > 0 ? text[at - 1]! : '';
        const after = text[at + m.value.length] ?? '';
        if (WORD.test(before) || WORD.test(after)) continue;
        const line = lineOf(at);
        if (lines.has(line)) continue;
        lines.add(line);
        findings.push({ file, line, kind: m.kind, ...(m.plantedBy ? { plantedBy: m.plantedBy } : {}) });
      }
    }
  }
  return findings.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line);
}

/** The failure message: file and line of each finding and what kind of identifier, never the identifier. */
export function describeFindings(findings: readonly PhiFinding[], max = 50): string {
  const lines = findings
    .slice(0, max)
    .map((f) => `  ${f.file}:${f.line}: a posted ${f.kind}${f.plantedBy ? ` (posted by ${f.plantedBy})` : ''}`);
  if (findings.length > max) lines.push(`  ... and ${findings.length - max} more`);
  return `Service logs carry PHI posted by the tests (${findings.length} finding(s)):\n${lines.join('\n')}`;
}
