/**
 * Backup and restore of an embedded data dir (`auditctl backup` / `auditctl restore`).
 *
 * Backup is online and consistent: the database is copied with `VACUUM INTO`, which reads one
 * snapshot in a single read transaction (WAL: the service keeps committing meanwhile, and nothing
 * committed after the snapshot is half in it); then the keys (signing keyring, data keys, token
 * and tokenization keys), the local CA and certificates, cold archives and integrations.json are
 * copied. Keys only ever grow, so keys copied after the snapshot open everything in it. A
 * manifest lists every file with its SHA-256. The lock and WAL files are never copied.
 *
 * Restore copies a backup into an EMPTY data dir after checking every file against the manifest;
 * the caller then verifies the restored store (auditctl restore does).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AppConfig } from '@app/core';
import { SCHEMA_VERSION, databasePath, openDatabase } from '@app/storage';

export const BACKUP_MANIFEST = 'backup-manifest.json';
/** What a backup holds besides the database, relative to the data dir (when present). */
const COPIED = ['keys', 'tls', 'archive', 'integrations.json'];

export interface BackupManifest {
  format: 'audit-backup-1';
  createdAt: string;
  schemaVersion: number;
  /** Chain heads in the copied database (what a restore must give back). */
  heads: Record<string, number>;
  files: { path: string; bytes: number; sha256: string }[];
}

export class BackupError extends Error {}

/** Writes a consistent copy of the data dir (database, keys, certificates, archives) to `outDir` (new or empty). */
export function backupDataDir(config: Pick<AppConfig, 'dataDir' | 'dataKeysDir' | 'tokenizationKeyFile'>, outDir: string): BackupManifest {
  const dataDir = config.dataDir;
  if (!fs.existsSync(databasePath(dataDir))) throw new BackupError(`no audit database in ${dataDir} (use --data-dir)`);
  if (fs.existsSync(outDir) && fs.readdirSync(outDir).length > 0) throw new BackupError(`${outDir} is not empty: back up into a new directory`);
  fs.mkdirSync(outDir, { recursive: true, mode: 0o700 });
  const db = openDatabase(dataDir, { readonly: true });
  let heads: Record<string, number> = {};
  try {
    db.exec('BEGIN');
    heads = Object.fromEntries((db.prepare('SELECT chain, seq FROM chain_heads ORDER BY chain').all() as { chain: string; seq: number }[]).map((h) => [h.chain, h.seq]));
    db.exec('COMMIT');
    // One read transaction: a consistent snapshot while the service keeps writing.
    db.prepare('VACUUM INTO ?').run(path.join(outDir, 'audit.db'));
  } finally {
    if (db.inTransaction) db.exec('ROLLBACK');
    db.close();
  }
  for (const rel of COPIED) {
    const from = path.join(dataDir, rel);
    if (fs.existsSync(from)) fs.cpSync(from, path.join(outDir, rel), { recursive: true, preserveTimestamps: true });
  }
  // Keys kept outside the data dir are brought in under keys/ (restore puts them in the data dir).
  const keysDir = path.join(dataDir, 'keys');
  if (config.dataKeysDir && path.resolve(config.dataKeysDir) !== path.join(keysDir, 'data')) fs.cpSync(config.dataKeysDir, path.join(outDir, 'keys', 'data'), { recursive: true });
  if (config.tokenizationKeyFile && path.resolve(config.tokenizationKeyFile) !== path.join(keysDir, 'tokenization.key')) {
    fs.copyFileSync(config.tokenizationKeyFile, path.join(outDir, 'keys', 'tokenization.key'));
  }
  const manifest: BackupManifest = { format: 'audit-backup-1', createdAt: new Date().toISOString(), schemaVersion: SCHEMA_VERSION, heads, files: listFiles(outDir) };
  fs.writeFileSync(path.join(outDir, BACKUP_MANIFEST), JSON.stringify(manifest, null, 2) + '\n', { mode: 0o600 });
  return manifest;
}

/** Copies a backup into `dataDir`, which must not hold a database yet; checks every file first. */
export function restoreDataDir(fromDir: string, dataDir: string): BackupManifest {
  const manifestFile = path.join(fromDir, BACKUP_MANIFEST);
  if (!fs.existsSync(manifestFile)) throw new BackupError(`no backup at ${fromDir} (${BACKUP_MANIFEST} is missing)`);
  const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as BackupManifest;
  if (manifest.format !== 'audit-backup-1') throw new BackupError(`${fromDir}: not a backup this build knows`);
  if (fs.existsSync(databasePath(dataDir))) throw new BackupError(`${dataDir} already holds an audit database: restore into an empty data dir`);
  for (const f of manifest.files) {
    const file = path.join(fromDir, f.path);
    if (!isInside(fromDir, file) || !fs.existsSync(file) || sha256(file) !== f.sha256) throw new BackupError(`backup file ${f.path} is missing or changed since the backup`);
  }
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  for (const f of manifest.files) {
    const to = path.join(dataDir, f.path);
    fs.mkdirSync(path.dirname(to), { recursive: true, mode: 0o700 });
    fs.copyFileSync(path.join(fromDir, f.path), to);
    if (f.path.startsWith('keys' + path.sep) || f.path.endsWith('-key.pem') || f.path.endsWith('.key')) fs.chmodSync(to, 0o600);
  }
  return manifest;
}

function listFiles(root: string): BackupManifest['files'] {
  const out: BackupManifest['files'] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.isFile()) out.push({ path: path.relative(root, p), bytes: fs.statSync(p).size, sha256: sha256(p) });
    }
  };
  walk(root);
  return out.sort((a, b) => (a.path < b.path ? -1 : 1));
}

function sha256(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function isInside(root: string, p: string): boolean {
  const rel = path.relative(path.resolve(root), path.resolve(p));
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}
