/**
 * Schema of the embedded event store as schema version 1 (the baseline migration) creates it: one
 * `events` table. Version 6 turns that table into partition 0 of the partitioned hot store and
 * `events` into a view over the partitions (event-partitions.ts creates each partition's table,
 * indexes and triggers from its own copy of these columns: this file is the baseline's history and
 * does not change with later layouts); at every read-write open the triggers are re-created there
 * (ensureEventTriggers), not from EVENT_TRIGGERS_SQL.
 *
 * Immutability is enforced by the database itself: triggers
 * refuse every UPDATE and DELETE of an event, and a chain head can only move forward. (The
 * retention purge of whole sealed blocks will get its own, narrowly-scoped exception.)
 *
 * Field-level encryption (sealed-fields.ts): `event` holds the canonical event JSON with `patient.id`
 * and `actor.ip` emptied, `sealed` their AES-256-GCM ciphertext with its key id, and `patient_id` the
 * patient's keyed-HMAC token, never the id. `events_access_log` is a partial index: only the access
 * log's own records (chain `access_log`) pay for it.
 */
export const EVENT_TABLES_SQL = `
CREATE TABLE IF NOT EXISTS events (
  pos          INTEGER PRIMARY KEY,
  chain        TEXT    NOT NULL,
  seq          INTEGER NOT NULL,
  id           TEXT    NOT NULL,
  received_at  TEXT    NOT NULL,
  occurred_ms  INTEGER NOT NULL,
  category     TEXT    NOT NULL,
  action       TEXT    NOT NULL,
  outcome      TEXT    NOT NULL,
  actor_id     TEXT    NOT NULL,
  patient_id   TEXT,
  event        TEXT    NOT NULL,
  sealed       BLOB,
  prev_hash    BLOB    NOT NULL,
  hash         BLOB    NOT NULL,
  UNIQUE (chain, seq),
  UNIQUE (id)
);
CREATE INDEX IF NOT EXISTS events_by_actor   ON events (actor_id, occurred_ms);
CREATE INDEX IF NOT EXISTS events_by_patient ON events (patient_id, occurred_ms) WHERE patient_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_by_time    ON events (occurred_ms);
CREATE INDEX IF NOT EXISTS events_access_log ON events (occurred_ms) WHERE chain = 'access_log';

CREATE TABLE IF NOT EXISTS chain_heads (
  chain TEXT PRIMARY KEY,
  seq   INTEGER NOT NULL,
  hash  BLOB    NOT NULL
);
`;

/** The immutability triggers, re-created at every read-write open (a dropped one comes back). */
export const EVENT_TRIGGERS_SQL = `
CREATE TRIGGER IF NOT EXISTS events_are_immutable BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'audit events are immutable'); END;

CREATE TRIGGER IF NOT EXISTS events_are_never_deleted BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'audit events cannot be deleted'); END;

CREATE TRIGGER IF NOT EXISTS chain_heads_only_advance BEFORE UPDATE ON chain_heads
WHEN NEW.seq <= OLD.seq OR NEW.chain <> OLD.chain
BEGIN SELECT RAISE(ABORT, 'a chain head can only move forward'); END;

CREATE TRIGGER IF NOT EXISTS chain_heads_never_deleted BEFORE DELETE ON chain_heads
BEGIN SELECT RAISE(ABORT, 'chain heads cannot be deleted'); END;
`;

export const EVENT_SCHEMA_SQL = EVENT_TABLES_SQL + EVENT_TRIGGERS_SQL;
