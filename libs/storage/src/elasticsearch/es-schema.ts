/**
 * Everything the Elasticsearch store declares, as plain data built by pure functions: index and
 * data-stream names, the event mappings (Elastic Common Schema names where one fits, our own
 * `audit.*` for the chain and the canonical event), one index template and one ILM policy per
 * retention class (event category), and the small indices of chain heads, event ids, checkpoints
 * and alerts. The adapter sends exactly these bodies; the specs assert them.
 */
import type { estypes } from '@elastic/elasticsearch';
import { AccessEvent, EVENT_CATEGORIES, EventCategory, MAX_CHAIN_SHARDS, parseChainId } from '@app/core';
import type { ChainedRecord } from '../event-store.port';

export const ECS_VERSION = '8.11.0';

/**
 * Retention per class (category), as ILM durations: when its backing indices move to the warm and
 * cold tiers (ILM ages count from rollover, which comes after every write to the index, so no
 * record moves before its age), and its retention window (whole days). The service derives them
 * from RETENTION_CONFIG (libs/retention es-retention-classes.ts), as the embedded store's windows.
 */
export interface RetentionClass {
  warmAfter: string;
  coldAfter: string;
  deleteAfter: string;
  /** The fewest days the window can span by the calendar (deleteAfter rounds up); default: deleteAfter's days. */
  minDays?: number;
}

/** HIPAA-practice defaults: 7 years (2557 days) and 6 years (2192 days), leap days included. */
export const DEFAULT_RETENTION_DAYS: Record<EventCategory, number> = {
  authentication: 2557,
  security: 2557,
  system_access: 2557,
  data_access: 2192,
  data_modification: 2192,
  administrative: 2192,
};

export interface EsLayoutOptions {
  indexPrefix: string;
  alertsIndex: string;
  checkpointsIndex: string;
  rolloverMaxAge: string;
  rolloverMaxPrimaryShardSize: string;
  /** Tier ages of a class without an entry in `classes`, and of the legal-hold policy. */
  warmAfter: string;
  coldAfter: string;
  /** Per-class windows from the retention configuration; a class left out: warmAfter, coldAfter, DEFAULT_RETENTION_DAYS. */
  classes?: Partial<Record<EventCategory, RetentionClass>>;
}

export class EsLayout {
  constructor(readonly options: EsLayoutOptions) {}

  get prefix(): string {
    return this.options.indexPrefix;
  }

  /** One data stream per retention class. */
  dataStream(category: string): string {
    return `${this.prefix}-events-${category}`;
  }

  /** Every event data stream (reads). */
  get eventsPattern(): string {
    return `${this.prefix}-events-*`;
  }

  get headsIndex(): string {
    return `${this.prefix}-chain-heads`;
  }

  get idsIndex(): string {
    return `${this.prefix}-event-ids`;
  }

  get blocksIndex(): string {
    return `${this.prefix}-merkle-blocks`;
  }

  get purgedIndex(): string {
    return `${this.prefix}-purged-prefixes`;
  }

  get componentTemplate(): string {
    return `${this.prefix}-events-mappings`;
  }

  indexTemplate(category: string): string {
    return `${this.prefix}-events-${category}`;
  }

  ilmPolicy(category: string): string {
    return `${this.prefix}-events-${category}`;
  }

  retention(category: EventCategory): RetentionClass {
    return this.options.classes?.[category] ?? { warmAfter: this.options.warmAfter, coldAfter: this.options.coldAfter, deleteAfter: `${DEFAULT_RETENTION_DAYS[category]}d` };
  }

  /**
   * ILM policy of one retention class: hot (rollover, then sealed read-only), warm, cold, and no
   * delete phase: the retention run deletes a backing index once all its records are past the
   * window, after recording each chain's purged prefix (es-retention-runner.ts), which ILM cannot.
   */
  ilmPolicyBody(category: EventCategory): estypes.IlmPolicy {
    const r = this.retention(category);
    return {
      _meta: { managed_by: 'audit-siem', category, retention: r.deleteAfter, deleted_by: 'the audit-siem retention run' },
      phases: this.keptPhases(r.warmAfter, r.coldAfter),
    };
  }

  /**
   * ILM policy of the backing indices that hold records under an active legal hold (the hold
   * reconciler, es-hold-reconciler.ts, switches them to it and back): the classes' hot, warm and
   * cold phases and no delete phase, so ILM never deletes a held index.
   */
  get holdIlmPolicy(): string {
    return `${this.prefix}-legal-hold`;
  }

  holdIlmPolicyBody(): estypes.IlmPolicy {
    return {
      _meta: { managed_by: 'audit-siem', purpose: 'legal-hold', retention: 'until every covering hold is released' },
      phases: this.keptPhases(this.options.warmAfter, this.options.coldAfter),
    };
  }

  /** The retention class of an event data stream (`<prefix>-events-<category>`), or null. */
  categoryOfDataStream(stream: string): EventCategory | null {
    const head = `${this.prefix}-events-`;
    if (!stream.startsWith(head)) return null;
    const category = stream.slice(head.length);
    return (this.categories as readonly string[]).includes(category) ? (category as EventCategory) : null;
  }

  /** Legal holds (es-legal-hold-store.ts in libs/retention): one document per hold. */
  get legalHoldsIndex(): string {
    return `${this.prefix}-legal-holds`;
  }

  /**
   * Detection progress shared by the instances (es-detection-state.ts in libs/detection): the
   * engine snapshot and the lease naming the one instance that runs detection.
   */
  get detectionStateIndex(): string {
    return `${this.prefix}-detection-state`;
  }

  /** Alerts waiting to be fanned out to their destinations: one document per alert, created with it. */
  get deliveryQueueIndex(): string {
    return `${this.prefix}-alert-delivery-queue`;
  }

  /** Alert deliveries (one per alert and destination): the outbox every instance's dispatcher shares. */
  get deliveriesIndex(): string {
    return `${this.prefix}-alert-deliveries`;
  }

  /** Console accounts and sessions (es-console-store.ts in libs/console). */
  get consoleIndex(): string {
    return `${this.prefix}-console`;
  }

  /** Rule overrides (es-rule-overrides.ts in libs/detection): the admin changes, one document each. */
  get ruleOverridesIndex(): string {
    return `${this.prefix}-rule-overrides`;
  }

  /** Failed console sign-ins per name (es-sign-in-failures.ts in libs/console): the lockout every instance counts in. */
  get signInFailuresIndex(): string {
    return `${this.prefix}-console-sign-in-failures`;
  }

  /** Revoked tokens and certificates, and the certificates issued (es-revocation-store.ts): the store of record. */
  get revocationsIndex(): string {
    return `${this.prefix}-revocations`;
  }

  /** Client certificates issued by `auditctl certs issue` (es-revocation-store.ts). */
  get issuedCertificatesIndex(): string {
    return `${this.prefix}-issued-certificates`;
  }

  /** Retention runs (es-retention-run-records.ts in libs/retention): one document per run. */
  get retentionRunsIndex(): string {
    return `${this.prefix}-retention-runs`;
  }

  /** The phases before deletion: hot, then warm and cold at the given ages. */
  private keptPhases(warmAfter: string, coldAfter: string): estypes.IlmPhases {
    return {
      hot: {
        min_age: '0ms',
        actions: {
          rollover: { max_age: this.options.rolloverMaxAge, max_primary_shard_size: this.options.rolloverMaxPrimaryShardSize },
          // Runs right after rollover: a rolled-over (sealed) backing index takes no more writes.
          readonly: {},
          set_priority: { priority: 100 },
        },
      },
      warm: { min_age: warmAfter, actions: { forcemerge: { max_num_segments: 1 }, set_priority: { priority: 50 } } },
      cold: { min_age: coldAfter, actions: { set_priority: { priority: 0 } } },
    };
  }

  /** Index template of one retention class: its data stream, its ILM policy, the shared mappings. */
  indexTemplateBody(category: EventCategory): Omit<estypes.IndicesPutIndexTemplateRequest, 'name'> {
    return {
      index_patterns: [this.dataStream(category)],
      data_stream: {},
      composed_of: [this.componentTemplate],
      priority: 500,
      template: { settings: { 'index.lifecycle.name': this.ilmPolicy(category) } },
      _meta: { managed_by: 'audit-siem', category },
    };
  }

  componentTemplateBody(): Omit<estypes.ClusterPutComponentTemplateRequest, 'name'> {
    return { template: { settings: { 'index.codec': 'best_compression' }, mappings: mappingOf(EVENT_MAPPINGS) } };
  }

  get categories(): readonly EventCategory[] {
    return EVENT_CATEGORIES;
  }
}

const keyword = { type: 'keyword' } as const;
const stored = { type: 'keyword', index: false, doc_values: false } as const;

/** Mappings of event documents. `dynamic: strict`: a field nobody declared is refused. */
export const EVENT_MAPPINGS = {
  dynamic: 'strict',
  properties: {
    '@timestamp': { type: 'date' },
    ecs: { properties: { version: keyword } },
    event: {
      properties: {
        id: keyword,
        kind: keyword,
        category: keyword,
        type: keyword,
        action: keyword,
        outcome: keyword,
        ingested: { type: 'date' },
        dataset: keyword,
      },
    },
    user: { properties: { id: keyword, roles: keyword } },
    source: { properties: { ip: { type: 'ip' } } },
    client: { properties: { ip: { type: 'ip' } } },
    user_agent: { properties: { original: { type: 'keyword', ignore_above: 1024 } } },
    tls: { properties: { client: { properties: { subject: keyword } } } },
    audit: {
      properties: {
        chain: keyword,
        seq: { type: 'long' },
        record_id: keyword,
        position: { type: 'long' },
        /** Global commit order (see commitPosition): what detection tails. */
        commit_position: { type: 'long' },
        hash: keyword,
        prev_hash: keyword,
        received_at: stored,
        canonical: stored,
        category: keyword,
        outcome: keyword,
        actor: { properties: { id: keyword, type: keyword, role: keyword } },
        /** With field protection (the service always has it) only the token: the id is sealed. */
        patient: { properties: { id: keyword, token: keyword } },
        /** AES-256-GCM envelope of the values cut out of `canonical` (sealed-fields.ts), base64; not indexed. */
        sealed: { type: 'binary' },
        resource: { properties: { type: keyword, id: keyword } },
        purpose: keyword,
        source: { properties: { system: keyword, integration: keyword } },
        record_count: { type: 'long' },
        sensitivity: keyword,
        tls: { properties: { result: keyword, reason: keyword } },
        details: { type: 'flattened' },
      },
    },
  },
} as const;

/** Chain heads: one document per chain, the fence every writer must win (see the store). */
export const HEADS_MAPPINGS = {
  dynamic: 'strict',
  properties: {
    chain: keyword,
    seq: { type: 'long' },
    hash: keyword,
    updated_at: { type: 'date' },
    /** The records this head commits, kept until the next commit, so a successor can finish writing them. */
    pending: { type: 'object', enabled: false },
  },
} as const;

/** Event ids: `_id` = event id, the realtime idempotency and by-id index. */
export const IDS_MAPPINGS = {
  dynamic: 'strict',
  properties: {
    chain: keyword,
    seq: { type: 'long' },
    hash: stored,
    prev_hash: stored,
    received_at: stored,
    canonical: stored,
    sealed: { type: 'binary' },
  },
} as const;

/**
 * Signed checkpoints (kept forever, no PHI): `_id` = `chain:index`, created with op_type=create so
 * exactly one sealer can issue a chain's next checkpoint. The frontier is kept, not indexed.
 */
export const CHECKPOINT_MAPPINGS = {
  dynamic: 'strict',
  properties: {
    chain: keyword,
    index: { type: 'long' },
    treeSize: { type: 'long' },
    rootHash: keyword,
    lastHash: keyword,
    issuedAt: { type: 'date' },
    previous: keyword,
    keyId: keyword,
    signature: stored,
    checkpointHash: keyword,
    frontier: stored,
  },
} as const;

/** Roots of the fixed 1024-record Merkle blocks: `_id` = `chain:block`, created once. */
export const MERKLE_BLOCK_MAPPINGS = {
  dynamic: 'strict',
  properties: {
    chain: keyword,
    block: { type: 'long' },
    root: keyword,
  },
} as const;

/** Purged prefixes (retention): `_id` = chain, moved only forward (if_seq_no), never deleted. */
export const PURGED_PREFIX_MAPPINGS = {
  dynamic: 'strict',
  properties: {
    chain: keyword,
    size: { type: 'long' },
    lastHash: keyword,
    frontier: stored,
    checkpointIndex: { type: 'long' },
    purgedAt: { type: 'date' },
  },
} as const;

/**
 * Alerts: `_id` = alert id (created once: replays change nothing), the columns the alert list
 * filters and sorts on, and the whole record sealed (AES-256-GCM, base64) since it names patients
 * and IPs. Lifecycle updates are fenced with if_seq_no/if_primary_term.
 */
export const ALERT_MAPPINGS = {
  dynamic: 'strict',
  properties: {
    id: keyword,
    ruleId: keyword,
    severity: keyword,
    status: keyword,
    windowEndMs: { type: 'long' },
    position: { type: 'long' },
    createdAt: { type: 'date' },
    updatedAt: { type: 'date' },
    record: { type: 'binary' },
    /** Case work: the user the alert is about, its case, and the tokens of the patients it names (never ids). */
    actorId: keyword,
    caseId: keyword,
    patientTokens: keyword,
  },
} as const;

/**
 * Detection progress (`_id` = `snapshot:<name>` or `lease:<name>`): the sealed engine snapshot with
 * the commit position it covers, and the lease (holder, expiry) of the instance running detection.
 * Both are written with if_seq_no/if_primary_term only, so an instance that lost the lease cannot
 * overwrite its successor's snapshot.
 */
export const DETECTION_STATE_MAPPINGS = {
  dynamic: 'strict',
  properties: {
    kind: keyword,
    name: keyword,
    holder: keyword,
    expiresAtMs: { type: 'long' },
    position: { type: 'long' },
    savedAt: { type: 'date' },
    /** AES-256-GCM envelope of the snapshot JSON (event facts: PHI), base64; not indexed. */
    snapshot: { type: 'binary' },
  },
} as const;

/**
 * The delivery queue: `_id` = alert id, created in the same bulk as the alert (op_type=create, so a
 * replayed alert never re-queues one already fanned out); `fannedOut` once its deliveries exist.
 */
export const DELIVERY_QUEUE_MAPPINGS = {
  dynamic: 'strict',
  properties: {
    alertId: keyword,
    queuedAtMs: { type: 'long' },
    fannedOut: { type: 'boolean' },
  },
} as const;

/**
 * Alert deliveries: `_id` = the stable delivery id receivers de-duplicate on. A dispatcher claims a
 * due delivery by moving `nextAttemptMs` past its claim (if_seq_no), so one instance sends it at a
 * time and another takes it over once the claim lapses. No PHI: ids, names, counters, reasons.
 */
export const DELIVERY_MAPPINGS = {
  dynamic: 'strict',
  properties: {
    id: keyword,
    destination: keyword,
    alertId: keyword,
    state: keyword,
    attempts: { type: 'long' },
    createdMs: { type: 'long' },
    nextAttemptMs: { type: 'long' },
    updatedMs: { type: 'long' },
    lastError: stored,
    claimedBy: keyword,
  },
} as const;

/**
 * A declared (`as const`) mapping as the client's own request type: the constant must be
 * assignable to `estypes.MappingTypeMapping` (checked at compile time, no cast).
 */
export function mappingOf(m: estypes.MappingTypeMapping): estypes.MappingTypeMapping {
  return m;
}

/** Any mapping this module or another store declares (the client's type). */
export type EsMappings = estypes.MappingTypeMapping;

/**
 * Rule overrides as the trail of admin changes (`_id` = change id, created once, never updated):
 * the current overrides are the changes applied in (`atMs`, `id`) order, so every instance folds
 * the same state. No patient field (exceptions never name one); the exception travels with its change.
 */
export const RULE_OVERRIDE_MAPPINGS = {
  dynamic: 'strict',
  properties: {
    id: keyword,
    atMs: { type: 'long' },
    at: { type: 'date' },
    by: keyword,
    ruleId: keyword,
    action: keyword,
    detail: stored,
    note: stored,
    exception: { type: 'object', enabled: false },
  },
} as const;

/**
 * Console accounts (`_id` = `user:<name>`) and sessions (`_id` = `session:<SHA-256 of the session
 * id>`: the id itself is never stored). Password hashes (scrypt) and CSRF tokens are kept, not indexed.
 */
export const CONSOLE_MAPPINGS = {
  dynamic: 'strict',
  properties: {
    kind: keyword,
    name: keyword,
    role: keyword,
    passwordHash: stored,
    mustChange: { type: 'boolean' },
    disabled: { type: 'boolean' },
    createdAt: { type: 'date' },
    updatedAt: { type: 'date' },
    userName: keyword,
    via: keyword,
    csrf: stored,
    createdMs: { type: 'long' },
    lastSeenMs: { type: 'long' },
    expiresMs: { type: 'long' },
  },
} as const;

/**
 * Failed console sign-ins (`_id` = SHA-256 of the lower-cased name: what was typed as a name, a
 * password by mistake included, is never stored), updated with if_seq_no so concurrent attempts on
 * several instances all count.
 */
export const SIGN_IN_FAILURE_MAPPINGS = {
  dynamic: 'strict',
  properties: {
    count: { type: 'integer' },
    firstMs: { type: 'long' },
    lastMs: { type: 'long' },
  },
} as const;

/**
 * Revoked credentials (`_id` = a digest of kind, value and time: the same revocation is one
 * document however often it is written): token ids, subjects and certificate serials, never a token.
 */
export const REVOCATION_MAPPINGS = {
  dynamic: 'strict',
  properties: {
    id: keyword,
    kind: keyword,
    value: keyword,
    revokedAt: { type: 'date' },
    reason: { type: 'keyword', index: false },
  },
} as const;

/** Client certificates `auditctl certs issue` made (`_id` = serial), so that revoking an integration finds them. */
export const ISSUED_CERTIFICATE_MAPPINGS = {
  dynamic: 'strict',
  properties: {
    serial: keyword,
    integration: keyword,
    issuedAt: { type: 'date' },
    notAfter: { type: 'date' },
  },
} as const;

/**
 * Retention runs (`_id` = run id): the list fields indexed, the full report kept as stored JSON
 * (chain ids, sequence numbers, index names and counts; never PHI).
 */
export const RETENTION_RUN_MAPPINGS = {
  dynamic: 'strict',
  properties: {
    id: keyword,
    startedAt: { type: 'date' },
    finishedAt: { type: 'date' },
    now: { type: 'date' },
    trigger: keyword,
    status: keyword,
    deleted: { type: 'long' },
    report: stored,
  },
} as const;

/** Small, always-consistent indices: one primary shard, refreshed on demand by the store. */
export const SMALL_INDEX_SETTINGS = { number_of_shards: 1 } as const;

/** Records one head move can commit; also the stride of commit positions. */
export const COMMIT_SLOTS = 1024;

/**
 * Global, monotonic commit position of the k-th record of a head move: the heads index has one
 * shard, so the `_seq_no` of head writes totally orders every commit of every writer and chain.
 * Sparse (a stride of COMMIT_SLOTS per commit), which is all a tailing cursor needs.
 */
export function commitPosition(headSeqNo: number, k: number): number {
  return headSeqNo * COMMIT_SLOTS + k;
}

/** `_id` of an event document. */
export function recordId(chain: string, seq: number): string {
  return `${chain}:${seq}`;
}

/**
 * Numeric tie-breaker for query order and cursors (the SQLite store's global position): the
 * chain's ordinal in the high bits, the sequence number in the low 44 bits (17.6 trillion records
 * per chain). Unique per record and stable, which is all a search_after cursor needs.
 */
export function recordPosition(chain: string, seq: number): number {
  // A shard chain (`data_access.3`, chain-id.ts) takes a negative position: 1 + category x 64 + shard
  // in the high bits (at most 384 x 2^44 < 2^53), so it can meet neither another shard nor the
  // positive positions of unsharded chains already stored.
  const shard = parseChainId(chain);
  if (shard && shard.shard !== null && shard.shard < MAX_CHAIN_SHARDS) {
    return -((1 + (EVENT_CATEGORIES as readonly string[]).indexOf(shard.category) * MAX_CHAIN_SHARDS + shard.shard) * 2 ** 44 + seq);
  }
  const known = (EVENT_CATEGORIES as readonly string[]).indexOf(chain);
  let ordinal = known + 1;
  if (known < 0) {
    let h = 0;
    for (const ch of chain) h = (h * 31 + ch.charCodeAt(0)) % 500;
    ordinal = 7 + h;
  }
  return ordinal * 2 ** 44 + seq;
}

const ECS_CATEGORY: Partial<Record<EventCategory, string[]>> = {
  authentication: ['authentication'],
  data_access: ['database'],
  data_modification: ['database'],
  system_access: ['session'],
  administrative: ['iam'],
};

function ecsTypes(e: AccessEvent): string[] {
  const types: string[] = [];
  if (e.category === 'data_access') types.push('access');
  else if (e.category === 'data_modification') types.push(e.action === 'create' ? 'creation' : e.action === 'delete' ? 'deletion' : 'change');
  else if (e.category === 'authentication' || e.category === 'system_access') types.push(e.action === 'login' ? 'start' : e.action === 'logout' ? 'end' : 'info');
  else if (e.category === 'administrative') types.push('admin');
  else types.push('info');
  if (e.outcome === 'denied') types.push('denied');
  return types;
}

/**
 * A record's protected form (field protection, sealed-fields.ts): the canonical JSON with
 * `patient.id`, `actor.ip` and a Patient resource's id emptied, the sealed values, and the
 * keyed-HMAC token of the patient id that the patient field indexes instead of the id.
 */
export interface ProtectedFields {
  storedJson: string;
  sealed: Buffer | null;
  patientToken?: string;
}

/**
 * The document stored for one chained record. With `p` (the service always has field protection)
 * no patient id or IP is written in clear: the patient field holds the token, `source.ip` and
 * `client.ip` are left out, and `audit.canonical` is the emptied text next to `audit.sealed`.
 */
export function eventDocument(r: ChainedRecord, p?: ProtectedFields, commitPos?: number) {
  const e = r.event;
  const patientResource = p !== undefined && e.resource?.type.toLowerCase() === 'patient';
  return {
    // Normalized to UTC milliseconds so every RFC 3339 form parses; the exact text stays in audit.canonical.
    '@timestamp': new Date(Date.parse(e.occurredAt)).toISOString(),
    ecs: { version: ECS_VERSION },
    event: {
      id: e.id,
      kind: 'event',
      ...(ECS_CATEGORY[e.category] ? { category: ECS_CATEGORY[e.category] } : {}),
      type: ecsTypes(e),
      action: e.action,
      outcome: e.outcome === 'success' ? 'success' : 'failure',
      ingested: r.receivedAt,
      dataset: 'audit.access',
    },
    user: { id: e.actor.id, ...(e.actor.role ? { roles: [e.actor.role] } : {}) },
    ...(e.actor.ip && !p ? { source: { ip: e.actor.ip }, client: { ip: e.actor.ip } } : {}),
    ...(e.actor.userAgent ? { user_agent: { original: e.actor.userAgent } } : {}),
    ...(e.tls?.clientSubject ? { tls: { client: { subject: e.tls.clientSubject } } } : {}),
    audit: {
      chain: r.chain,
      seq: r.seq,
      record_id: recordId(r.chain, r.seq),
      position: recordPosition(r.chain, r.seq),
      ...(commitPos !== undefined ? { commit_position: commitPos } : {}),
      hash: r.hash.toString('hex'),
      prev_hash: r.prevHash.toString('hex'),
      received_at: r.receivedAt,
      canonical: p ? p.storedJson : r.eventJson,
      ...(p?.sealed ? { sealed: p.sealed.toString('base64') } : {}),
      category: e.category,
      outcome: e.outcome,
      actor: { id: e.actor.id, type: e.actor.type, ...(e.actor.role ? { role: e.actor.role } : {}) },
      ...(e.patient ? { patient: p ? { token: p.patientToken } : { id: e.patient.id } } : {}),
      ...(e.resource ? { resource: { type: e.resource.type, ...(e.resource.id && !patientResource ? { id: e.resource.id } : {}) } } : {}),
      ...(e.purpose ? { purpose: e.purpose } : {}),
      source: { system: e.source.system, ...(e.source.integration ? { integration: e.source.integration } : {}) },
      ...(e.recordCount !== undefined ? { record_count: e.recordCount } : {}),
      ...(e.sensitivity ? { sensitivity: e.sensitivity } : {}),
      ...(e.tls ? { tls: { result: e.tls.result, ...(e.tls.reason ? { reason: e.tls.reason } : {}) } } : {}),
      ...(e.details ? { details: e.details } : {}),
    },
  };
}

/** The event-ids document of one record (realtime receipt and by-id lookups); protected like the event document. */
export function idsDocument(r: ChainedRecord, p?: ProtectedFields) {
  return {
    chain: r.chain,
    seq: r.seq,
    hash: r.hash.toString('hex'),
    prev_hash: r.prevHash.toString('hex'),
    received_at: r.receivedAt,
    canonical: p ? p.storedJson : r.eventJson,
    ...(p?.sealed ? { sealed: p.sealed.toString('base64') } : {}),
  };
}

/** A record as kept in a head's `pending` list (enough to rebuild both documents). */
export interface PendingRecord {
  seq: number;
  received_at: string;
  canonical: string;
  prev_hash: string;
  hash: string;
  /** Sealed values of `canonical` (base64), with field protection. */
  sealed?: string;
}

export function pendingRecord(r: ChainedRecord, p?: ProtectedFields): PendingRecord {
  return {
    seq: r.seq,
    received_at: r.receivedAt,
    canonical: p ? p.storedJson : r.eventJson,
    prev_hash: r.prevHash.toString('hex'),
    hash: r.hash.toString('hex'),
    ...(p?.sealed ? { sealed: p.sealed.toString('base64') } : {}),
  };
}

/** The record a pending entry commits; `open` gives back the canonical JSON of a protected entry. */
export function fromPending(chain: string, p: PendingRecord, open: (stored: string, sealed?: string) => string = (s) => s): ChainedRecord {
  const canonical = open(p.canonical, p.sealed);
  return {
    chain,
    seq: p.seq,
    receivedAt: p.received_at,
    event: JSON.parse(canonical) as AccessEvent,
    eventJson: canonical,
    prevHash: Buffer.from(p.prev_hash, 'hex'),
    hash: Buffer.from(p.hash, 'hex'),
  };
}
