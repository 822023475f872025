/**
 * Scale-out instances in end-to-end tests: services on their own data dirs sharing one Elasticsearch
 * (the repository's double over HTTP) and the keys (as docs/operations.md requires), waited for
 * until ready; and polling a probe until a condition holds (cross-instance delays).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfig } from '@app/core';
import { EsFakeServer } from './es-fake-server';
import { accessEvent } from './events';
import { startTestApp, tempDataDir, TestApp } from './test-app';

/** Waits until GET /health/ready answers 200 (the stores on the Elasticsearch double are up). */
export async function readyOnElasticsearch(t: TestApp, ms = 20_000): Promise<void> {
  const anon = await t.client(null);
  const deadline = Date.now() + ms;
  while ((await anon.request('GET', '/health/ready')).status !== 200) {
    if (Date.now() > deadline) throw new Error('the service did not become ready on the Elasticsearch double');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Probes every 100 ms until `done` holds or `ms` pass; the last value either way. */
export async function until<T>(probe: () => Promise<T>, done: (v: T) => boolean, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  let v = await probe();
  while (!done(v) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    v = await probe();
  }
  return v;
}

/**
 * Two services on one Elasticsearch: A first (one event makes it create its data key), then B on a
 * data dir holding a copy of A's keys, so each opens what the other sealed.
 */
export async function startTwoInstances(es: EsFakeServer, dirPrefix: string): Promise<{ a: TestApp; b: TestApp }> {
  const scaleOut = loadConfig({ STORE: 'elasticsearch', ELASTICSEARCH_URL: es.url }).scaleOut!;
  const a = await startTestApp({ scaleOut });
  try {
    await readyOnElasticsearch(a);
    const res = await (await a.client('integration')).request('POST', '/v1/events', accessEvent());
    if (res.status !== 202) throw new Error(`the first event was answered ${res.status}`);
    const dirB = tempDataDir(dirPrefix);
    fs.cpSync(path.join(a.dataDir, 'keys'), path.join(dirB, 'keys'), { recursive: true });
    const b = await startTestApp({ dataDir: dirB, scaleOut });
    try {
      await readyOnElasticsearch(b);
    } catch (err) {
      await b.close();
      throw err;
    }
    return { a, b };
  } catch (err) {
    await a.close();
    throw err;
  }
}
