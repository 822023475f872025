/**
 * Test support: the stateful Elasticsearch double of the store's unit tests (EsFake, built on the
 * official @elastic/elasticsearch-mock) served over real HTTP, so the whole service can run with
 * STORE=elasticsearch in a test without an Elasticsearch server. Requests are decoded the way the
 * mock connection decodes them (JSON, or NDJSON for bulk) and routed to the same handlers.
 */
import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import { errors } from '@elastic/elasticsearch';
import { EsFake } from '@app/storage/elasticsearch/es-fake';

export interface EsFakeServer {
  fake: EsFake;
  url: string;
  close(): Promise<void>;
}

export async function startEsFakeServer(fake = new EsFake()): Promise<EsFakeServer> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const text = Buffer.concat(chunks).toString('utf8');
      const ndjson = String(req.headers['content-type'] ?? '').includes('ndjson');
      let body: unknown = null;
      try {
        if (text) body = ndjson ? text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as unknown) : JSON.parse(text);
      } catch {
        res.writeHead(400).end();
        return;
      }
      const params = { method: req.method ?? 'GET', path: url.pathname, querystring: Object.fromEntries(url.searchParams), body };
      const handler = fake.mock.get(params as never) as ((p: typeof params) => unknown) | null;
      let status = 200;
      let payload: unknown;
      if (!handler) {
        status = 404;
        payload = { error: { type: 'mock_not_found', reason: `${params.method} ${params.path}` }, status: 404 };
      } else {
        payload = handler(params);
        if (payload instanceof errors.ResponseError) {
          status = payload.statusCode ?? 500;
          payload = payload.body;
        } else if (payload instanceof Error) {
          req.socket.destroy(); // unreachable cluster
          return;
        }
      }
      const out = typeof payload === 'string' ? payload : JSON.stringify(payload);
      res.writeHead(status, { 'content-type': 'application/json', 'x-elastic-product': 'Elasticsearch', 'content-length': Buffer.byteLength(out) });
      res.end(req.method === 'HEAD' ? undefined : out);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    fake,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
