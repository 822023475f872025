/**
 * One service per data dir: the service holds an exclusive SQLite lock on `DATA_DIR/service.lock`
 * (an open `BEGIN EXCLUSIVE` transaction, i.e. an fcntl lock) for its whole lifetime. The operating
 * system drops it when the process ends, however it ends (kill -9 included), so there is no stale
 * lock to clean up and no pid to guess about (pid 1 in every container). Who holds it (pid, host,
 * start time, and which `auditctl` command when it is not the service) is written next to it in
 * `service.lock.json`, for the refusal message. The `auditctl` commands that must not write beside a
 * running service (migrate, restore, retention run and restore) take the same lock for their run.
 */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const LOCK_FILE = 'service.lock';
export const LOCK_INFO_FILE = 'service.lock.json';

export interface LockHolder {
  pid: number;
  host: string;
  startedAt: string;
  /** The `auditctl` command holding it (absent: the service). */
  command?: string;
}

export class DataDirLockedError extends Error {
  constructor(
    readonly dataDir: string,
    readonly holder: LockHolder | null,
  ) {
    super(
      `${dataDir} is in use by ${holder?.command ? `auditctl ${holder.command}` : 'another service'}` +
        (holder ? ` (pid ${holder.pid} on ${holder.host}, started ${holder.startedAt})` : '') +
        (holder?.command ? ': wait for it to finish, then start again' : ': one service per data dir; stop it first, or give this one another DATA_DIR'),
    );
    this.name = 'DataDirLockedError';
  }
}

export class DataDirLock {
  private constructor(
    private readonly db: Database.Database,
    private readonly infoFile: string,
    readonly holder: LockHolder,
  ) {}

  /** Takes the data dir's lock (`command`: the auditctl command taking it), or throws DataDirLockedError naming who holds it. */
  static acquire(dataDir: string, command?: string): DataDirLock {
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const db = new Database(path.join(dataDir, LOCK_FILE));
    try {
      db.pragma('busy_timeout = 0');
      db.pragma('locking_mode = EXCLUSIVE');
      db.exec('BEGIN EXCLUSIVE');
    } catch (err) {
      db.close();
      if ((err as { code?: string }).code === 'SQLITE_BUSY' || (err as { code?: string }).code === 'SQLITE_LOCKED') {
        throw new DataDirLockedError(dataDir, readHolder(path.join(dataDir, LOCK_INFO_FILE)));
      }
      throw err;
    }
    const holder: LockHolder = { pid: process.pid, host: os.hostname(), startedAt: new Date().toISOString(), ...(command ? { command } : {}) };
    const infoFile = path.join(dataDir, LOCK_INFO_FILE);
    fs.writeFileSync(infoFile, JSON.stringify(holder) + '\n', { mode: 0o600 });
    return new DataDirLock(db, infoFile, holder);
  }

  /** Lets the lock go (the process ending does the same). */
  release(): void {
    if (!this.db.open) return;
    try {
      const info = readHolder(this.infoFile);
      if (info && info.pid === this.holder.pid && info.startedAt === this.holder.startedAt) fs.rmSync(this.infoFile, { force: true });
    } finally {
      this.db.close();
    }
  }
}

function readHolder(file: string): LockHolder | null {
  try {
    const v = JSON.parse(fs.readFileSync(file, 'utf8')) as LockHolder;
    if (typeof v.pid !== 'number' || typeof v.host !== 'string' || typeof v.startedAt !== 'string') return null;
    return { pid: v.pid, host: v.host, startedAt: v.startedAt, ...(typeof v.command === 'string' ? { command: v.command } : {}) };
  } catch {
    return null;
  }
}
