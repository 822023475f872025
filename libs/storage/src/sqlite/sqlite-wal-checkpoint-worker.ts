/**
 * Entry of the background checkpoint thread (sqlite-wal-checkpointer.ts): its own connection to the
 * audit database, a PASSIVE `wal_checkpoint` every `intervalMs`. PASSIVE takes no lock a writer or
 * reader waits for and never calls the busy handler: frames a reader still needs stay in the WAL
 * until a later tick.
 */
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import { databasePath } from './sqlite-database';
import { WalCheckpointerOptions, WalCheckpointerReply, WalCheckpointerRequest } from './sqlite-wal-checkpointer';

const port = parentPort!;
const options = workerData as WalCheckpointerOptions;

interface CheckpointRow {
  busy: number;
  log: number;
  checkpointed: number;
}

const db = new Database(databasePath(options.dataDir), { fileMustExist: true });
db.pragma('busy_timeout = 5000');
let lastFrames = -1;

function tick(): void {
  try {
    const started = performance.now();
    const [row] = db.pragma('wal_checkpoint(PASSIVE)') as CheckpointRow[];
    // Report only when there was something new to copy (an idle service stays quiet).
    if (row.log > 0 && !(row.log === lastFrames && row.checkpointed === row.log)) {
      port.postMessage({
        type: 'checkpoint',
        report: { walFrames: row.log, checkpointedFrames: Math.max(0, row.checkpointed), seconds: (performance.now() - started) / 1000 },
      } satisfies WalCheckpointerReply);
    }
    lastFrames = row.log;
  } catch (err) {
    port.postMessage({ type: 'error', code: (err as { code?: string }).code ?? 'unknown' } satisfies WalCheckpointerReply);
  }
}

const timer = setInterval(tick, Math.max(10, options.intervalMs));
port.on('message', (msg: WalCheckpointerRequest) => {
  if (msg.type !== 'stop') return;
  clearInterval(timer);
  db.close();
  port.postMessage({ type: 'stopped' } satisfies WalCheckpointerReply);
  port.close();
});
port.postMessage({ type: 'ready' } satisfies WalCheckpointerReply);
