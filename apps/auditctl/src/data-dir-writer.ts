/**
 * The data-dir lock for `auditctl` commands that must not write beside a running service
 * (docs/operations.md "One writer per data dir"): `migrate`, `restore`, `retention run` (not
 * `--dry-run`) and `retention restore` take the service's lock (DATA_DIR/service.lock) for their
 * whole run. While a service (or another such command) holds it they are refused, exit code 2,
 * with a message naming the holder's pid and what to do instead; a service started meanwhile is
 * refused naming the command. Commands made to run beside the service (token/certs revoke, users,
 * keys and data-keys rotate, backup, detect, verify, export, seed, context load) do not take it.
 */
import { DataDirLock, DataDirLockedError } from '@app/storage';

/**
 * Runs `work` holding the data dir's lock; when someone else holds it, prints why (stderr) and
 * sets exit code 2 without running it. `instead`: what to do while the service runs.
 */
export async function asDataDirWriter(dataDir: string, command: string, instead: string, work: () => void | Promise<void>): Promise<void> {
  let lock: DataDirLock;
  try {
    lock = DataDirLock.acquire(dataDir, command);
  } catch (err) {
    if (!(err instanceof DataDirLockedError)) throw err;
    const h = err.holder;
    const who = h?.command ? `auditctl ${h.command}` : 'the running service';
    const at = h ? ` (pid ${h.pid} on ${h.host}, started ${h.startedAt})` : '';
    process.stderr.write(`auditctl ${command}: ${dataDir} is in use by ${who}${at}; ${h?.command ? 'wait for it to finish and run this again' : instead}\n`);
    process.exitCode = 2;
    return;
  }
  try {
    await work();
  } finally {
    lock.release();
  }
}
