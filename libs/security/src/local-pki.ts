/**
 * Local PKI for the embedded default: on first start a private CA (DATA_DIR/tls/ca.pem, ca-key.pem 0600),
 * a TLS server certificate for the configured host names plus localhost/127.0.0.1/::1 (server.pem,
 * server-key.pem), and a sample integration client certificate (tls/clients/sample-ehr.pem and
 * sample-ehr-key.pem) for mutual TLS. Later calls reuse what exists; the server and sample certificates
 * are re-issued when they expire within 30 days, no longer match the CA, or miss a requested name.
 * Generation: @peculiar/x509 over node's webcrypto, ECDSA P-256 with SHA-256. Never logs key material.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as x509 from '@peculiar/x509';
import { integrationUri, isIntegrationId, SAMPLE_INTEGRATION_ID } from './integration-identity';
import { ensurePrivateDir, writeFileAtomic, writeFileNoClobber } from './secure-files';

type CryptoKey = crypto.webcrypto.CryptoKey;
type CryptoKeyPair = crypto.webcrypto.CryptoKeyPair;
const webcrypto = crypto.webcrypto;
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const DAY_MS = 86_400_000;
const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;
/** Back-date notBefore a little so peers with a slightly slow clock accept a fresh certificate. */
const BACKDATE_MS = 5 * 60_000;

export const CA_VALIDITY_DAYS = 3650;
export const LEAF_VALIDITY_DAYS = 365;
/** Leaf certificates expiring sooner than this are re-issued on start. */
export const RENEW_BEFORE_DAYS = 30;
/** Start-up warns when the CA itself expires sooner than this. */
export const CA_WARN_BEFORE_DAYS = 90;

export const TLS_DIR = 'tls';
export const CLIENTS_DIR = 'clients';

export interface CertificateFiles {
  certPath: string;
  keyPath: string;
}

export interface IssuedCertificate {
  certPem: string;
  keyPem: string;
  /** Set when the certificate was written to disk. */
  certPath?: string;
  keyPath?: string;
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
  /** SHA-256 fingerprint, colon-separated hex (as node prints it). */
  fingerprint256: string;
}

export interface LocalPki {
  tlsDir: string;
  caCertPem: string;
  caCertPath: string;
  caKeyPath: string;
  caNotAfter: Date;
  serverCertPem: string;
  serverKeyPem: string;
  serverCertPath: string;
  serverKeyPath: string;
  /** Names (DNS and IP) the server certificate covers. */
  serverNames: string[];
  serverNotAfter: Date;
  sampleClient: IssuedCertificate & CertificateFiles & { integrationId: string };
  /** What this call created or re-issued (false = reused from disk). */
  created: { ca: boolean; server: boolean; sampleClient: boolean };
  /** Things an operator should know (e.g. the CA expires soon). No secrets. */
  warnings: string[];
}

export interface EnsureLocalPkiOptions {
  /** Clock for validity decisions (tests). */
  now?: Date;
  /** Integration id of the sample client certificate (default `sample-ehr`). */
  sampleIntegrationId?: string;
}

/** A CA in memory: its certificate PEM and private key PEM. */
export interface CertificateAuthorityPem {
  certPem: string;
  keyPem: string;
}

export interface IssueClientCertificateOptions {
  /** Lifetime in days from now (default 365). Ignored when notAfter is given. */
  validityDays?: number;
  notBefore?: Date;
  notAfter?: Date;
  /** Issue a certificate that expired yesterday (tests). */
  expired?: boolean;
  /** Sign with this CA instead of DATA_DIR's (e.g. a foreign CA in tests). */
  ca?: CertificateAuthorityPem;
  /** Write to DATA_DIR/tls/clients/<id>.pem and <id>-key.pem (default false). */
  write?: boolean;
  /** Clock (tests). */
  now?: Date;
}

export class PkiError extends Error {}

/** Paths of the local PKI under a data directory (nothing is created). */
export function localPkiPaths(dataDir: string) {
  const tlsDir = path.join(path.resolve(dataDir), TLS_DIR);
  return {
    tlsDir,
    caCertPath: path.join(tlsDir, 'ca.pem'),
    caKeyPath: path.join(tlsDir, 'ca-key.pem'),
    serverCertPath: path.join(tlsDir, 'server.pem'),
    serverKeyPath: path.join(tlsDir, 'server-key.pem'),
    clientsDir: path.join(tlsDir, CLIENTS_DIR),
    clientFiles(integrationId: string): CertificateFiles {
      return {
        certPath: path.join(tlsDir, CLIENTS_DIR, `${integrationId}.pem`),
        keyPath: path.join(tlsDir, CLIENTS_DIR, `${integrationId}-key.pem`),
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// Public API

/**
 * Create (first call) or reuse the local CA, server certificate and sample client certificate under
 * DATA_DIR/tls. Safe to call concurrently, from several processes too (a lock file serializes them).
 */
export async function ensureLocalPki(dataDir: string, hostnames: string[], options: EnsureLocalPkiOptions = {}): Promise<LocalPki> {
  const paths = localPkiPaths(dataDir);
  return withPkiLock(paths.tlsDir, async () => {
    const now = options.now ?? new Date();
    const warnings: string[] = [];
    const { ca, created: caCreated } = await loadOrCreateCa(paths, now);
    if (ca.notAfter.getTime() - now.getTime() < CA_WARN_BEFORE_DAYS * DAY_MS) {
      warnings.push(`the local CA (${paths.caCertPath}) expires on ${ca.notAfter.toISOString()}; plan a new CA and redistribute it`);
    }

    const serverNames = normalizeNames(hostnames);
    let serverCreated = false;
    let server = readLeaf(paths.serverCertPath, paths.serverKeyPath);
    if (!server || !leafStillGood(server, ca, now) || !serverNames.every((n) => certCovers(server!.cert, n))) {
      const issued = await issueLeaf(ca, {
        commonName: serverNames.find((n) => net.isIP(n) === 0) ?? 'localhost',
        sans: serverNames.map((n) => ({ type: net.isIP(n) ? 'ip' : 'dns', value: n })),
        eku: [x509.ExtendedKeyUsage.serverAuth],
        notBefore: new Date(now.getTime() - BACKDATE_MS),
        notAfter: new Date(now.getTime() + LEAF_VALIDITY_DAYS * DAY_MS),
      });
      writeFileAtomic(paths.serverKeyPath, issued.keyPem, 0o600);
      writeFileAtomic(paths.serverCertPath, issued.certPem, 0o644);
      server = readLeaf(paths.serverCertPath, paths.serverKeyPath)!;
      serverCreated = true;
    }

    const sampleId = options.sampleIntegrationId ?? SAMPLE_INTEGRATION_ID;
    const sampleFiles = paths.clientFiles(sampleId);
    let sampleCreated = false;
    let sample = readLeaf(sampleFiles.certPath, sampleFiles.keyPath);
    if (!sample || !leafStillGood(sample, ca, now)) {
      await issueClientWithCa(ca, sampleId, { now, write: true }, sampleFiles);
      sample = readLeaf(sampleFiles.certPath, sampleFiles.keyPath)!;
      sampleCreated = true;
    }

    return {
      tlsDir: paths.tlsDir,
      caCertPem: ca.certPem,
      caCertPath: paths.caCertPath,
      caKeyPath: paths.caKeyPath,
      caNotAfter: ca.notAfter,
      serverCertPem: server.certPem,
      serverKeyPem: server.keyPem,
      serverCertPath: paths.serverCertPath,
      serverKeyPath: paths.serverKeyPath,
      serverNames,
      serverNotAfter: new Date(server.cert.validTo),
      sampleClient: { ...describeLeaf(sample), ...sampleFiles, integrationId: sampleId },
      created: { ca: caCreated, server: serverCreated, sampleClient: sampleCreated },
      warnings,
    };
  });
}

/**
 * Issue a client certificate for an integration (CN and URI SAN `urn:audit-siem:integration:<id>`,
 * clientAuth only), signed by DATA_DIR's CA (created if missing) or by `options.ca`. Returns the PEMs;
 * writes them only with `write: true`.
 */
export async function issueClientCertificate(
  dataDir: string,
  integrationId: string,
  options: IssueClientCertificateOptions = {},
): Promise<IssuedCertificate> {
  if (!isIntegrationId(integrationId)) {
    throw new PkiError('integration id must be lower-case letters, digits, . _ - (1..64 chars, starting alphanumeric)');
  }
  if (options.ca) {
    const ca = await caFromPem(options.ca.certPem, options.ca.keyPem);
    return issueClientWithCa(ca, integrationId, { ...options, write: false });
  }
  const paths = localPkiPaths(dataDir);
  return withPkiLock(paths.tlsDir, async () => {
    const { ca } = await loadOrCreateCa(paths, options.now ?? new Date());
    return issueClientWithCa(ca, integrationId, options, paths.clientFiles(integrationId));
  });
}

/**
 * For the CLI (`auditctl cert issue <integration>` or similar): issue a client certificate with the
 * local CA and write it to DATA_DIR/tls/clients/<id>.pem and <id>-key.pem (0600). Returns the paths
 * and validity only, no key material.
 */
export async function issueIntegrationCertificateFiles(
  dataDir: string,
  integrationId: string,
  options: { validityDays?: number } = {},
): Promise<CertificateFiles & { caCertPath: string; serialNumber: string; notAfter: Date; fingerprint256: string }> {
  const issued = await issueClientCertificate(dataDir, integrationId, { validityDays: options.validityDays, write: true });
  return {
    certPath: issued.certPath!,
    keyPath: issued.keyPath!,
    caCertPath: localPkiPaths(dataDir).caCertPath,
    serialNumber: issued.serialNumber,
    notAfter: issued.notAfter,
    fingerprint256: issued.fingerprint256,
  };
}

/** A new, unrelated CA held in memory (tests: "certificate from an unknown CA"). */
export async function createCertificateAuthority(options: { commonName?: string; validityDays?: number } = {}): Promise<CertificateAuthorityPem> {
  const ca = await generateCa(options.commonName ?? `Untrusted test CA ${crypto.randomBytes(4).toString('hex')}`, new Date(), options.validityDays ?? 30);
  return { certPem: ca.certPem, keyPem: ca.keyPem };
}

/** Human-readable lines saying where the PKI files are (for the start-up log). No secrets. */
export function describeLocalPki(pki: LocalPki): string[] {
  return [
    `TLS CA certificate: ${pki.caCertPath}${pki.created.ca ? ' (created)' : ''} (trust this to reach the API)`,
    `TLS server certificate: ${pki.serverCertPath}${pki.created.server ? ' (issued)' : ''} for ${pki.serverNames.join(', ')}, valid until ${pki.serverNotAfter.toISOString()}`,
    `Sample integration client certificate (${pki.sampleClient.integrationId}): ${pki.sampleClient.certPath} with key ${pki.sampleClient.keyPath}`,
    ...pki.warnings.map((w) => `warning: ${w}`),
  ];
}

// ---------------------------------------------------------------------------------------------------
// Internals

interface LoadedCa {
  certPem: string;
  keyPem?: string;
  cert: x509.X509Certificate;
  nodeCert: crypto.X509Certificate;
  signingKey?: CryptoKey;
  notAfter: Date;
  keyPath?: string;
}

interface LoadedLeaf {
  certPem: string;
  keyPem: string;
  cert: crypto.X509Certificate;
}

function randomSerial(): string {
  const bytes = crypto.randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x10; // positive, full length
  return bytes.toString('hex');
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']);
}

function privateKeyPem(key: CryptoKey): string {
  return crypto.KeyObject.from(key).export({ type: 'pkcs8', format: 'pem' }).toString();
}

async function importSigningKey(keyPem: string): Promise<CryptoKey> {
  const der = crypto.createPrivateKey({ key: keyPem, format: 'pem' }).export({ type: 'pkcs8', format: 'der' });
  return webcrypto.subtle.importKey('pkcs8', der, KEY_ALGORITHM, false, ['sign']);
}

function keyMatches(cert: crypto.X509Certificate, keyPem: string): boolean {
  try {
    return cert.checkPrivateKey(crypto.createPrivateKey({ key: keyPem, format: 'pem' }));
  } catch {
    return false;
  }
}

async function generateCa(commonName: string, now: Date, validityDays: number): Promise<LoadedCa & { keyPem: string }> {
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: [{ CN: [commonName] }, { O: ['audit-siem'] }],
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + validityDays * DAY_MS),
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const certPem = cert.toString('pem') + '\n';
  return {
    certPem,
    keyPem: privateKeyPem(keys.privateKey),
    cert,
    nodeCert: new crypto.X509Certificate(certPem),
    signingKey: keys.privateKey,
    notAfter: cert.notAfter,
  };
}

async function caFromPem(certPem: string, keyPem: string | undefined): Promise<LoadedCa> {
  const nodeCert = new crypto.X509Certificate(certPem);
  if (!nodeCert.ca) throw new PkiError('the CA certificate is not a CA (basicConstraints cA=false)');
  if (keyPem !== undefined && !keyMatches(nodeCert, keyPem)) throw new PkiError('the CA private key does not match the CA certificate');
  return {
    certPem,
    keyPem,
    cert: new x509.X509Certificate(certPem),
    nodeCert,
    signingKey: keyPem !== undefined ? await importSigningKey(keyPem) : undefined,
    notAfter: new Date(nodeCert.validTo),
  };
}

function readIfExists(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function loadOrCreateCa(paths: ReturnType<typeof localPkiPaths>, now: Date): Promise<{ ca: LoadedCa; created: boolean }> {
  ensurePrivateDir(paths.tlsDir);
  let certPem = readIfExists(paths.caCertPath);
  let keyPem = readIfExists(paths.caKeyPath);
  if (certPem === undefined && keyPem !== undefined) {
    // A key without its certificate (interrupted first start): nothing can have been issued with it.
    fs.rmSync(paths.caKeyPath, { force: true });
    keyPem = undefined;
  }
  let created = false;
  if (certPem === undefined) {
    const fresh = await generateCa(`audit-siem local CA ${crypto.randomBytes(4).toString('hex')}`, now, CA_VALIDITY_DAYS);
    writeFileNoClobber(paths.caKeyPath, fresh.keyPem, 0o600);
    writeFileNoClobber(paths.caCertPath, fresh.certPem, 0o644);
    certPem = fs.readFileSync(paths.caCertPath, 'utf8');
    keyPem = fs.readFileSync(paths.caKeyPath, 'utf8');
    created = true;
  } else if (keyPem !== undefined) {
    tightenMode(paths.caKeyPath);
  }
  const ca = await caFromPem(certPem, keyPem);
  ca.keyPath = paths.caKeyPath;
  if (ca.notAfter.getTime() <= now.getTime()) {
    throw new PkiError(`the local CA at ${paths.caCertPath} has expired; move ${paths.tlsDir} aside to create a new one`);
  }
  return { ca, created };
}

function tightenMode(file: string): void {
  try {
    if ((fs.statSync(file).mode & 0o077) !== 0) fs.chmodSync(file, 0o600);
  } catch {
    /* best effort */
  }
}

function readLeaf(certPath: string, keyPath: string): LoadedLeaf | undefined {
  const certPem = readIfExists(certPath);
  const keyPem = readIfExists(keyPath);
  if (certPem === undefined || keyPem === undefined) return undefined;
  try {
    const cert = new crypto.X509Certificate(certPem);
    if (!keyMatches(cert, keyPem)) return undefined;
    tightenMode(keyPath);
    return { certPem, keyPem, cert };
  } catch {
    return undefined; // unreadable: re-issue
  }
}

/** Issued by this CA, valid now, and not expiring within RENEW_BEFORE_DAYS. */
function leafStillGood(leaf: LoadedLeaf, ca: LoadedCa, now: Date): boolean {
  if (!leaf.cert.checkIssued(ca.nodeCert) || !leaf.cert.verify(ca.nodeCert.publicKey)) return false;
  const notBefore = new Date(leaf.cert.validFrom).getTime();
  const notAfter = new Date(leaf.cert.validTo).getTime();
  return notBefore <= now.getTime() + BACKDATE_MS && notAfter - now.getTime() > RENEW_BEFORE_DAYS * DAY_MS;
}

function certCovers(cert: crypto.X509Certificate, name: string): boolean {
  return net.isIP(name) ? cert.checkIP(name) !== undefined : cert.checkHost(name, { subject: 'never' }) !== undefined;
}

const UNSPECIFIED = new Set(['0.0.0.0', '::', '']);

/** Requested names plus localhost/127.0.0.1/::1: lower-cased, de-bracketed, de-duplicated, validated. */
function normalizeNames(hostnames: string[]): string[] {
  const out: string[] = [];
  for (const raw of [...hostnames, 'localhost', '127.0.0.1', '::1']) {
    let name = String(raw).trim().toLowerCase();
    if (name.startsWith('[') && name.endsWith(']')) name = name.slice(1, -1);
    if (UNSPECIFIED.has(name)) continue; // bind-all addresses are not names a client connects to
    if (!net.isIP(name) && !/^(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/.test(name)) {
      throw new PkiError(`not a valid host name or IP address for the server certificate: ${JSON.stringify(raw)}`);
    }
    if (!out.includes(name)) out.push(name);
  }
  return out;
}

interface LeafSpec {
  commonName: string;
  sans: x509.JsonGeneralNames;
  eku: x509.ExtendedKeyUsageType[];
  notBefore: Date;
  notAfter: Date;
  organization?: string;
}

async function issueLeaf(ca: LoadedCa, spec: LeafSpec): Promise<IssuedCertificate> {
  if (!ca.signingKey) {
    throw new PkiError(`cannot issue certificates: the CA private key (${ca.keyPath ?? 'ca-key.pem'}) is not available`);
  }
  if (spec.notAfter.getTime() <= spec.notBefore.getTime()) throw new PkiError('notAfter must be after notBefore');
  const keys = await generateKeys();
  const subject: x509.JsonName = [{ CN: [spec.commonName] }];
  if (spec.organization) subject.push({ O: [spec.organization] });
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject,
    issuer: ca.cert.subjectName,
    notBefore: spec.notBefore,
    notAfter: spec.notAfter,
    publicKey: keys.publicKey,
    signingKey: ca.signingKey,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(spec.eku, false),
      new x509.SubjectAlternativeNameExtension(spec.sans, false),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert.publicKey),
    ],
  });
  const certPem = cert.toString('pem') + '\n';
  return { ...describeLeaf({ certPem, keyPem: privateKeyPem(keys.privateKey), cert: new crypto.X509Certificate(certPem) }) };
}

function describeLeaf(leaf: LoadedLeaf): IssuedCertificate {
  return {
    certPem: leaf.certPem,
    keyPem: leaf.keyPem,
    serialNumber: leaf.cert.serialNumber,
    notBefore: new Date(leaf.cert.validFrom),
    notAfter: new Date(leaf.cert.validTo),
    fingerprint256: leaf.cert.fingerprint256,
  };
}

async function issueClientWithCa(
  ca: LoadedCa,
  integrationId: string,
  options: IssueClientCertificateOptions,
  files?: CertificateFiles,
): Promise<IssuedCertificate> {
  const now = options.now ?? new Date();
  let notBefore = options.notBefore ?? new Date(now.getTime() - BACKDATE_MS);
  let notAfter = options.notAfter ?? new Date(now.getTime() + (options.validityDays ?? LEAF_VALIDITY_DAYS) * DAY_MS);
  if (options.expired) {
    notBefore = new Date(now.getTime() - 10 * DAY_MS);
    notAfter = new Date(now.getTime() - DAY_MS);
  }
  const issued = await issueLeaf(ca, {
    commonName: integrationId,
    organization: 'audit-siem integrations',
    sans: [{ type: 'url', value: integrationUri(integrationId) }],
    eku: [x509.ExtendedKeyUsage.clientAuth],
    notBefore,
    notAfter,
  });
  if (options.write && files) {
    writeFileAtomic(files.keyPath, issued.keyPem, 0o600);
    writeFileAtomic(files.certPath, issued.certPem, 0o644);
    return { ...issued, ...files };
  }
  return issued;
}

// One holder per TLS directory at a time: in-process through a promise chain, across processes
// through an exclusive lock file (stale after a minute, e.g. after a crash).
const inProcess = new Map<string, Promise<unknown>>();
const LOCK_STALE_MS = 60_000;
const LOCK_WAIT_MS = 30_000;

async function withPkiLock<T>(tlsDir: string, work: () => Promise<T>): Promise<T> {
  const previous = inProcess.get(tlsDir) ?? Promise.resolve();
  const run = previous.catch(() => undefined).then(async () => {
    ensurePrivateDir(tlsDir);
    const lockPath = path.join(tlsDir, '.pki.lock');
    await acquireFileLock(lockPath);
    try {
      return await work();
    } finally {
      fs.rmSync(lockPath, { force: true });
    }
  });
  inProcess.set(tlsDir, run);
  try {
    return await run;
  } finally {
    if (inProcess.get(tlsDir) === run) inProcess.delete(tlsDir);
  }
}

async function acquireFileLock(lockPath: string): Promise<void> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      fs.closeSync(fs.openSync(lockPath, 'wx', 0o600));
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    try {
      if (Date.now() - fs.statSync(lockPath).mtimeMs > LOCK_STALE_MS) {
        fs.rmSync(lockPath, { force: true });
        continue;
      }
    } catch {
      continue; // vanished meanwhile
    }
    if (Date.now() > deadline) throw new PkiError(`timed out waiting for the PKI lock ${lockPath}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
