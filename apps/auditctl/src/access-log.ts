/**
 * The command line's reads of the audit data go into the access log like the service's (who: the
 * OS user, `via: cli`; what filters; how many records). A read that cannot be recorded is reported
 * on stderr and ends the command with exit code 2, so scripts notice.
 */
import { CliAccessInput, recordCliAccess } from '@app/pipeline';
import type { EventStore, SqliteDb } from '@app/storage';

export async function recordCliRead(command: string, db: SqliteDb | null, store: Pick<EventStore, 'chainHeads' | 'append'>, input: CliAccessInput): Promise<void> {
  try {
    await recordCliAccess(db, store, { ...input, filters: { command, ...input.filters } });
  } catch (err) {
    process.stderr.write(`auditctl ${command}: this read could not be recorded in the access log (${err instanceof Error ? err.message : String(err)})\n`);
    process.exitCode = 2;
  }
}
