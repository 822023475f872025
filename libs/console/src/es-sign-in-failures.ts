/**
 * Failed console sign-ins counted in the cluster (STORE=elasticsearch; the SignInFailures port), so
 * that the lockout (5 attempts per name in 15 minutes) holds across every instance instead of per
 * instance. One document per name in `<prefix>-console-sign-in-failures` (SIGN_IN_FAILURE_MAPPINGS),
 * `_id` the SHA-256 of the lower-cased name (what was typed is never stored). Each attempt reads the
 * document realtime and writes it back with if_seq_no / if_primary_term (created with op_type
 * create): two instances counting at once conflict (409), and the loser reads again and counts on
 * top, so no attempt is lost. Loaded lazily (it pulls in the Elasticsearch client).
 */
import { createHash } from 'node:crypto';
import { EsRequests } from '@app/storage/elasticsearch/es-requests';
import { StoreUnavailableError } from '@app/storage';
import type { ElasticsearchEventStore } from '@app/storage/elasticsearch/es-event-store';
import { SignInFailureCount, SignInFailures } from './sign-in-failures.port';

interface FailureDoc {
  count: number;
  firstMs: number;
  lastMs: number;
}

/** Attempts to write a count against concurrent writers before giving up (503). */
const MAX_ATTEMPTS = 20;
const ok = (status: number) => status >= 200 && status < 300;

export class ElasticsearchSignInFailures implements SignInFailures {
  constructor(
    private readonly es: EsRequests,
    private readonly index: string,
  ) {}

  async count(key: string, nowMs: number, windowMs: number): Promise<SignInFailureCount> {
    const id = docId(key);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const current = (await this.es.mget<FailureDoc>(this.index, [id])).get(id);
      const open = current && nowMs - current.source.firstMs < windowMs ? current.source : null;
      const doc: FailureDoc = open ? { count: open.count + 1, firstMs: open.firstMs, lastMs: nowMs } : { count: 1, firstMs: nowMs, lastMs: nowMs };
      const action: Record<string, Record<string, unknown>> = current
        ? { index: { _index: this.index, _id: id, if_seq_no: current.seqNo, if_primary_term: current.primaryTerm } }
        : { create: { _index: this.index, _id: id } };
      const [item] = await this.es.bulk([{ action, doc }]);
      if (ok(item.status)) return { count: doc.count, firstMs: doc.firstMs };
      if (item.status !== 409) throw new StoreUnavailableError(`sign-in failure count write failed: ${item.error?.type ?? item.status}`);
      // Another attempt for the same name was counted in between: count on top of it.
    }
    throw new StoreUnavailableError('the sign-in failure count kept changing under this attempt');
  }

  async clear(key: string): Promise<void> {
    // A bulk delete: an absent document is an item answered 404, not an error.
    await this.es.call(() => this.es.client.bulk({ operations: [{ delete: { _index: this.index, _id: docId(key) } }] }));
  }
}

function docId(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** The failure counts of the cluster the Elasticsearch event store uses (same client and prefix). */
export function elasticsearchSignInFailuresFor(events: ElasticsearchEventStore): ElasticsearchSignInFailures {
  return new ElasticsearchSignInFailures(new EsRequests(events.client), events.layout.signInFailuresIndex);
}
