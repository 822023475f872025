/**
 * Console accounts and sessions in Elasticsearch (STORE=elasticsearch), so a person signed in
 * through one instance is signed in on every instance (no sticky sessions needed) and an account
 * added on any instance exists on all. One index, `<prefix>-console` (CONSOLE_MAPPINGS):
 *   - `user:<name>`: created with op_type=create (two admins adding the same name: one wins, the
 *     other is told it exists); a reset or a password change is written with if_seq_no against the
 *     version read, so concurrent changes are never lost silently;
 *   - `session:<hash>`: the SHA-256 of the session id (the id itself is never stored), read
 *     realtime on every console request.
 * A reset ends the account's sessions; a password change clears their `mustChange`. Expired
 * sessions are removed when a new one starts. Loaded lazily (it pulls in the Elasticsearch client).
 */
import { EsRequests, EsVersioned, checkComplete } from '@app/storage/elasticsearch/es-requests';
import { StoreUnavailableError } from '@app/storage';
import type { ElasticsearchEventStore } from '@app/storage/elasticsearch/es-event-store';
import type { Role } from '@app/security';
import type { ConsoleAccounts, ConsoleSessionRow, ConsoleUser } from './console-accounts.port';

interface UserDoc extends ConsoleUser {
  kind: 'user';
  updatedAt: string;
}

interface SessionDoc extends ConsoleSessionRow {
  kind: 'session';
}

const MAX_ATTEMPTS = 5;
const ok = (status: number) => status >= 200 && status < 300;
const userId = (name: string) => `user:${name}`;
const sessionId = (hash: string) => `session:${hash}`;

export class ElasticsearchConsoleStore implements ConsoleAccounts {
  constructor(
    private readonly es: EsRequests,
    private readonly index: string,
  ) {}

  async user(name: string): Promise<ConsoleUser | null> {
    const doc = (await this.es.mget<UserDoc>(this.index, [userId(name)])).get(userId(name));
    return doc ? toUser(doc.source) : null;
  }

  async users(): Promise<ConsoleUser[]> {
    const out: ConsoleUser[] = [];
    let after: unknown[] | undefined;
    for (;;) {
      const hits = await this.es.search<UserDoc>(this.index, {
        size: 1000,
        query: { bool: { filter: [{ term: { kind: 'user' } }] } },
        sort: [{ name: { order: 'asc' } }],
        ...(after ? { search_after: after } : {}),
      });
      out.push(...hits.map((h) => toUser(h.source)));
      if (hits.length < 1000) return out;
      after = [hits[hits.length - 1].source.name];
    }
  }

  async putUser(name: string, role: Role, passwordHash: string, replace = false): Promise<'created' | 'reset' | 'exists'> {
    const now = new Date().toISOString();
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const current = (await this.es.mget<UserDoc>(this.index, [userId(name)])).get(userId(name));
      if (current && !replace) return 'exists';
      const doc: UserDoc = { kind: 'user', name, role, passwordHash, mustChange: true, disabled: false, createdAt: current?.source.createdAt ?? now, updatedAt: now };
      const [item] = await this.es.bulk([{ action: current ? this.versioned(userId(name), current) : { create: { _index: this.index, _id: userId(name) } }, doc }]);
      if (ok(item.status)) {
        if (current) await this.endSessionsOf(name);
        return current ? 'reset' : 'created';
      }
      if (item.status !== 409) throw new StoreUnavailableError(`console account write failed: ${item.error?.type ?? item.status}`);
      if (!replace) return 'exists'; // created by someone else in between
    }
    throw new StoreUnavailableError('the console account kept changing under this update');
  }

  async setPassword(name: string, passwordHash: string): Promise<void> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const current = (await this.es.mget<UserDoc>(this.index, [userId(name)])).get(userId(name));
      if (!current) return;
      const doc: UserDoc = { ...current.source, passwordHash, mustChange: false, updatedAt: new Date().toISOString() };
      const [item] = await this.es.bulk([{ action: this.versioned(userId(name), current), doc }]);
      if (ok(item.status)) {
        const sessions = await this.sessionsOf(name);
        if (sessions.length > 0) await this.es.bulk(sessions.map((s) => ({ action: { index: { _index: this.index, _id: sessionId(s.hash) } }, doc: { ...s.doc, mustChange: false } })));
        return;
      }
      if (item.status !== 409) throw new StoreUnavailableError(`console account write failed: ${item.error?.type ?? item.status}`);
    }
    throw new StoreUnavailableError('the console account kept changing under this update');
  }

  async createSession(idHash: string, row: ConsoleSessionRow): Promise<void> {
    await this.removeExpired(row.createdMs);
    const doc: SessionDoc = { kind: 'session', ...row };
    const [item] = await this.es.bulk([{ action: { create: { _index: this.index, _id: sessionId(idHash) } }, doc }]);
    if (!ok(item.status)) throw new StoreUnavailableError(`console session write failed: ${item.error?.type ?? item.status}`);
  }

  async session(idHash: string): Promise<ConsoleSessionRow | null> {
    const doc = (await this.es.mget<SessionDoc>(this.index, [sessionId(idHash)])).get(sessionId(idHash));
    if (!doc) return null;
    const { kind: _kind, ...row } = doc.source;
    return row;
  }

  async touchSession(idHash: string, nowMs: number): Promise<void> {
    const current = (await this.es.mget<SessionDoc>(this.index, [sessionId(idHash)])).get(sessionId(idHash));
    if (!current) return;
    // A conflict means another instance touched or ended it at the same time: either is fine.
    await this.es.bulk([{ action: this.versioned(sessionId(idHash), current), doc: { ...current.source, lastSeenMs: Math.max(nowMs, current.source.lastSeenMs) } }]);
  }

  async deleteSession(idHash: string): Promise<void> {
    await this.es.call(() => this.es.client.bulk({ refresh: 'wait_for', operations: [{ delete: { _index: this.index, _id: sessionId(idHash) } }] }));
  }

  private versioned(id: string, v: EsVersioned<unknown>): Record<string, Record<string, unknown>> {
    return { index: { _index: this.index, _id: id, if_seq_no: v.seqNo, if_primary_term: v.primaryTerm } };
  }

  /** The sessions of one account, with their id hashes (from `_id`). */
  private async sessionsOf(name: string): Promise<{ hash: string; doc: SessionDoc }[]> {
    const resp = await this.es.call(() =>
      this.es.client.search<SessionDoc>({
        index: this.index,
        size: 1000,
        track_total_hits: false,
        query: { bool: { filter: [{ term: { kind: 'session' } }, { term: { userName: name } }] } },
      }),
    );
    checkComplete(resp, 'the sessions of a console account');
    return resp.hits.hits.map((h) => ({ hash: h._id!.slice('session:'.length), doc: h._source! }));
  }

  private async endSessionsOf(name: string): Promise<void> {
    const sessions = await this.sessionsOf(name);
    if (sessions.length === 0) return;
    await this.es.call(() => this.es.client.bulk({ refresh: 'wait_for', operations: sessions.map((s) => ({ delete: { _index: this.index, _id: sessionId(s.hash) } })) }));
  }

  private async removeExpired(nowMs: number): Promise<void> {
    const resp = await this.es.call(() =>
      this.es.client.search<SessionDoc>({
        index: this.index,
        size: 1000,
        track_total_hits: false,
        query: { bool: { filter: [{ term: { kind: 'session' } }, { range: { expiresMs: { lt: nowMs } } }] } },
      }),
    );
    checkComplete(resp, 'expired console sessions');
    const ids = resp.hits.hits.map((h) => h._id!);
    if (ids.length > 0) await this.es.call(() => this.es.client.bulk({ refresh: 'wait_for', operations: ids.map((id) => ({ delete: { _index: this.index, _id: id } })) }));
  }
}

function toUser(d: UserDoc): ConsoleUser {
  return { name: d.name, role: d.role, passwordHash: d.passwordHash, mustChange: d.mustChange, disabled: d.disabled, createdAt: d.createdAt };
}

/** The console store of the cluster the Elasticsearch event store uses (same client and prefix). */
export function elasticsearchConsoleStoreFor(events: ElasticsearchEventStore): ElasticsearchConsoleStore {
  return new ElasticsearchConsoleStore(new EsRequests(events.client), events.layout.consoleIndex);
}
