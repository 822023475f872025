/**
 * Helpers of the fault suite (test/faults): the compiled service started as a child process with its
 * stdout where the fault needs it (a file on a small filesystem, a pipe the test closes), tokens
 * and clients for it, and a tmpfs the test mounts (root in a container; the suite says so loudly
 * and skips when the machine cannot).
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfig } from '@app/core';
import { Role, TokenService } from '@app/security';
import { ApiClient, localCa } from '../../apps/auditctl/src/api-client';
import { API_MAIN, REPO_ROOT, waitForExit } from '../support/cli';
import { appendServiceLog, serviceLogFile } from '../support/log-capture';

export interface Receipt {
  id: string;
  chain: string;
  seq: number;
  hash: string;
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  for (const until = Date.now() + ms; ; await new Promise((r) => setTimeout(r, 100))) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`gave up waiting for ${what}`);
  }
}

/** Mounts a tmpfs of `sizeMiB` at a new directory; null (with the reason) when this machine does not allow it. */
export function mountTmpfs(dir: string, sizeMiB: number): { ok: true } | { ok: false; why: string } {
  fs.mkdirSync(dir, { recursive: true });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m,mode=0700`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status === 0) return { ok: true };
  return { ok: false, why: (r.error?.message ?? r.stderr ?? `exit ${r.status}`).trim() };
}

export function unmount(dir: string): void {
  spawnSync('umount', ['-l', dir]);
}

/** Takes free space on the filesystem of `dir` with a new file until about `leaveBytes` are left. */
export function takeSpace(dir: string, name: string, leaveBytes: number): string {
  const file = path.join(dir, name);
  const { bavail, bsize } = fs.statfsSync(dir);
  const take = Math.max(0, bavail * bsize - leaveBytes);
  const fd = fs.openSync(file, 'a');
  try {
    const chunk = Buffer.alloc(1024 * 1024, 1);
    for (let done = 0; done < take; done += chunk.length) fs.writeSync(fd, chunk, 0, Math.min(chunk.length, take - done));
  } finally {
    fs.closeSync(fd);
  }
  return file;
}

/** Fills the filesystem of `dir` with a file until the kernel says ENOSPC; returns the file. */
export function fillDisk(dir: string): string {
  const file = path.join(dir, 'filler');
  const fd = fs.openSync(file, 'a');
  try {
    for (const size of [1024 * 1024, 64 * 1024, 4096, 512]) {
      const chunk = Buffer.alloc(size, 1);
      for (;;) {
        try {
          fs.writeSync(fd, chunk);
        } catch (err) {
          if ((err as { code?: string }).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  return file;
}

export interface FaultService {
  child: ChildProcess;
  url: string;
  client(role: Role | null): Promise<ApiClient>;
  stop(): Promise<void>;
}

/**
 * Starts the service on `dataDir` with stdout to `stdout`: a file path (appended), or 'pipe' (the
 * returned child's stdout, which the test may close). Resolves once it logged that it listens.
 */
export async function startFaultService(dataDir: string, stdout: string | 'pipe', env: NodeJS.ProcessEnv = {}): Promise<FaultService> {
  const outFd = stdout === 'pipe' ? 'pipe' : fs.openSync(stdout, 'a');
  const child = spawn(process.execPath, [API_MAIN], {
    cwd: REPO_ROOT,
    env: { ...process.env, NODE_ENV: 'test', PORT: '0', DATA_DIR: dataDir, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', outFd, 'pipe'],
  });
  if (typeof outFd === 'number') fs.closeSync(outFd);
  const stderr: string[] = [];
  const scanLog = serviceLogFile('fault-service');
  child.stderr!.on('data', (d: Buffer) => {
    stderr.push(d.toString());
    appendServiceLog(scanLog, d.toString());
  });
  let seen = '';
  const readOut = (): string => {
    if (stdout !== 'pipe') return fs.readFileSync(stdout, 'utf8');
    return seen;
  };
  if (stdout === 'pipe') {
    child.stdout!.on('data', (d: Buffer) => {
      seen += d.toString();
      appendServiceLog(scanLog, d.toString());
    });
  }
  const url = await waitFor(
    'the service to listen',
    async () => {
      if (child.exitCode !== null) throw new Error(`service exited with ${child.exitCode}: ${stderr.join('')}`);
      for (const line of readOut().split('\n')) {
        try {
          const entry = JSON.parse(line) as { msg?: string; listenUrl?: string };
          if (entry.msg === 'listening' && entry.listenUrl) return entry.listenUrl;
        } catch {
          /* not a whole JSON line yet */
        }
      }
      return undefined;
    },
    60_000,
  );
  const tokens = new TokenService(loadConfig({}, { dataDir }));
  const clients: ApiClient[] = [];
  return {
    child,
    url,
    async client(role) {
      const token = role ? await tokens.issue({ role, sub: role === 'integration' ? 'sample-ehr' : `fault-${role}`, ttl: '1h' }) : '';
      const c = new ApiClient(url, token, { caPem: localCa(dataDir), maxSockets: 8 });
      clients.push(c);
      return c;
    },
    async stop() {
      for (const c of clients) c.close();
      child.kill('SIGTERM');
      await waitForExit(child);
      // What it wrote to a file goes to the whole-suite PHI scan too.
      if (stdout !== 'pipe' && fs.existsSync(stdout)) appendServiceLog(scanLog, fs.readFileSync(stdout, 'utf8'));
    },
  };
}

/** Every acknowledged receipt is readable unchanged (16 at a time). */
export async function expectAllStored(reader: ApiClient, acknowledged: Map<string, Receipt>): Promise<void> {
  const ids = [...acknowledged.keys()];
  for (let i = 0; i < ids.length; i += 16) {
    await Promise.all(
      ids.slice(i, i + 16).map(async (id) => {
        const res = await reader.request('GET', `/v1/events/${id}`);
        expect(res.status).toBe(200);
        expect(JSON.parse(res.body).receipt).toEqual(acknowledged.get(id));
      }),
    );
  }
}
