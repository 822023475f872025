/** Chain ids with sharded chains (chain-id.ts): the documented shard formula, today's ids kept, no id taken for another, CHAIN_SHARDS validated. */
import { createHash } from 'node:crypto';
import { ACCESS_LOG_CHAIN } from './access-log';
import { AccessEvent, EVENT_CATEGORIES } from './access-event';
import { MAX_CHAIN_SHARDS, categoryOfChain, chainForEvent, chainsNamedBy, parseChainId, shardChainId } from './chain-id';
import { ConfigError, loadConfig } from './config';

const event = (category: AccessEvent['category'], integration: string | undefined, system: string) => ({ category, source: { system, ...(integration ? { integration } : {}) } });
/** The formula README "Sharded chains" gives, computed here with node:crypto alone. */
const documentedShard = (integration: string, system: string, n: number) => createHash('sha256').update(`${integration}\u0000${system}`).digest().readUInt32BE(0) % n;

describe('chain ids', () => {
  it('keeps the category as the chain id with one shard (the default), whatever the source', () => {
    for (const c of EVENT_CATEGORIES) {
      expect(chainForEvent(event(c, 'ehr-1', 'epic'))).toBe(c);
      expect(chainForEvent(event(c, 'ehr-1', 'epic'), 1)).toBe(c);
    }
  });

  it('picks category.shard from SHA-256 of the source with n shards, the same shard for every category of a source', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const s = documentedShard(`ehr-${i}`, `sys-${i}`, 8);
      expect(chainForEvent(event('data_access', `ehr-${i}`, `sys-${i}`), 8)).toBe(`data_access.${s}`);
      expect(chainForEvent(event('security', `ehr-${i}`, `sys-${i}`), 8)).toBe(`security.${s}`);
      seen.add(`data_access.${s}`);
    }
    expect(seen.size).toBe(8); // 40 sources reach every shard
    // No integration (the CLI's own records have none): the system alone, after an empty integration.
    expect(chainForEvent(event('administrative', undefined, 'auditctl'), 8)).toBe(`administrative.${documentedShard('', 'auditctl', 8)}`);
  });

  it('reads back what it writes, and no shard id can be taken for a category or the access log', () => {
    const ids = new Set<string>();
    for (const c of EVENT_CATEGORIES) {
      expect(parseChainId(c)).toEqual({ category: c, shard: null });
      for (let s = 0; s < MAX_CHAIN_SHARDS; s++) {
        const id = shardChainId(c, s, MAX_CHAIN_SHARDS);
        expect(parseChainId(id)).toEqual({ category: c, shard: s });
        expect(categoryOfChain(id)).toBe(c);
        ids.add(id);
      }
    }
    expect(ids.size).toBe(EVENT_CATEGORIES.length * MAX_CHAIN_SHARDS);
    for (const c of [...EVENT_CATEGORIES, ACCESS_LOG_CHAIN]) expect(ids.has(c)).toBe(false);
    for (const other of [ACCESS_LOG_CHAIN, 'data_access.01', 'data_access.', 'data_access.-1', 'patients.3', 'data_access.3.1', 'DATA_ACCESS.3']) expect(parseChainId(other)).toBeNull();
  });

  it('a category names all of its chains, an id only itself', () => {
    const known = ['access_log', 'authentication', 'data_access', 'data_access.0', 'data_access.7', 'security.2'];
    expect(chainsNamedBy('data_access', known)).toEqual(['data_access', 'data_access.0', 'data_access.7']);
    expect(chainsNamedBy('data_access.7', known)).toEqual(['data_access.7']);
    expect(chainsNamedBy('security', known)).toEqual(['security.2']);
    expect(chainsNamedBy('access_log', known)).toEqual(['access_log']);
    expect(chainsNamedBy('administrative', known)).toEqual([]);
  });
});

describe('CHAIN_SHARDS', () => {
  it('defaults to 1 and reads 1..64', () => {
    expect(loadConfig({}).integrity?.chainShards).toBe(1);
    expect(loadConfig({ CHAIN_SHARDS: '8' }).integrity?.chainShards).toBe(8);
    expect(loadConfig({ CHAIN_SHARDS: '64' }).integrity?.chainShards).toBe(64);
  });

  it('refuses anything else at start, naming the key and the range', () => {
    for (const bad of ['0', '65', '2.5', 'eight', '-1']) {
      expect(() => loadConfig({ CHAIN_SHARDS: bad })).toThrow(ConfigError);
      expect(() => loadConfig({ CHAIN_SHARDS: bad })).toThrow(/CHAIN_SHARDS: must be a whole number from 1 to 64/);
    }
  });
});
