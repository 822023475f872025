/** Reachability checks the real-server integration tests run before starting any service (test/integration). */
import * as net from 'node:net';

/** Resolves when host:port accepts a TCP connection within `ms`, else rejects naming `what`. */
export function reachable(host: string, port: number, what: string, ms = 3000): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const fail = (why: string) => {
      socket.destroy();
      reject(new Error(`${what} is not reachable (${why}): start the server or unset the variable to skip these tests`));
    };
    socket.setTimeout(ms, () => fail('timeout'));
    socket.once('error', (err: NodeJS.ErrnoException) => fail(err.code ?? err.name));
    socket.once('connect', () => (socket.end(), resolve()));
  });
}

/** Every broker of a KAFKA_BROKERS list. */
export async function brokersReachable(brokers: string): Promise<void> {
  for (const broker of brokers.split(',').map((b) => b.trim()).filter(Boolean)) {
    const i = broker.lastIndexOf(':');
    await reachable(broker.slice(0, i), Number(broker.slice(i + 1)), `KAFKA_BROKERS (${broker})`);
  }
}

/** The host and port of an ELASTICSEARCH_URL. */
export async function urlReachable(url: string, variable: string): Promise<void> {
  const u = new URL(url);
  await reachable(u.hostname, Number(u.port || (u.protocol === 'https:' ? 443 : 80)), `${variable} (${u.origin})`);
}
