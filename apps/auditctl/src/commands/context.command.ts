/**
 * `auditctl context load <users|patients|encounters> <file.ndjson>`: bulk-loads an initial HR or
 * registration export (one record a line, CONTRACT "Context feeds") into the running service, as
 * `seed` posts traffic: through the API (the service is the data dir's only writer, and its
 * in-memory context must see every record), in NDJSON requests of at most --batch lines, one after
 * another so that later lines upsert over earlier ones, with a progress bar on a terminal. Every
 * rejected record is reported by its line number in the file (never its content); the exit code is
 * 1 when any was rejected, 2 when the service or the file could not be used.
 */
import { Command } from 'commander';
import * as fs from 'node:fs';
import * as readline from 'node:readline';
import { TokenService } from '@app/security';
import { ApiClient, ServiceUnreachableError, defaultServiceUrl, localCa, unreachableServiceMessage } from '../api-client';
import { cliConfig, missingTokenKey } from '../data-dir';
import { progressBar } from '../progress';

const KINDS = ['users', 'patients', 'encounters'] as const;
/** Bytes per request, well under the default CONTEXT_MAX_BODY_BYTES (16 MiB). */
const MAX_CHUNK_BYTES = 4 * 1024 * 1024;

interface LoadOptions {
  url?: string;
  dataDir?: string;
  batch: string;
}

interface Rejection {
  index: number;
  pointer: string;
  message: string;
}

/** Lines of the file (for the progress bar): newlines, plus a last line without one. */
async function countLines(file: string): Promise<number> {
  let n = 0;
  let last = 10;
  for await (const chunk of fs.createReadStream(file)) {
    const buf = chunk as Buffer;
    for (const b of buf) if (b === 10) n++;
    if (buf.length > 0) last = buf[buf.length - 1]!;
  }
  return last === 10 ? n : n + 1;
}

export function contextCommand(): Command {
  const context = new Command('context').description('context feeds: who the workforce is, who the patients are, who is caring for whom');
  context
    .command('load')
    .description('bulk-load context records from an NDJSON file (one record a line) into the running service')
    .argument('<kind>', `users, patients or encounters`)
    .argument('<file>', 'NDJSON file (e.g. an HR or registration export)')
    .option('--url <url>', 'service URL (default: from HOST, PORT and INSECURE_HTTP)')
    .option('--data-dir <dir>', 'data directory of the service (for its CA and token key; default: $DATA_DIR, then ./data)')
    .option('--batch <n>', 'records per request', '5000')
    .action(async (kind: string, file: string, opts: LoadOptions) => {
      if (!(KINDS as readonly string[]).includes(kind)) throw new Error(`unknown kind "${kind}": use one of ${KINDS.join(', ')}`);
      const batch = Number(opts.batch);
      if (!Number.isInteger(batch) || batch < 1) throw new Error('--batch must be a positive integer');
      if (!fs.existsSync(file) || !fs.statSync(file).isFile()) {
        process.stderr.write(`auditctl context load: no file at ${file}\n`);
        process.exitCode = 2;
        return;
      }
      const config = cliConfig(opts.dataDir);
      const missing = missingTokenKey(config);
      if (missing) {
        process.stderr.write(`auditctl context load: ${missing}\n`);
        process.exitCode = 2;
        return;
      }
      const url = opts.url ?? defaultServiceUrl();
      const token = await new TokenService(config).issue({ role: 'integration', sub: 'auditctl-context-load', ttl: '1h' });
      const client = new ApiClient(url, token, { caPem: localCa(config.dataDir), maxSockets: 1, connectTimeoutMs: 10_000 });
      const total = await countLines(file);
      const progress = progressBar();
      let accepted = 0;
      let rejected = 0;
      let linesDone = 0;
      const post = async (lines: string[], firstLine: number) => {
        for (let attempt = 0; ; attempt++) {
          const res = await client.request('POST', `/v1/context/${kind}`, lines.join('\n') + '\n', 'application/x-ndjson');
          if (res.status === 202) {
            const body = JSON.parse(res.body) as { accepted: number; rejected: Rejection[] };
            accepted += body.accepted;
            const lineNumbers = new Set<number>();
            for (const r of body.rejected) {
              lineNumbers.add(r.index);
              process.stderr.write(`line ${firstLine + r.index}: ${r.pointer ? `${r.pointer} ` : ''}${r.message}\n`);
            }
            rejected += lineNumbers.size;
            break;
          }
          if ((res.status === 503 || res.status === 429) && attempt < 10) {
            await new Promise((r) => setTimeout(r, 200 * (attempt + 1)));
            continue;
          }
          if (res.status === 401) throw new Error(`the service at ${url} rejected the token signed with ${config.dataDir}'s key (401): pass --data-dir <the DATA_DIR that service runs on>`);
          let detail = '';
          try {
            detail = (JSON.parse(res.body) as { detail?: string }).detail ?? '';
          } catch {
            /* not a problem document */
          }
          throw new Error(`the service answered ${res.status} for lines ${firstLine}-${firstLine + lines.length - 1}${detail ? `: ${detail}` : ''}`);
        }
        linesDone += lines.length;
        progress.update(kind, linesDone, total);
      };
      try {
        let lines: string[] = [];
        let bytes = 0;
        let firstLine = 1;
        let lineNo = 0;
        for await (const line of readline.createInterface({ input: fs.createReadStream(file, 'utf8'), crlfDelay: Infinity })) {
          lineNo++;
          if (lines.length >= batch || (lines.length > 0 && bytes + line.length + 1 > MAX_CHUNK_BYTES)) {
            await post(lines, firstLine);
            lines = [];
            bytes = 0;
            firstLine = lineNo;
          }
          lines.push(line);
          bytes += Buffer.byteLength(line) + 1;
        }
        if (lines.length > 0) await post(lines, firstLine);
      } catch (err) {
        progress.stop();
        client.close();
        if (accepted > 0) process.stderr.write(`auditctl context load: ${accepted} record(s) were stored before this.\n`);
        if (err instanceof ServiceUnreachableError) {
          process.stderr.write(`auditctl context load: ${unreachableServiceMessage(err, opts.url !== undefined)}\n`);
          process.exitCode = 2;
          return;
        }
        throw err;
      }
      progress.stop();
      client.close();
      process.stdout.write(`Loaded ${accepted} ${kind} record(s)${rejected > 0 ? `; ${rejected} line(s) rejected (listed above)` : ''}.\n`);
      process.exitCode = rejected > 0 ? 1 : 0;
    });
  return context;
}
