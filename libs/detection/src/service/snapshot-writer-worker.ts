/**
 * Entry of the detection snapshot writer thread (snapshot-writer-thread.ts): its own connection to
 * the audit database, the data keys, one upsert per request, in arrival order. Replies carry error
 * codes only, never snapshot content (it holds patient ids and IPs).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { embeddedTextSealer } from '@app/security/field-protection';
import { openDatabase } from '@app/storage/sqlite/sqlite-database';
import { DETECTION_STATE_SCHEMA_SQL, UPSERT_SNAPSHOT_SQL } from './sqlite-detection-state';
import { SnapshotWriterOptions, SnapshotWriterReply, SnapshotWriterRequest } from './snapshot-writer-thread';

const port = parentPort!;
const options = workerData as SnapshotWriterOptions;

try {
  const db = openDatabase(options.dataDir, { backgroundCheckpoints: options.backgroundCheckpoints });
  db.exec(DETECTION_STATE_SCHEMA_SQL);
  const sealer = embeddedTextSealer(options);
  const upsert = db.prepare(UPSERT_SNAPSHOT_SQL);
  /** Pieces of writes whose `write` message has not come yet, by id. */
  const received = new Map<number, string[]>();
  port.on('message', (msg: SnapshotWriterRequest) => {
    if (msg.type === 'part') {
      const parts = received.get(msg.id);
      if (parts) for (const p of msg.parts) parts.push(p);
      else received.set(msg.id, msg.parts);
      return;
    }
    if (msg.type === 'close') {
      db.close();
      port.postMessage({ type: 'closed' } satisfies SnapshotWriterReply);
      port.close();
      return;
    }
    let reply: SnapshotWriterReply;
    const earlier = received.get(msg.id);
    received.delete(msg.id);
    try {
      upsert.run(msg.name, msg.position, msg.savedAt, sealer.seal((earlier ? earlier.concat(msg.parts) : msg.parts).join('')));
      reply = { type: 'done', id: msg.id };
    } catch (err) {
      reply = { type: 'done', id: msg.id, error: (err as { code?: string }).code ?? (err as Error).constructor?.name ?? 'error' };
    }
    port.postMessage(reply);
  });
  port.postMessage({ type: 'ready' } satisfies SnapshotWriterReply);
} catch (err) {
  port.postMessage({ type: 'failed', reason: (err as { code?: string }).code ?? 'could not open the database' } satisfies SnapshotWriterReply);
}
