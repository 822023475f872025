/**
 * Revoked credentials shared across instances with STORE=elasticsearch (issue 15): each instance
 * keeps its revocations in its own data dir's database (SqliteRevocationStore, what `auditctl token
 * revoke` / `certs revoke` write and what its RevocationList polls), and RevocationSync mirrors
 * them both ways through one small index (`<ELASTICSEARCH_INDEX_PREFIX>-revocations`): what an
 * instance revoked locally is created there, and what any instance put there is added locally. A
 * document's `_id` is a digest of (kind, value, revokedAt), so a revocation is one document however
 * many instances push it, and one local row however often it is pulled. Token ids, subjects and
 * certificate serials only: never a token.
 */
import { createHash } from 'node:crypto';
import { Client } from '@elastic/elasticsearch';
import type { Revocation } from '../revocation-store.port';
import type { SqliteRevocationStore } from '../sqlite/sqlite-revocation-store';
import { StoreUnavailableError } from '../event-store.port';
import { esStatusOf, EsRequestOptions, EsRequests } from './es-requests';

export const REVOCATION_MAPPINGS = {
  dynamic: 'strict',
  properties: {
    id: { type: 'keyword' },
    kind: { type: 'keyword' },
    value: { type: 'keyword' },
    revokedAt: { type: 'date' },
    reason: { type: 'keyword', index: false },
  },
} as const;

interface RevocationDoc extends Revocation {
  id: string;
}

/** The identity of a revocation: the same (kind, value, time) is the same revocation everywhere. */
export function revocationId(r: Pick<Revocation, 'kind' | 'value' | 'revokedAt'>): string {
  return createHash('sha256').update(`${r.kind}\u0000${r.value}\u0000${r.revokedAt}`).digest('hex').slice(0, 40);
}

const PAGE = 1000;

export class ElasticsearchRevocationStore {
  private readonly es: EsRequests;

  constructor(
    client: Client,
    readonly index: string,
    options: EsRequestOptions = {},
  ) {
    this.es = new EsRequests(client, options);
  }

  /** Creates the index with its mapping (an existing one is kept). */
  async init(): Promise<void> {
    try {
      await this.es.client.indices.create({ index: this.index, mappings: REVOCATION_MAPPINGS });
    } catch (err) {
      if (esStatusOf(err) === 400) return; // resource_already_exists_exception: another instance made it
      throw new StoreUnavailableError(`cannot create the revocations index ${this.index}`);
    }
  }

  /** Creates the revocations not stored yet (409: already there, fine). */
  async add(revocations: readonly Revocation[]): Promise<void> {
    if (revocations.length === 0) return;
    const items = await this.es.bulk(
      revocations.map((r) => {
        const id = revocationId(r);
        return { action: { create: { _index: this.index, _id: id } }, doc: { id, kind: r.kind, value: r.value, revokedAt: r.revokedAt, reason: r.reason } satisfies RevocationDoc };
      }),
    );
    for (const item of items) {
      if (item.status !== 409 && (item.status < 200 || item.status >= 300)) throw new StoreUnavailableError(`revocation write failed: ${item.error?.type ?? item.status}`);
    }
  }

  /** Every revocation in the index, oldest first. */
  async list(): Promise<Revocation[]> {
    const out: Revocation[] = [];
    let after: unknown[] | undefined;
    for (;;) {
      const hits = await this.es.search<RevocationDoc>(this.index, {
        size: PAGE,
        query: { match_all: {} },
        sort: [{ revokedAt: { order: 'asc' } }, { id: { order: 'asc' } }],
        ...(after ? { search_after: after } : {}),
      });
      for (const h of hits) out.push({ kind: h.source.kind, value: h.source.value, revokedAt: h.source.revokedAt, reason: h.source.reason ?? null });
      if (hits.length < PAGE) return out;
      after = hits[hits.length - 1].sort;
    }
  }
}

export interface RevocationSyncReport {
  pushed: number;
  pulled: number;
}

/** Mirrors an instance's revocations and the shared index both ways (see the module comment). */
export class RevocationSync {
  constructor(
    private readonly local: SqliteRevocationStore,
    private readonly shared: ElasticsearchRevocationStore,
  ) {}

  async syncOnce(): Promise<RevocationSyncReport> {
    const mine = this.local.list();
    const theirs = await this.shared.list();
    const sharedIds = new Set(theirs.map(revocationId));
    const localIds = new Set(mine.map(revocationId));
    const push = mine.filter((r) => !sharedIds.has(revocationId(r)));
    await this.shared.add(push);
    let pulled = 0;
    for (const r of theirs) {
      if (localIds.has(revocationId(r))) continue;
      if (this.local.addIfAbsent(r)) pulled++;
    }
    return { pushed: push.length, pulled };
  }
}
