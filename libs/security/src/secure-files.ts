/**
 * Writing secrets and certificates safely: owner-only directories, files created with their final mode,
 * fsync'd, and put in place atomically (rename to replace, hard link to create without clobbering a
 * file another process created first).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** mkdir -p with mode 0700 for directories this library creates. */
export function ensurePrivateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
}

function writeTemp(target: string, content: string, mode: number): string {
  ensurePrivateDir(path.dirname(target));
  const tmp = `${target}.tmp-${process.pid}-${crypto.randomBytes(6).toString('hex')}`;
  const fd = fs.openSync(tmp, 'wx', mode);
  try {
    fs.writeFileSync(fd, content);
    fs.fchmodSync(fd, mode);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return tmp;
}

function fsyncDir(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    /* not supported everywhere */
  }
}

/** Create `target` only if it does not exist. Returns false (and leaves the file alone) if it does. */
export function writeFileNoClobber(target: string, content: string, mode: number): boolean {
  const tmp = writeTemp(target, content, mode);
  try {
    fs.linkSync(tmp, target);
    fsyncDir(path.dirname(target));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/** Write or replace `target` atomically with the given mode. */
export function writeFileAtomic(target: string, content: string, mode: number): void {
  const tmp = writeTemp(target, content, mode);
  try {
    fs.renameSync(tmp, target);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fsyncDir(path.dirname(target));
}
