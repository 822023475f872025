/**
 * Context feeds, the logic behind the routes and the CLI: validates a whole request record by record
 * (names and addresses become matching tokens here, before anything is stored or logged), stores
 * the valid records in one transaction, then applies them to the in-memory AccessContext.
 *
 * "Nothing half-applied": a request is checked whole before anything is written; its valid records
 * are stored together (one SQLite transaction, or one bulk that is undone on a partial failure) and
 * only then applied to the index; its invalid ones are listed in `rejected` and none of their
 * members is kept. A request that cannot be read whole (too large, too many records, not JSON)
 * stores nothing at all.
 */
import { FieldError } from '@app/core';
import { ContextStatus, InMemoryAccessContext } from './context-index';
import { ContextKind, ContextVersion, validateContextRecord } from './context-records';
import { ContextStore } from './context-store.port';
import { MatchingTokenizer } from './matching-tokens';

/** One posted record: its value, or why it could not be read (an NDJSON line that is not JSON). */
export interface PostedRecord {
  /** Position in the request: index in `records`, or 0-based line number of an NDJSON body. */
  index: number;
  value?: unknown;
  unreadable?: FieldError;
}

export interface Rejection {
  index: number;
  pointer: string;
  message: string;
}

export interface ContextReceipt {
  accepted: number;
  rejected: Rejection[];
}

export class ContextService {
  private loaded = false;

  constructor(
    private readonly store: ContextStore,
    readonly index: InMemoryAccessContext,
    private readonly tokens: MatchingTokenizer,
    private readonly now: () => number = Date.now,
  ) {}

  /** Loads every stored version into the index (start-up); returns how many. */
  async load(): Promise<number> {
    let n = 0;
    await this.store.scan((batch) => {
      this.index.apply(batch);
      n += batch.length;
    });
    this.loaded = true;
    return n;
  }

  get isLoaded(): boolean {
    return this.loaded;
  }

  async ingest(kind: ContextKind, records: readonly PostedRecord[]): Promise<ContextReceipt> {
    const receivedAtMs = this.now();
    const accepted: ContextVersion[] = [];
    const rejected: Rejection[] = [];
    for (const r of records) {
      if (r.unreadable) {
        rejected.push({ index: r.index, pointer: r.unreadable.pointer, message: r.unreadable.message });
        continue;
      }
      const checked = validateContextRecord(kind, r.value, receivedAtMs, this.tokens);
      if (checked.ok) accepted.push(checked.version);
      else for (const e of checked.errors) rejected.push({ index: r.index, pointer: e.pointer, message: e.message });
    }
    await this.store.append(accepted);
    this.index.apply(accepted);
    return { accepted: accepted.length, rejected };
  }

  status(): ContextStatus & { loaded: boolean } {
    return { ...this.index.status(), loaded: this.loaded };
  }
}
