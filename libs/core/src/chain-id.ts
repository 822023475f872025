/**
 * Which chain an event belongs to, and what a chain id says (README "Sharded chains").
 *
 * A chain is (category, shard). The category gives the retention window (every record of a chain
 * shares one, so retention drops whole prefixes without breaking verification of what remains);
 * the shard, from a stable key of the event (its source: the posting integration and system,
 * hashed), lets several writers work on one category at once (CHAIN_SHARDS, one Kafka partition
 * per chain).
 *
 * Chain ids: with one shard per category (the default, and every store made before sharding) the
 * chain id is the bare category, `data_access`. With CHAIN_SHARDS = n > 1 it is the category, a
 * dot and the shard number in 0..n-1: `data_access.3`. A category never contains a dot (they are
 * `[a-z_]+`), nor does the access log's chain, so a shard id can never be taken for a category,
 * and ids stay safe in URLs, file names, Elasticsearch `_id`s (`chain:seq`) and metric labels.
 *
 * Changing CHAIN_SHARDS on an existing store is safe: no record moves and no chain is rewritten;
 * events received from then on go to the chains of the new count, chains no longer chosen simply
 * stop growing and keep verifying, and retention treats every chain of a category alike.
 */
import { createHash } from 'node:crypto';
import { AccessEvent, EVENT_CATEGORIES, EventCategory } from './access-event';

/** Most shards per category (CHAIN_SHARDS): 6 categories x 64 = 384 chains at most. */
export const MAX_CHAIN_SHARDS = 64;

/** What the shard is computed from: the event's source (integration, then system), NUL-separated. */
export function shardKey(event: Pick<AccessEvent, 'source'>): string {
  return `${event.source.integration ?? ''}\u0000${event.source.system}`;
}

const shardHashes = new Map<string, number>();
const MAX_REMEMBERED_KEYS = 10_000;

/**
 * The shard of a source key among `shards`: the first four bytes of SHA-256(key, UTF-8) as an
 * unsigned big-endian integer, modulo `shards`. Anyone can recompute it; sources are few, so the
 * hash of each is remembered (bounded).
 */
export function shardOfKey(key: string, shards: number): number {
  let h = shardHashes.get(key);
  if (h === undefined) {
    h = createHash('sha256').update(key, 'utf8').digest().readUInt32BE(0);
    if (shardHashes.size >= MAX_REMEMBERED_KEYS) shardHashes.clear();
    shardHashes.set(key, h);
  }
  return h % shards;
}

/** The chain id of a category's shard (the bare category when the category has one shard). */
export function shardChainId(category: EventCategory, shard: number, shards: number): string {
  return shards <= 1 ? category : `${category}.${shard}`;
}

/** The chain an event is appended to with `shards` chains per category (default 1: the category). */
export function chainForEvent(event: Pick<AccessEvent, 'category'> & Partial<Pick<AccessEvent, 'source'>>, shards = 1): string {
  if (shards <= 1 || event.source === undefined) return event.category;
  return shardChainId(event.category, shardOfKey(shardKey(event as Pick<AccessEvent, 'source'>), shards), shards);
}

export interface ParsedChainId {
  category: EventCategory;
  /** null: the category's unsharded chain (the bare category id). */
  shard: number | null;
}

const SHARD_CHAIN = /^([a-z_]+)\.(0|[1-9]\d{0,5})$/;

/** What a chain id names; null for a chain that is no event category's (e.g. the access log). */
export function parseChainId(chain: string): ParsedChainId | null {
  if ((EVENT_CATEGORIES as readonly string[]).includes(chain)) return { category: chain as EventCategory, shard: null };
  const m = SHARD_CHAIN.exec(chain);
  if (!m || !(EVENT_CATEGORIES as readonly string[]).includes(m[1])) return null;
  return { category: m[1] as EventCategory, shard: Number(m[2]) };
}

/** The category whose retention window a chain follows; null when the chain is no category's. */
export function categoryOfChain(chain: string): EventCategory | null {
  return parseChainId(chain)?.category ?? null;
}

/**
 * The chains a `chain` filter names among `known` (verify, export): the chain itself when it
 * exists; for a bare category, also every shard chain of that category.
 */
export function chainsNamedBy(filter: string, known: readonly string[]): string[] {
  const asCategory = (EVENT_CATEGORIES as readonly string[]).includes(filter);
  return known.filter((c) => c === filter || (asCategory && parseChainId(c)?.category === filter));
}
