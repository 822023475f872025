/**
 * Revoked credentials with STORE=elasticsearch (issue 15, issue 18 item 2): the cluster is the store
 * of record (the RevocationStore port). `auditctl token revoke` / `certs revoke` and the console's
 * admin pages write here, on any instance's data dir or none, and every instance reads the index
 * (PolledRevocations, @app/security) every REVOCATION_SYNC_MS; no instance keeps a copy in a file.
 * Two indices with explicit mappings (es-schema.ts), created at start by the event store and by
 * init() for a CLI that runs first:
 *   - `<prefix>-revocations`: `_id` is a digest of (kind, value, revokedAt), so a revocation is one
 *     document however often it is written;
 *   - `<prefix>-issued-certificates`: `_id` is the serial (what `certs revoke <integration>` revokes).
 * Token ids, subjects and certificate serials only: never a token.
 */
import { createHash } from 'node:crypto';
import { Client } from '@elastic/elasticsearch';
import type { IssuedCertificateRow, Revocation, RevocationKind, RevocationStore } from '../revocation-store.port';
import { StoreUnavailableError } from '../event-store.port';
import { esStatusOf, EsRequestOptions, EsRequests } from './es-requests';
import { ISSUED_CERTIFICATE_MAPPINGS, REVOCATION_MAPPINGS, SMALL_INDEX_SETTINGS } from './es-schema';

export { REVOCATION_MAPPINGS } from './es-schema';

interface RevocationDoc extends Revocation {
  id: string;
}

/** The identity of a revocation: the same (kind, value, time) is the same revocation everywhere. */
export function revocationId(r: Pick<Revocation, 'kind' | 'value' | 'revokedAt'>): string {
  return createHash('sha256').update(`${r.kind}\u0000${r.value}\u0000${r.revokedAt}`).digest('hex').slice(0, 40);
}

/** The index names of a deployment's prefix (ELASTICSEARCH_INDEX_PREFIX). */
export function revocationIndices(indexPrefix: string): { revocations: string; issued: string } {
  return { revocations: `${indexPrefix}-revocations`, issued: `${indexPrefix}-issued-certificates` };
}

const PAGE = 1000;
const KINDS: readonly RevocationKind[] = ['token', 'subject', 'certificate'];

export class ElasticsearchRevocationStore implements RevocationStore {
  private readonly es: EsRequests;
  private created: Promise<void> | null = null;

  constructor(
    client: Client,
    readonly indices: { revocations: string; issued: string },
    options: EsRequestOptions = {},
  ) {
    this.es = new EsRequests(client, options);
  }

  /** Creates both indices with their mappings once per store (a failed attempt is tried again on the next call). */
  private ready(): Promise<void> {
    this.created ??= this.init().catch((err: unknown) => {
      this.created = null;
      throw err;
    });
    return this.created;
  }

  /** Creates both indices with their mappings (existing ones are kept). */
  async init(): Promise<void> {
    for (const [index, mappings] of [
      [this.indices.revocations, REVOCATION_MAPPINGS],
      [this.indices.issued, ISSUED_CERTIFICATE_MAPPINGS],
    ] as const) {
      try {
        await this.es.client.indices.create({ index, settings: SMALL_INDEX_SETTINGS, mappings });
      } catch (err) {
        if (esStatusOf(err) === 400) continue; // resource_already_exists_exception: the service or another command made it
        throw new StoreUnavailableError(`cannot create the index ${index}`);
      }
    }
  }

  async revoke(kind: RevocationKind, value: string, reason: string | null = null, at = new Date()): Promise<Revocation> {
    const r: Revocation = { kind, value, revokedAt: at.toISOString(), reason };
    await this.add([r]);
    return r;
  }

  /** Creates the revocations not stored yet (409: already there, fine); searches see them once it resolves. */
  async add(revocations: readonly Revocation[]): Promise<void> {
    if (revocations.length === 0) return;
    await this.ready();
    const items = await this.es.bulk(
      revocations.map((r) => {
        const id = revocationId(r);
        return { action: { create: { _index: this.indices.revocations, _id: id } }, doc: { id, kind: r.kind, value: r.value, revokedAt: r.revokedAt, reason: r.reason } satisfies RevocationDoc };
      }),
    );
    for (const item of items) {
      if (item.status !== 409 && (item.status < 200 || item.status >= 300)) throw new StoreUnavailableError(`revocation write failed: ${item.error?.type ?? item.status}`);
    }
  }

  /** Every revocation in the index, oldest first (a complete read: a partial answer throws). */
  async revocations(): Promise<Revocation[]> {
    await this.ready();
    const out: Revocation[] = [];
    let after: unknown[] | undefined;
    for (;;) {
      const hits = await this.es.search<RevocationDoc>(this.indices.revocations, {
        size: PAGE,
        query: { bool: { filter: [{ terms: { kind: KINDS } }] } },
        sort: [{ revokedAt: { order: 'asc' } }, { id: { order: 'asc' } }],
        ...(after ? { search_after: after } : {}),
      });
      for (const h of hits) out.push({ kind: h.source.kind, value: h.source.value, revokedAt: h.source.revokedAt, reason: h.source.reason ?? null });
      if (hits.length < PAGE) return out;
      after = hits[hits.length - 1].sort;
    }
  }

  async recordIssued(cert: IssuedCertificateRow): Promise<void> {
    await this.ready();
    const [item] = await this.es.bulk([{ action: { create: { _index: this.indices.issued, _id: cert.serial } }, doc: { ...cert } }]);
    if (item.status !== 409 && (item.status < 200 || item.status >= 300)) throw new StoreUnavailableError(`issued certificate write failed: ${item.error?.type ?? item.status}`);
  }

  async issuedTo(integration: string): Promise<IssuedCertificateRow[]> {
    await this.ready();
    const out: IssuedCertificateRow[] = [];
    let after: unknown[] | undefined;
    for (;;) {
      const hits = await this.es.search<IssuedCertificateRow>(this.indices.issued, {
        size: PAGE,
        query: { bool: { filter: [{ term: { integration } }] } },
        sort: [{ issuedAt: { order: 'asc' } }, { serial: { order: 'asc' } }],
        ...(after ? { search_after: after } : {}),
      });
      for (const h of hits) out.push({ serial: h.source.serial, integration: h.source.integration, issuedAt: h.source.issuedAt, notAfter: h.source.notAfter });
      if (hits.length < PAGE) return out;
      after = hits[hits.length - 1].sort;
    }
  }
}
