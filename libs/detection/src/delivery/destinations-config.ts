/**
 * Alert destinations file (ALERT_DESTINATIONS_FILE, YAML or JSON; docs/alert-delivery.md): where
 * alerts are pushed (signed webhooks with Slack / Teams / PagerDuty presets, syslog RFC 5424 over
 * TLS, e-mail over SMTP with STARTTLS), which alerts each destination receives (routing), how fast
 * (rate limit, digest) and for how long delivery is retried. Parsed strictly: an unknown key, a
 * secret that cannot be read, a certificate that does not parse or a host name that does not
 * resolve stops start-up with a message naming the key (never the value).
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isIP } from 'node:net';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { SEVERITIES, Severity } from '../rule.schema';

export class DestinationConfigError extends Error {}

const NAME = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'must be 1-64 characters of a-z, 0-9, ".", "_", "-"');
const secretSource = { secret: z.string().min(1).optional(), secretFile: z.string().min(1).optional(), secretEnv: z.string().min(1).optional() };

const COMMON = {
  name: NAME,
  /** Which alerts this destination receives (all of a list must match; an empty list or none: any). */
  route: z
    .object({
      rules: z.array(z.string().min(1)).optional(),
      minSeverity: z.enum(SEVERITIES).optional(),
      severities: z.array(z.enum(SEVERITIES)).optional(),
      reasons: z.array(z.string().min(1)).optional(),
    })
    .strict()
    .optional(),
  /** At most `max` messages per `perMinutes`; beyond, what is waiting goes out as one digest. */
  rateLimit: z.object({ max: z.number().int().min(1).max(100_000), perMinutes: z.number().min(0.01).max(1440).default(1) }).strict().optional(),
  /** One message every N minutes carrying every alert since the last (count + list). */
  digestMinutes: z.number().min(0.01).max(1440).optional(),
  /** `tokens` (default): actor and patient as keyed-HMAC tokens; `clear`: the identifiers themselves. */
  identifiers: z.enum(['tokens', 'clear']).default('tokens'),
  retry: z
    .object({
      initialMs: z.number().int().min(10).max(3_600_000).default(1000),
      maxMs: z.number().int().min(10).max(86_400_000).default(300_000),
      /** A delivery still failing this long after the alert entered the outbox becomes a dead letter. */
      deadLetterAfterMinutes: z.number().min(0.01).max(30 * 1440).default(1440),
    })
    .strict()
    .default({}),
  timeoutMs: z.number().int().min(100).max(120_000).default(10_000),
};

const WEBHOOK = z
  .object({
    ...COMMON,
    type: z.literal('webhook'),
    url: z.string().url(),
    preset: z.enum(['generic', 'slack', 'teams', 'pagerduty']).default('generic'),
    ...secretSource,
    /** PagerDuty Events v2 integration key (routingKey / routingKeyFile / routingKeyEnv). */
    routingKey: z.string().min(1).optional(),
    routingKeyFile: z.string().min(1).optional(),
    routingKeyEnv: z.string().min(1).optional(),
    /** Extra CA (PEM) trusted for the receiver's certificate, beside the system roots. */
    caFile: z.string().min(1).optional(),
  })
  .strict();

const SYSLOG = z
  .object({
    ...COMMON,
    type: z.literal('syslog'),
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(6514),
    format: z.enum(['cef', 'json']).default('cef'),
    caFile: z.string().min(1).optional(),
    certFile: z.string().min(1).optional(),
    keyFile: z.string().min(1).optional(),
    /** Name the receiver's certificate must carry (default: host). */
    serverName: z.string().min(1).optional(),
    facility: z.number().int().min(0).max(23).default(10),
    appName: z.string().regex(/^[\x21-\x7e]{1,48}$/).default('hipaa-audit'),
    /** A new connection is used only once the collector kept it open this long (it may refuse the client after the handshake). */
    acceptWaitMs: z.number().int().min(0).max(60_000).default(1000),
  })
  .strict();

const EMAIL = z
  .object({
    ...COMMON,
    type: z.literal('email'),
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(587),
    from: z.string().email(),
    to: z.array(z.string().email()).min(1),
    username: z.string().min(1).optional(),
    passwordFile: z.string().min(1).optional(),
    passwordEnv: z.string().min(1).optional(),
    caFile: z.string().min(1).optional(),
  })
  .strict();

const FILE = z
  .object({
    /** Base of the links in deliveries (the console an analyst opens); default https://HOST:PORT. */
    consoleUrl: z.string().url().optional(),
    destinations: z.array(z.discriminatedUnion('type', [WEBHOOK, SYSLOG, EMAIL])),
  })
  .strict();

type Common = {
  name: string;
  route?: { rules?: string[]; minSeverity?: Severity; severities?: Severity[]; reasons?: string[] };
  rateLimit?: { max: number; perMinutes: number };
  digestMinutes?: number;
  identifiers: 'tokens' | 'clear';
  retry: { initialMs: number; maxMs: number; deadLetterAfterMinutes: number };
  timeoutMs: number;
};
export type WebhookDestination = Common & { type: 'webhook'; url: string; preset: 'generic' | 'slack' | 'teams' | 'pagerduty'; secret?: string; routingKey?: string; ca?: string };
export type SyslogDestination = Common & { type: 'syslog'; host: string; port: number; format: 'cef' | 'json'; ca?: string; cert?: string; key?: string; serverName?: string; facility: number; appName: string; acceptWaitMs: number };
export type EmailDestination = Common & { type: 'email'; host: string; port: number; from: string; to: string[]; username?: string; password?: string; ca?: string };
export type Destination = WebhookDestination | SyslogDestination | EmailDestination;

export interface DestinationsConfig {
  consoleUrl?: string;
  destinations: Destination[];
}

function pointer(p: readonly (string | number)[]): string {
  return p.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? k : `.${k}`)).join('');
}

/** Parses and checks the shape; names the key of every problem, never its value. */
export function parseDestinationsText(text: string, file = 'ALERT_DESTINATIONS_FILE'): z.infer<typeof FILE> {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new DestinationConfigError(`${file}: not valid YAML or JSON (${(err as Error).message.split('\n')[0]})`);
  }
  const parsed = FILE.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => {
      if (i.code === 'unrecognized_keys') return i.keys.map((k) => `${pointer([...i.path, k])}: unknown key`).join('\n  ');
      return `${pointer(i.path) || '(file)'}: ${i.message}`;
    });
    throw new DestinationConfigError(`${file}: invalid alert destinations:\n  ${lines.join('\n  ')}`);
  }
  const names = new Set<string>();
  parsed.data.destinations.forEach((d, i) => {
    if (names.has(d.name)) throw new DestinationConfigError(`${file}: destinations[${i}].name: duplicate name`);
    names.add(d.name);
    if (d.type === 'syslog' && (d.certFile === undefined) !== (d.keyFile === undefined)) {
      throw new DestinationConfigError(`${file}: destinations[${i}].${d.certFile ? 'keyFile' : 'certFile'}: certFile and keyFile go together`);
    }
    if (d.type === 'webhook' && d.preset === 'pagerduty' && !d.routingKey && !d.routingKeyFile && !d.routingKeyEnv) {
      throw new DestinationConfigError(`${file}: destinations[${i}].routingKey: the pagerduty preset needs routingKey, routingKeyFile or routingKeyEnv`);
    }
    if (d.retry.maxMs < d.retry.initialMs) throw new DestinationConfigError(`${file}: destinations[${i}].retry.maxMs: must be at least retry.initialMs`);
  });
  return parsed.data;
}

interface ResolveOptions {
  env?: NodeJS.ProcessEnv;
  /** Check that host names resolve (default true). */
  resolveHosts?: boolean;
  baseDir?: string;
}

/** Reads the file, its secrets and certificates, and checks the hosts resolve. */
export async function loadDestinations(file: string, options: ResolveOptions = {}): Promise<DestinationsConfig> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new DestinationConfigError(`ALERT_DESTINATIONS_FILE: cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return resolveDestinations(parseDestinationsText(text), { baseDir: path.dirname(path.resolve(file)), ...options });
}

export async function resolveDestinations(parsed: z.infer<typeof FILE>, options: ResolveOptions = {}): Promise<DestinationsConfig> {
  const env = options.env ?? process.env;
  const baseDir = options.baseDir ?? process.cwd();
  const out: Destination[] = [];
  for (const [i, d] of parsed.destinations.entries()) {
    const at = (key: string) => `ALERT_DESTINATIONS_FILE: destinations[${i}].${key}`;
    const readFile = (key: string, value: string | undefined): string | undefined => {
      if (value === undefined) return undefined;
      try {
        return fs.readFileSync(path.resolve(baseDir, value), 'utf8');
      } catch (err) {
        throw new DestinationConfigError(`${at(key)}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      }
    };
    const secret = (base: string, inline?: string, fileKey?: string, envKey?: string): string | undefined => {
      const given = [inline, fileKey, envKey].filter((v) => v !== undefined).length;
      if (given > 1) throw new DestinationConfigError(`${at(base)}: give one of ${base}, ${base}File, ${base}Env`);
      if (inline !== undefined) return inline;
      if (fileKey !== undefined) return readFile(`${base}File`, fileKey)!.trim();
      if (envKey !== undefined) {
        const v = env[envKey];
        if (v === undefined || v === '') throw new DestinationConfigError(`${at(`${base}Env`)}: the environment variable is not set`);
        return v;
      }
      return undefined;
    };
    const cert = (key: string, file?: string): string | undefined => {
      const pem = readFile(key, file);
      if (pem === undefined) return undefined;
      try {
        new X509Certificate(pem);
      } catch {
        throw new DestinationConfigError(`${at(key)}: not a PEM certificate`);
      }
      return pem;
    };
    const host = async (key: string, name: string) => {
      if (options.resolveHosts === false || isIP(name)) return;
      try {
        await lookup(name);
      } catch {
        throw new DestinationConfigError(`${at(key)}: the host does not resolve`);
      }
    };
    const common: Common = { name: d.name, route: d.route, rateLimit: d.rateLimit, digestMinutes: d.digestMinutes, identifiers: d.identifiers, retry: d.retry, timeoutMs: d.timeoutMs };
    if (d.type === 'webhook') {
      const url = new URL(d.url);
      if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new DestinationConfigError(`${at('url')}: must be an https URL`);
      await host('url', url.hostname.replace(/^\[|\]$/g, ''));
      const secretValue = secret('secret', d.secret, d.secretFile, d.secretEnv);
      if (d.preset === 'generic' && !secretValue) throw new DestinationConfigError(`${at('secret')}: a webhook needs a signing secret (secret, secretFile or secretEnv)`);
      out.push({ ...common, type: 'webhook', url: d.url, preset: d.preset, secret: secretValue, routingKey: secret('routingKey', d.routingKey, d.routingKeyFile, d.routingKeyEnv), ca: cert('caFile', d.caFile) });
    } else if (d.type === 'syslog') {
      await host('host', d.host);
      const certPem = cert('certFile', d.certFile);
      const keyPem = readFile('keyFile', d.keyFile);
      if (keyPem !== undefined) {
        try {
          createPrivateKey(keyPem);
        } catch {
          throw new DestinationConfigError(`${at('keyFile')}: not a PEM private key`);
        }
      }
      out.push({ ...common, type: 'syslog', host: d.host, port: d.port, format: d.format, ca: cert('caFile', d.caFile), cert: certPem, key: keyPem, serverName: d.serverName, facility: d.facility, appName: d.appName, acceptWaitMs: d.acceptWaitMs });
    } else {
      await host('host', d.host);
      out.push({ ...common, type: 'email', host: d.host, port: d.port, from: d.from, to: d.to, username: d.username, password: secret('password', undefined, d.passwordFile, d.passwordEnv), ca: cert('caFile', d.caFile) });
    }
  }
  return { consoleUrl: parsed.consoleUrl, destinations: out };
}
