/**
 * Version 4: revoked credentials (token ids, token subjects, client-certificate serials) and the
 * client certificates `auditctl certs issue` made, so `certs revoke <integration>` can name their
 * serials. Append-only: a revocation is never updated or deleted.
 */
import type { Migration } from '../schema-migrations';

export const CREDENTIAL_REVOCATIONS_SQL = `
CREATE TABLE IF NOT EXISTS credential_revocations (
  id         INTEGER PRIMARY KEY,
  kind       TEXT NOT NULL CHECK (kind IN ('token', 'subject', 'certificate')),
  value      TEXT NOT NULL,
  revoked_at TEXT NOT NULL,
  reason     TEXT
);
CREATE INDEX IF NOT EXISTS credential_revocations_by_value ON credential_revocations (kind, value);
CREATE TRIGGER IF NOT EXISTS credential_revocations_immutable BEFORE UPDATE ON credential_revocations
BEGIN SELECT RAISE(ABORT, 'revocations are immutable'); END;
CREATE TRIGGER IF NOT EXISTS credential_revocations_never_deleted BEFORE DELETE ON credential_revocations
BEGIN SELECT RAISE(ABORT, 'revocations cannot be deleted'); END;

CREATE TABLE IF NOT EXISTS issued_certificates (
  serial      TEXT PRIMARY KEY,
  integration TEXT NOT NULL,
  issued_at   TEXT NOT NULL,
  not_after   TEXT NOT NULL
);
`;

export const credentialRevocations: Migration = {
  version: 4,
  name: 'credential-revocations',
  up(db) {
    db.exec(CREDENTIAL_REVOCATIONS_SQL);
  },
};
