/**
 * Entry point of the API service (`npm start`): reads the configuration, creates what the
 * embedded default needs under DATA_DIR on first start (database, signing keys, local CA and
 * server certificate), and serves the API until SIGTERM/SIGINT.
 */
import 'reflect-metadata';
import { ConfigError, lineSink, loadConfig } from '@app/core';
import { buildApp, shutdownGracefully } from './app';
import { JsonLogger } from './http/json-logger';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      lineSink('stderr')(err.message + '\n');
      process.exit(2);
    }
    throw err;
  }
  const logger = new JsonLogger(config.logLevel);
  const { app, tls } = await buildApp(config, logger);
  await app.listen(config.port, config.host);
  const address = app.getHttpServer().address() as import('node:net').AddressInfo;
  const scheme = config.insecureHttp ? 'http' : 'https';
  logger.announce('listening', {
    listenUrl: `${scheme}://${config.host}:${address.port}`,
    dataDir: config.dataDir,
    caCertificate: tls?.caPath ?? null,
    docs: `${scheme}://${config.host}:${address.port}/docs`,
  });

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.announce('shutting down', { signal });
    const started = Date.now();
    shutdownGracefully(app, config.shutdownGraceMs)
      .then(() => {
        // Writers drained, the last checkpoint sealed and the detection snapshot written.
        logger.announce('shut down', { signal, ms: Date.now() - started });
        process.exit(0);
      })
      .catch((err: unknown) => {
        logger.announce('shutdown failed', { signal, errorClass: (err as Error)?.constructor?.name ?? 'unknown' });
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  lineSink('stderr')(`Start-up failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
