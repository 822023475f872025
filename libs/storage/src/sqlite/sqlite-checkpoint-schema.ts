/**
 * Schema of the embedded checkpoint store (same database file as the events). Append-only by
 * triggers: no checkpoint, block root or purged prefix is ever updated or deleted, a checkpoint
 * must be the chain's next one (index, previous hash and a larger tree size), block roots come
 * in order, and a purged prefix can only grow.
 */
export const CHECKPOINT_SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS checkpoints (
  chain           TEXT    NOT NULL,
  idx             INTEGER NOT NULL,
  tree_size       INTEGER NOT NULL,
  root_hash       TEXT    NOT NULL,
  last_hash       TEXT    NOT NULL,
  issued_at       TEXT    NOT NULL,
  previous        TEXT,
  key_id          TEXT    NOT NULL,
  signature       TEXT    NOT NULL,
  checkpoint_hash TEXT    NOT NULL,
  frontier        TEXT    NOT NULL,
  PRIMARY KEY (chain, idx),
  UNIQUE (chain, tree_size)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS merkle_blocks (
  chain TEXT    NOT NULL,
  block INTEGER NOT NULL,
  root  BLOB    NOT NULL,
  PRIMARY KEY (chain, block)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS purged_prefixes (
  chain          TEXT PRIMARY KEY,
  size           INTEGER NOT NULL,
  last_hash      TEXT    NOT NULL,
  frontier       TEXT    NOT NULL,
  checkpoint_idx INTEGER NOT NULL,
  purged_at      TEXT    NOT NULL
);

CREATE TRIGGER IF NOT EXISTS checkpoints_are_immutable BEFORE UPDATE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'checkpoints are immutable'); END;

CREATE TRIGGER IF NOT EXISTS checkpoints_are_never_deleted BEFORE DELETE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'checkpoints cannot be deleted'); END;

CREATE TRIGGER IF NOT EXISTS checkpoints_extend_the_chain BEFORE INSERT ON checkpoints
WHEN NEW.idx <> COALESCE((SELECT MAX(idx) FROM checkpoints WHERE chain = NEW.chain), -1) + 1
  OR NEW.previous IS NOT (SELECT checkpoint_hash FROM checkpoints WHERE chain = NEW.chain AND idx = NEW.idx - 1)
  OR NEW.tree_size <= COALESCE((SELECT tree_size FROM checkpoints WHERE chain = NEW.chain AND idx = NEW.idx - 1), 0)
BEGIN SELECT RAISE(ABORT, 'checkpoint conflict: not the next checkpoint of its chain'); END;

CREATE TRIGGER IF NOT EXISTS merkle_blocks_are_immutable BEFORE UPDATE ON merkle_blocks
BEGIN SELECT RAISE(ABORT, 'Merkle block roots are immutable'); END;

CREATE TRIGGER IF NOT EXISTS merkle_blocks_are_never_deleted BEFORE DELETE ON merkle_blocks
BEGIN SELECT RAISE(ABORT, 'Merkle block roots cannot be deleted'); END;

CREATE TRIGGER IF NOT EXISTS merkle_blocks_in_order BEFORE INSERT ON merkle_blocks
WHEN NEW.block <> COALESCE((SELECT MAX(block) FROM merkle_blocks WHERE chain = NEW.chain), -1) + 1
BEGIN SELECT RAISE(ABORT, 'checkpoint conflict: Merkle block out of order'); END;

CREATE TRIGGER IF NOT EXISTS purged_prefixes_only_grow BEFORE UPDATE ON purged_prefixes
WHEN NEW.size <= OLD.size OR NEW.chain <> OLD.chain
BEGIN SELECT RAISE(ABORT, 'a purged prefix can only grow'); END;

CREATE TRIGGER IF NOT EXISTS purged_prefixes_never_deleted BEFORE DELETE ON purged_prefixes
BEGIN SELECT RAISE(ABORT, 'purged prefixes cannot be deleted'); END;
`;
