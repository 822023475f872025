/**
 * The writer thread is named `audit-writer` where the OS shows thread names (Linux: `top -H`,
 * `ps -L`, /proc/<pid>/task/<tid>/comm), so an operator, and `npm run bench`, can tell its CPU from
 * the event loop's and the garbage collector's. Runs the compiled worker (`npm run build`).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { inMemoryFieldProtectionSource } from '../../../../test/fakes/in-memory-field-protection';
import { SqliteAppendThread, WRITER_THREAD_NAME } from './sqlite-append-thread';
import { openDatabase } from './sqlite-database';

const threadNames = () => fs.readdirSync('/proc/self/task').map((tid) => fs.readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim());
const linux = fs.existsSync('/proc/self/task');

(linux ? describe : describe.skip)('SqliteAppendThread names its thread', () => {
  let dir: string;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'append-thread-'));
    openDatabase(dir).close();
  });

  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it(`shows as ${WRITER_THREAD_NAME} while it runs, and is gone once closed`, async () => {
    expect(threadNames()).not.toContain(WRITER_THREAD_NAME);
    const thread = new SqliteAppendThread({ dataDir: dir, protection: inMemoryFieldProtectionSource() });
    await thread.start();
    expect(threadNames().filter((n) => n === WRITER_THREAD_NAME)).toHaveLength(1);
    await thread.close();
    expect(threadNames()).not.toContain(WRITER_THREAD_NAME);
  });
});
