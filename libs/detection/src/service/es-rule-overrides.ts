/**
 * Rule overrides in Elasticsearch (STORE=elasticsearch), so an admin's change made through any
 * instance applies on the instance running detection and every console shows the same. The
 * `<prefix>-rule-overrides` index (RULE_OVERRIDE_MAPPINGS) holds the audit trail, one document per
 * change, created once (op_type=create) and never updated or deleted: append-only like the embedded
 * store's log. The current overrides are those changes applied in (`atMs`, `id`) order, the same
 * fold on every instance. Each instance keeps the fold in memory (detection checks it per alert
 * without a request) and reads the trail again every `syncMs` and before each change; `loaded`
 * says whether it has read it once (detection waits for it, so no alert of a rule switched off in
 * the cluster is raised by an instance that has not read that yet). Two admins changing the same
 * rule at once both land in the trail; the fold decides, as the log shows. Loaded lazily.
 */
import { randomUUID } from 'node:crypto';
import { EsRequests } from '@app/storage/elasticsearch/es-requests';
import { StoreUnavailableError } from '@app/storage';
import type { ElasticsearchEventStore } from '@app/storage/elasticsearch/es-event-store';
import { RuleException, RuleOverrideChange, RuleOverrideState } from '../rule-overrides';
import type { RuleOverrideStore } from '../rule-override-store.port';

interface ChangeDoc extends RuleOverrideChange {
  id: string;
  atMs: number;
  /** add-exception: the exception; remove-exception: { id } of the one removed. */
  exception?: RuleException | { id: string };
}

const PAGE = 1000;
/** Changes read at most (admin actions: a few a week). */
const MAX_CHANGES = 100_000;

export class ElasticsearchRuleOverrideStore implements RuleOverrideStore {
  private current: RuleOverrideState = { disabled: new Map(), exceptions: [] };
  private trail: ChangeDoc[] = [];
  private timer: NodeJS.Timeout | null = null;
  private syncing: Promise<void> | null = null;
  /** True once the trail has been read (detection starts after). */
  loaded = false;

  constructor(
    private readonly es: EsRequests,
    private readonly index: string,
    private readonly options: { syncMs?: number; now?: () => Date; onSyncError?: (err: unknown) => void; onSynced?: () => void } = {},
  ) {}

  /** Reads the trail now and then every syncMs once `ready` (errors go to onSyncError; the last fold stays). */
  start(ready: () => boolean = () => true): void {
    if (this.timer) return;
    const tick = () => ready() && void this.sync().then(() => this.options.onSynced?.(), (err: unknown) => this.options.onSyncError?.(err));
    this.timer = setInterval(tick, this.options.syncMs ?? 1000);
    this.timer.unref();
    tick();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  state(): RuleOverrideState {
    return this.current;
  }

  history(limit: number, ruleId?: string): RuleOverrideChange[] {
    const out: RuleOverrideChange[] = [];
    for (let i = this.trail.length - 1; i >= 0 && out.length < limit; i--) {
      const c = this.trail[i];
      if (ruleId === undefined || c.ruleId === ruleId) out.push({ at: c.at, by: c.by, ruleId: c.ruleId, action: c.action, detail: c.detail, note: c.note });
    }
    return out;
  }

  async setEnabled(ruleId: string, enabled: boolean, by: string, note: string): Promise<boolean> {
    await this.sync();
    if (this.current.disabled.has(ruleId) !== enabled) return false; // already in that state
    await this.append({ by, ruleId, action: enabled ? 'enable' : 'disable', detail: enabled ? 'rule switched on' : 'rule switched off', note });
    return true;
  }

  async addException(e: Omit<RuleException, 'id' | 'createdAt'>): Promise<RuleException> {
    const full: RuleException = { ...e, id: randomUUID(), createdAt: this.now().toISOString() };
    await this.append({ by: full.createdBy, ruleId: full.ruleId, action: 'add-exception', detail: `${full.field} = ${full.value}`, note: full.reason, exception: full }, full.createdAt);
    return full;
  }

  async removeException(id: string, by: string, note: string): Promise<RuleException | null> {
    await this.sync();
    const found = this.current.exceptions.find((x) => x.id === id);
    if (!found) return null;
    await this.append({ by, ruleId: found.ruleId, action: 'remove-exception', detail: `${found.field} = ${found.value}`, note, exception: { id } });
    return found;
  }

  /** Reads the whole trail (one sync at a time) and folds it. */
  sync(): Promise<void> {
    this.syncing ??= this.read().finally(() => (this.syncing = null));
    return this.syncing;
  }

  private now(): Date {
    return this.options.now?.() ?? new Date();
  }

  private async append(change: Omit<ChangeDoc, 'id' | 'atMs' | 'at'>, at = this.now().toISOString()): Promise<void> {
    const doc: ChangeDoc = { id: randomUUID(), atMs: Date.parse(at), at, ...change };
    const [item] = await this.es.bulk([{ action: { create: { _index: this.index, _id: doc.id } }, doc }]);
    if (item.status < 200 || item.status >= 300) throw new StoreUnavailableError(`rule override write failed: ${item.error?.type ?? item.status}`);
    await this.sync();
  }

  private async read(): Promise<void> {
    const trail: ChangeDoc[] = [];
    let after: unknown[] | undefined;
    while (trail.length < MAX_CHANGES) {
      const hits = await this.es.search<ChangeDoc>(this.index, {
        size: PAGE,
        query: { match_all: {} },
        sort: [{ atMs: { order: 'asc' } }, { id: { order: 'asc' } }],
        ...(after ? { search_after: after } : {}),
      });
      trail.push(...hits.map((h) => h.source));
      if (hits.length < PAGE) break;
      after = [hits[hits.length - 1].source.atMs, hits[hits.length - 1].source.id];
    }
    this.trail = trail;
    this.current = fold(trail);
    this.loaded = true;
  }
}

/** The overrides the changes leave, applied in order (a disable of a disabled rule changes nothing). */
export function fold(trail: readonly ChangeDoc[]): RuleOverrideState {
  const disabled = new Map<string, { by: string; at: string; note: string }>();
  const exceptions = new Map<string, RuleException>();
  for (const c of trail) {
    if (c.action === 'disable' && !disabled.has(c.ruleId)) disabled.set(c.ruleId, { by: c.by, at: c.at, note: c.note });
    else if (c.action === 'enable') disabled.delete(c.ruleId);
    else if (c.action === 'add-exception' && c.exception && 'field' in c.exception) exceptions.set(c.exception.id, c.exception);
    else if (c.action === 'remove-exception' && c.exception) exceptions.delete(c.exception.id);
  }
  return { disabled, exceptions: [...exceptions.values()].sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : 1)) };
}

/** The rule override store of the cluster the Elasticsearch event store uses (same client and prefix). */
export function elasticsearchRuleOverrideStoreFor(
  events: ElasticsearchEventStore,
  report: { onSyncError?: (err: unknown) => void; onSynced?: () => void } = {},
): ElasticsearchRuleOverrideStore {
  return new ElasticsearchRuleOverrideStore(new EsRequests(events.client), events.layout.ruleOverridesIndex, report);
}
