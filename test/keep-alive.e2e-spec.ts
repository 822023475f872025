/**
 * Idle keep-alive connections stay open past Node's 5 s default (HTTP_KEEP_ALIVE_TIMEOUT_MS, 65 s),
 * so a client pool reusing one after a pause is not reset; a short setting closes them as asked.
 */
import * as http from 'node:http';
import { TestApp, startTestApp } from './support/test-app';

async function getTwiceWithPause(t: TestApp, pauseMs: number): Promise<{ connections: number; statuses: number[] }> {
  let connections = 0;
  const server = t.app.getHttpServer() as http.Server;
  const count = () => connections++;
  server.on('connection', count);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const get = () =>
    new Promise<number>((resolve, reject) => {
      const req = http.get(`${t.baseUrl}/health/live`, { agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
    });
  try {
    const first = await get();
    await new Promise((r) => setTimeout(r, pauseMs));
    const second = await get();
    return { connections, statuses: [first, second] };
  } finally {
    server.off('connection', count);
    agent.destroy();
  }
}

describe('HTTP keep-alive', () => {
  it('keeps an idle connection open longer than Node’s 5 s default', async () => {
    const t = await startTestApp();
    try {
      expect(await getTwiceWithPause(t, 6000)).toEqual({ connections: 1, statuses: [200, 200] });
    } finally {
      await t.close();
    }
  }, 30_000);

  it('closes idle connections after HTTP_KEEP_ALIVE_TIMEOUT_MS', async () => {
    const t = await startTestApp({ httpKeepAliveTimeoutMs: 1000 });
    try {
      expect(await getTwiceWithPause(t, 2500)).toEqual({ connections: 2, statuses: [200, 200] });
    } finally {
      await t.close();
    }
  }, 30_000);
});
