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
import { FieldError, PatientContext, Problems, UserContext } from '@app/core';
import { ContextStatus, ContextIndex } from './context-index';
import { ContextKind, ContextRecord, ContextVersion, validateContextRecord } from './context-records';
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
    readonly index: ContextIndex,
    private readonly tokens: MatchingTokenizer,
    private readonly now: () => number = Date.now,
  ) {
    index.useNameTokenizer((clear) => tokens.token('name', clear));
  }

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

  /**
   * Applies versions other instances stored (STORE=elasticsearch, ContextSync) to the index, as if
   * received here: users and patients take their place by validity time, encounters by receipt
   * (ContextIndex.orderEncountersByReceipt, set with that store).
   */
  applyOthers(versions: readonly ContextVersion[]): void {
    this.index.apply(versions);
  }

  get isLoaded(): boolean {
    return this.loaded;
  }

  /** Checks and stores one request's records of one kind (see the module comment for what is kept). */
  async ingest(kind: ContextKind, records: readonly PostedRecord[]): Promise<ContextReceipt> {
    const batch = this.batch();
    const rejected = batch.add(kind, records);
    await batch.commit();
    return { accepted: batch.size, rejected };
  }

  /** A request's records of several kinds, checked one by one and stored together (FHIR Bundles). */
  batch(): ContextBatch {
    // Records applied before the stored ones would be overtaken by older versions: wait for the load.
    if (!this.loaded) throw Problems.unavailable('The context is still being loaded from the store; retry shortly. Nothing was stored.', 5);
    return new ContextBatch(this.store, this.index, this.tokens, this.now());
  }

  status(): ContextStatus & { loaded: boolean } {
    return { ...this.index.status(), loaded: this.loaded };
  }
}

/** Raw member -> stored member(s) it sets, for merging a partial record over what is known. */
const MERGED_MEMBERS: Record<'users' | 'patients', Record<string, string>> = {
  users: { family: 'familyToken', given: 'givenToken', homeAddress: 'homeAddressToken', department: 'department', title: 'title', status: 'status', terminatedAt: 'terminatedAt', patientId: 'patientId' },
  patients: { family: 'familyToken', address: 'addressToken', vip: 'vip', deceased: 'deceased' },
};

/**
 * The versions of one request: each record is checked when added (rejections returned at once),
 * nothing is stored until `commit`, which stores them all in one transaction and then applies them.
 * `merge`: a record sets only the members it carries over the newest known version of its id (FHIR
 * resources that each describe part of a person: Practitioner and PractitionerRole, Patient and
 * RelatedPerson; related persons are added to the known ones). Parts of one person in one request,
 * valid from the same time, are one version (the merged record): a Patient and its RelatedPerson in
 * one Bundle must not leave a version without the related person that earlier accesses would see.
 */
export class ContextBatch {
  private readonly versions: ContextVersion[] = [];
  /** kind:id -> the index in `versions` of this request's newest version of that id. */
  private readonly pending = new Map<string, number>();

  constructor(
    private readonly store: ContextStore,
    private readonly index: ContextIndex,
    private readonly tokens: MatchingTokenizer,
    private readonly receivedAtMs: number,
  ) {}

  get size(): number {
    return this.versions.length;
  }

  add(kind: ContextKind, records: readonly PostedRecord[], options: { merge?: boolean } = {}): Rejection[] {
    const rejected: Rejection[] = [];
    for (const r of records) {
      if (r.unreadable) {
        rejected.push({ index: r.index, pointer: r.unreadable.pointer, message: r.unreadable.message });
        continue;
      }
      let value = r.value;
      const merging = options.merge === true && kind !== 'encounters' && value !== null && typeof value === 'object' && !Array.isArray(value);
      const raw = value as Record<string, unknown>;
      const current = merging && typeof raw.id === 'string' ? this.current(kind, raw.id) : undefined;
      if (merging && kind === 'users' && raw.status === undefined) value = { ...raw, status: (current as UserContext | undefined)?.status ?? 'active' };
      const checked = validateContextRecord(kind, value, this.receivedAtMs, this.tokens);
      if (!checked.ok) {
        for (const e of checked.errors) rejected.push({ index: r.index, pointer: e.pointer, message: e.message });
        continue;
      }
      const version = checked.version;
      if (merging && current) version.record = mergeRecord(kind as 'users' | 'patients', current, version.record, raw);
      const key = `${kind}:${version.record.id}`;
      const earlier = this.pending.get(key);
      if (merging && earlier !== undefined && this.versions[earlier].validFromMs === version.validFromMs) {
        this.versions[earlier] = version;
      } else {
        this.pending.set(key, this.versions.length);
        this.versions.push(version);
      }
    }
    return rejected;
  }

  /** Stores every added version in one transaction, then applies them to the index. */
  async commit(): Promise<void> {
    await this.store.append(this.versions);
    this.index.apply(this.versions);
  }

  private current(kind: ContextKind, id: string): ContextRecord | undefined {
    const earlier = this.pending.get(`${kind}:${id}`);
    return earlier !== undefined ? this.versions[earlier].record : this.index.latest(kind, id);
  }
}

function mergeRecord(kind: 'users' | 'patients', current: ContextRecord, next: ContextRecord, raw: Record<string, unknown>): ContextRecord {
  const merged: Record<string, unknown> = { ...current };
  const from = next as unknown as Record<string, unknown>;
  for (const [member, stored] of Object.entries(MERGED_MEMBERS[kind])) {
    if (raw[member] === undefined) continue;
    if (from[stored] === undefined) delete merged[stored];
    else merged[stored] = from[stored];
  }
  if (kind === 'patients' && raw.relatedPersons !== undefined) {
    const known = (current as PatientContext).relatedPersons;
    const added = (next as PatientContext).relatedPersons.filter((p) => !known.some((k) => k.familyToken === p.familyToken && k.addressToken === p.addressToken));
    merged.relatedPersons = [...known, ...added];
  }
  return merged as unknown as ContextRecord;
}
