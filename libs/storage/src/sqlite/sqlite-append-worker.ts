/**
 * Entry of the writer thread (WRITER_THREAD=true): owns its own connection to the audit database and
 * runs the append transaction (sealing, patient tokens, inserts, fsync'd COMMIT) off the event loop.
 * The main thread chains the records (sequence numbers, hashes) and sends whole groups; each group is
 * one transaction, answered with `ok` only after its commit returned (it is on disk), or with why it
 * failed. Groups are committed one at a time, in the order they arrive.
 */
import * as fs from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { loadFieldProtection } from '../field-protection.port';
import { openDatabase } from './sqlite-database';
import { AppendRow, appendFailure, prepareAppend } from './sqlite-append';
import { AppendThreadOptions, AppendThreadReply, AppendThreadRequest, HASH_BYTES, WRITER_THREAD_NAME, appendEventOf } from './sqlite-append-thread';

const port = parentPort!;
const options = workerData as AppendThreadOptions;

try {
  // Named so that top -H, ps -L and the benches (/proc/<pid>/task/<tid>/comm) tell it from the other
  // threads; /proc/thread-self is the calling thread: this worker's, not the process's main thread.
  fs.writeFileSync('/proc/thread-self/comm', WRITER_THREAD_NAME);
} catch {
  /* no /proc (not Linux), or not allowed: the thread keeps the process's name */
}

/** Fault-injection hook of the test suite only (sqlite-append-thread.ts): while this file exists, each group waits like a stuck fsync. */
const holdFile = options.testHoldFile;
const holdCell = new Int32Array(new SharedArrayBuffer(4));

function holdWhileAsked(): void {
  while (holdFile && fs.existsSync(holdFile)) Atomics.wait(holdCell, 0, 0, 20);
}

try {
  const db = openDatabase(options.dataDir, { backgroundCheckpoints: options.backgroundCheckpoints });
  const append = prepareAppend(db, loadFieldProtection(options.protection), { maxPartitionRows: options.maxPartitionRows });
  port.on('message', (msg: AppendThreadRequest) => {
    if (msg.type === 'close') {
      db.close();
      port.postMessage({ type: 'closed' } satisfies AppendThreadReply);
      port.close();
      return;
    }
    const hashes = Buffer.from(msg.hashes);
    const rows: AppendRow[] = msg.rows.map((w, i) => ({
      chain: w[0],
      seq: w[1],
      receivedAt: w[2],
      eventJson: w[3],
      prevHash: hashes.subarray(i * 2 * HASH_BYTES, (i * 2 + 1) * HASH_BYTES),
      hash: hashes.subarray((i * 2 + 1) * HASH_BYTES, (i * 2 + 2) * HASH_BYTES),
      event: appendEventOf(w),
    }));
    let reply: AppendThreadReply;
    holdWhileAsked();
    try {
      const firstPosition = append(rows);
      reply = firstPosition === null ? { type: 'done', id: msg.id } : { type: 'done', id: msg.id, firstPosition };
    } catch (err) {
      reply = { type: 'done', id: msg.id, failure: appendFailure(err, rows) };
    }
    port.postMessage(reply);
  });
  port.postMessage({ type: 'ready' } satisfies AppendThreadReply);
} catch (err) {
  // Start-up failed (database or keys unreadable): say so without any record content.
  port.postMessage({ type: 'failed', reason: (err as { code?: string }).code ?? (err as Error).message } satisfies AppendThreadReply);
}
