/**
 * Loads the retention policy the service and `auditctl retention run` use: the RETENTION_CONFIG
 * file (YAML, or JSON by extension `.json`) when set, else the built-in defaults. A missing or
 * invalid file is an error naming RETENTION_CONFIG, the file and every bad key, so the service
 * refuses to start rather than keep data for the wrong time.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { DEFAULT_RETENTION_POLICY, RetentionPolicy, RetentionPolicyError, parseRetentionPolicy } from './retention-policy';

export interface LoadedRetentionPolicy {
  policy: RetentionPolicy;
  /** Absolute path of the file, or `built-in defaults`. */
  source: string;
}

export const BUILT_IN_POLICY_SOURCE = 'built-in defaults';

/** DI token of the LoadedRetentionPolicy the service started with. */
export const RETENTION_POLICY = Symbol('RETENTION_POLICY');

export class RetentionConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RetentionConfigError';
  }
}

export function loadRetentionPolicy(file: string | undefined): LoadedRetentionPolicy {
  if (file === undefined || file === '') return { policy: DEFAULT_RETENTION_POLICY, source: BUILT_IN_POLICY_SOURCE };
  const abs = path.resolve(file);
  let text: string;
  try {
    text = fs.readFileSync(abs, 'utf8');
  } catch (err) {
    throw new RetentionConfigError(`RETENTION_CONFIG: cannot read ${abs} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let doc: unknown;
  try {
    doc = abs.endsWith('.json') ? JSON.parse(text) : parseYaml(text, { uniqueKeys: true, maxAliasCount: 0 });
  } catch (err) {
    throw new RetentionConfigError(`RETENTION_CONFIG: ${abs} is not valid ${abs.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message.split('\n')[0]}`);
  }
  try {
    return { policy: parseRetentionPolicy(doc), source: abs };
  } catch (err) {
    if (err instanceof RetentionPolicyError) throw new RetentionConfigError(`RETENTION_CONFIG: ${abs}: ${err.message}`);
    throw err;
  }
}
