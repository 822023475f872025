/**
 * `npm run bench:atna` (after `npm run build`): IHE ATNA ingestion throughput. Starts the compiled
 * service (child process, fresh data dir, ATNA_ENABLED=true), then sends distinct DICOM audit
 * messages (RFC 5424 in RFC 5425 frames) over mutual TLS with the sample integration certificate:
 * all over one TLS connection, then spread over 8 concurrent connections. A run is timed from the
 * first byte written to the moment /metrics counts every message as durably stored. Prints
 * messages/s for both.
 *
 * Options (env): BENCH_ATNA_MESSAGES (default 20000 per scenario), BENCH_ATNA_CONNECTIONS (8).
 */
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as net from 'node:net';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { benchDataDir, fmt, machine, startServiceProcess } from './bench-support';

const MESSAGES = Number(process.env.BENCH_ATNA_MESSAGES ?? 20_000);
const CONNECTIONS = Number(process.env.BENCH_ATNA_CONNECTIONS ?? 8);
const FIXTURE = path.join(__dirname, '..', '..', 'libs', 'standards', 'src', 'atna', 'fixtures', 'patient-record-read.xml');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** Distinct messages (distinct patient ids, hence distinct event ids), already framed. */
function frames(count: number, tag: string): Buffer[] {
  const xml = fs.readFileSync(FIXTURE, 'utf8').replace(/>\s+</g, '><');
  return Array.from({ length: count }, (_, i) => {
    const msg = Buffer.from(`<85>1 2024-03-14T09:26:53.120+01:00 ehr01.bench.example.org EHR_APP 4242 IHE+RFC-3881 - ${xml.replace('PAT-7731', `PAT-${tag}-${i}`)}`);
    return Buffer.concat([Buffer.from(`${msg.length} `), msg]);
  });
}

function send(port: number, identity: { ca: Buffer; cert: Buffer; key: Buffer }, data: Buffer[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ...identity }, () => {
      let i = 0;
      const pump = () => {
        while (i < data.length) {
          // Write in ~64 KiB slices and respect back-pressure (the server pauses us while it commits).
          let end = i;
          let bytes = 0;
          while (end < data.length && bytes < 64 * 1024) bytes += data[end++].length;
          const ok = socket.write(Buffer.concat(data.slice(i, end)));
          i = end;
          if (!ok) return void socket.once('drain', pump);
        }
        socket.end();
      };
      pump();
    });
    socket.on('data', () => undefined);
    socket.on('error', reject);
    socket.on('close', () => resolve());
  });
}

function storedCount(url: string, ca: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    https
      .get(`${url}/metrics`, { ca }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => {
          const m = /^audit_atna_messages_total\{result="stored"\} (\d+)/m.exec(body);
          resolve(m ? Number(m[1]) : 0);
        });
      })
      .on('error', reject);
  });
}

async function untilStored(url: string, ca: Buffer, target: number): Promise<void> {
  for (;;) {
    if ((await storedCount(url, ca)) >= target) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function scenario(label: string, connections: number, port: number, url: string, identity: { ca: Buffer; cert: Buffer; key: Buffer }, base: number): Promise<number> {
  const all = frames(MESSAGES, label.replace(/\W/g, ''));
  const bytes = all.reduce((n, b) => n + b.length, 0);
  const shares = Array.from({ length: connections }, (_, c) => all.filter((_, i) => i % connections === c));
  const started = performance.now();
  await Promise.all(shares.map((share) => send(port, identity, share)));
  await untilStored(url, identity.ca, base + MESSAGES);
  const seconds = (performance.now() - started) / 1000;
  const rate = MESSAGES / seconds;
  console.log(`  ${label.padEnd(26)} ${fmt(MESSAGES).padStart(7)} messages in ${fmt(seconds, 2)} s = ${fmt(rate).padStart(7)} messages/s (${fmt(bytes / seconds / 1e6, 1)} MB/s of frames)`);
  return rate;
}

async function main(): Promise<void> {
  const dataDir = benchDataDir('atna');
  const port = await freePort();
  const { child, url } = await startServiceProcess({ DATA_DIR: dataDir, ATNA_ENABLED: 'true', ATNA_PORT: String(port) });
  try {
    const tlsDir = path.join(dataDir, 'tls');
    const identity = {
      ca: fs.readFileSync(path.join(tlsDir, 'ca.pem')),
      cert: fs.readFileSync(path.join(tlsDir, 'clients', 'sample-ehr.pem')),
      key: fs.readFileSync(path.join(tlsDir, 'clients', 'sample-ehr-key.pem')),
    };
    console.log(`ATNA ingest (RFC 5425 over mutual TLS, DICOM audit XML ~${fmt(frames(1, 'x')[0].length)} bytes/message), ${machine()}`);
    await scenario('warm-up (1 connection)', 1, port, url, identity, 0);
    const one = await scenario('1 TLS connection', 1, port, url, identity, MESSAGES);
    const many = await scenario(`${CONNECTIONS} TLS connections`, CONNECTIONS, port, url, identity, 2 * MESSAGES);
    console.log(`\nATNA messages/s: ${fmt(one)} over 1 connection, ${fmt(many)} over ${CONNECTIONS} (durable: counted once committed)`);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
