/**
 * Starts the real HTTP application in-process on a random port over a fresh data directory, and
 * gives tests a client, tokens for every role, and the paths they need. Nothing is mocked.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AppConfig, loadConfig } from '@app/core';
import { Role, TokenService } from '@app/security';
import { buildApp, shutdownGracefully } from '../../apps/api/src/app';
import { JsonLogger } from '../../apps/api/src/http/json-logger';
import { ApiClient, localCa } from '../../apps/auditctl/src/api-client';
import { appendServiceLog, serviceLogFile } from './log-capture';
import { NestExpressApplication } from '@nestjs/platform-express';
import { DynamicModule } from '@nestjs/common';

export interface TestApp {
  app: NestExpressApplication;
  config: AppConfig;
  baseUrl: string;
  dataDir: string;
  logLines: string[];
  token(role: Role, sub?: string): Promise<string>;
  client(role: Role | null, sub?: string): Promise<ApiClient>;
  close(): Promise<void>;
}

/** Integrations post as `sample-ehr` (the integration test events name); people as `test-<role>`. */
function defaultSub(role: Role): string {
  return role === 'integration' ? 'sample-ehr' : `test-${role}`;
}

export function tempDataDir(prefix = 'audit-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** `extraImports`: Nest modules added to the application (e.g. a global module binding ACCESS_CONTEXT). */
export async function startTestApp(overrides: Partial<AppConfig> = {}, extraImports: DynamicModule[] = []): Promise<TestApp> {
  const dataDir = overrides.dataDir ?? tempDataDir();
  const config = loadConfig({}, { dataDir, port: 0, host: '127.0.0.1', insecureHttp: true, logLevel: 'info', ...overrides });
  const logLines: string[] = [];
  // Also to a file of the run, for the whole-suite PHI scan (test/support/phi-log-scan.ts).
  const logFile = serviceLogFile('in-process-app');
  const logger = new JsonLogger(config.logLevel, (line) => {
    logLines.push(line);
    appendServiceLog(logFile, line + '\n');
  });
  const { app } = await buildApp(config, logger, extraImports);
  await app.listen(config.port, '127.0.0.1');
  const { port } = app.getHttpServer().address() as import('node:net').AddressInfo;
  const baseUrl = `${config.insecureHttp ? 'http' : 'https'}://127.0.0.1:${port}`;
  const tokens = new TokenService(config);
  const clients: ApiClient[] = [];
  return {
    app,
    config,
    baseUrl,
    dataDir,
    logLines,
    token: (role, sub) => tokens.issue({ role, sub: sub ?? defaultSub(role), ttl: '1h' }),
    async client(role, sub) {
      const token = role ? await tokens.issue({ role, sub: sub ?? defaultSub(role), ttl: '1h' }) : '';
      const c = new ApiClient(baseUrl, token, { caPem: localCa(dataDir) });
      clients.push(c);
      return c;
    },
    async close() {
      for (const c of clients) c.close();
      await shutdownGracefully(app, 1000);
    },
  };
}
