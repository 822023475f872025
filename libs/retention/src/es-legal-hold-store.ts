/**
 * Elasticsearch LegalHoldStore (STORE=elasticsearch): holds live in the cluster, in their own
 * index `<prefix>-legal-holds` (strict mappings, one primary shard), so every API instance of a
 * scale-out deployment sees the same holds. `_id` = hold id, created with `op_type=create`; the
 * one allowed change, a release, is fenced with `if_seq_no`/`if_primary_term` so two instances
 * cannot both release (or overwrite a release). Writes wait for a refresh, so a hold is listed by
 * every instance once `create` returns.
 *
 * Patient ids are never stored in clear, as in the SQLite store: `patient_token` is the keyed-HMAC
 * token (what the event documents index in `audit.patient.token`) and `patient_sealed` the id
 * sealed with AES-256-GCM (base64, not indexed), opened only to show a hold.
 *
 * Not exported from the library index: it loads @elastic/elasticsearch; import it lazily
 * (`@app/retention/es-legal-hold-store`). `coverage` (chain ranges) is the embedded runner's
 * question; with Elasticsearch ILM deletes whole backing indices and the hold reconciler
 * (es-hold-reconciler.ts) keeps held ones off the delete phase, so it refuses to answer.
 */
import type { Client } from '@elastic/elasticsearch';
import { errors } from '@elastic/elasticsearch';
import { EsRequestOptions, EsRequests, esStatusOf } from '@app/storage/elasticsearch/es-requests';
import { SMALL_INDEX_SETTINGS, StoreUnavailableError } from '@app/storage';
import { LegalHold, LegalHoldStatus } from './legal-hold';
import { HoldCoverage, HoldPatientProtection, HoldRelease, LegalHoldAlreadyReleasedError, LegalHoldNotFoundError, LegalHoldStore } from './legal-hold-store.port';

const keyword = { type: 'keyword' } as const;
const stored = { type: 'keyword', index: false, doc_values: false } as const;

/** Mappings of hold documents; `dynamic: strict` refuses any field not declared here. */
export const LEGAL_HOLD_MAPPINGS = {
  dynamic: 'strict',
  properties: {
    id: keyword,
    status: keyword,
    patient_token: keyword,
    patient_sealed: { type: 'binary' },
    actor: keyword,
    from: { type: 'date' },
    to: { type: 'date' },
    reason: stored,
    case_id: keyword,
    created_by: keyword,
    created_by_role: keyword,
    created_at: { type: 'date' },
    released_at: { type: 'date' },
    released_by: keyword,
    released_by_role: keyword,
    release_note: stored,
  },
} as const;

/** A hold as stored (no patient id in clear). */
export interface LegalHoldDocument {
  id: string;
  status: LegalHoldStatus;
  patient_token: string | null;
  patient_sealed: string | null;
  actor: string | null;
  from: string | null;
  to: string | null;
  reason: string;
  case_id: string;
  created_by: string;
  created_by_role: string;
  created_at: string;
  released_at: string | null;
  released_by: string | null;
  released_by_role: string | null;
  release_note: string | null;
}

export interface EsLegalHoldStoreOptions extends EsRequestOptions {
  /** `<prefix>-legal-holds` (EsLayout.legalHoldsIndex). */
  index: string;
  /** Tokenizes and seals patient ids (holdPatientProtection over the deployment's field protection). */
  patientIds: HoldPatientProtection;
}

/** Most holds `list` returns (holds are few; a deployment with more needs paging). */
const MAX_HOLDS = 10_000;

export class EsLegalHoldStore implements LegalHoldStore {
  private readonly es: EsRequests;
  private ready: Promise<void> | null = null;

  constructor(
    client: Client,
    private readonly options: EsLegalHoldStoreOptions,
  ) {
    this.es = new EsRequests(client, options);
  }

  /** Creates the holds index when missing (idempotent; retried on the next call after a failure). */
  init(): Promise<void> {
    this.ready ??= this.createIndex().catch((err: unknown) => {
      this.ready = null;
      throw err;
    });
    return this.ready;
  }

  async create(h: LegalHold): Promise<void> {
    await this.init();
    const [item] = await this.es.bulk([{ action: { create: { _index: this.options.index, _id: h.id } }, doc: this.toDocument(h) }]);
    if (item.status >= 300) throw new Error(`legal hold could not be stored (${item.status} ${item.error?.type ?? 'error'})`);
  }

  async get(id: string): Promise<LegalHold | null> {
    await this.init();
    const found = (await this.es.mget<LegalHoldDocument>(this.options.index, [id])).get(id);
    return found ? this.toHold(found.source) : null;
  }

  async list(status?: LegalHoldStatus): Promise<LegalHold[]> {
    await this.init();
    const hits = await this.es.search<LegalHoldDocument>(this.options.index, {
      query: status ? { bool: { filter: [{ term: { status } }] } } : { match_all: {} },
      sort: [{ created_at: { order: 'desc' } }, { id: { order: 'asc' } }],
      size: MAX_HOLDS,
    });
    return hits.map((h) => this.toHold(h.source));
  }

  async release(id: string, r: HoldRelease): Promise<LegalHold> {
    await this.init();
    const found = (await this.es.mget<LegalHoldDocument>(this.options.index, [id])).get(id);
    if (!found) throw new LegalHoldNotFoundError(id);
    if (found.source.status !== 'active') throw new LegalHoldAlreadyReleasedError(id);
    const doc: LegalHoldDocument = {
      ...found.source,
      status: 'released',
      released_at: r.releasedAt,
      released_by: r.releasedBy,
      released_by_role: r.releasedByRole,
      release_note: r.releaseNote,
    };
    const [item] = await this.es.bulk([
      { action: { index: { _index: this.options.index, _id: id, if_seq_no: found.seqNo, if_primary_term: found.primaryTerm } }, doc },
    ]);
    // Another instance released it between our read and write: a release is never overwritten.
    if (item.status === 409) throw new LegalHoldAlreadyReleasedError(id);
    if (item.status >= 300) throw new Error(`legal hold release could not be stored (${item.status} ${item.error?.type ?? 'error'})`);
    return this.toHold(doc);
  }

  async coverage(_chain: string, _fromSeq: number, _toSeq: number): Promise<HoldCoverage> {
    throw new Error('legal hold coverage by chain range is the embedded retention run; with Elasticsearch, holds are enforced per backing index (EsLegalHoldReconciler)');
  }

  private toDocument(h: LegalHold): LegalHoldDocument {
    const ids = this.options.patientIds;
    return {
      id: h.id,
      status: h.status,
      patient_token: h.patient === null ? null : ids.token(h.patient),
      patient_sealed: h.patient === null ? null : ids.seal(h.patient).toString('base64'),
      actor: h.actor,
      from: h.from,
      to: h.to,
      reason: h.reason,
      case_id: h.caseId,
      created_by: h.createdBy,
      created_by_role: h.createdByRole,
      created_at: h.createdAt,
      released_at: h.releasedAt,
      released_by: h.releasedBy,
      released_by_role: h.releasedByRole,
      release_note: h.releaseNote,
    };
  }

  private toHold(d: LegalHoldDocument): LegalHold {
    return {
      id: d.id,
      status: d.status,
      patient: d.patient_sealed === null ? null : this.options.patientIds.open(Buffer.from(d.patient_sealed, 'base64')),
      actor: d.actor,
      from: d.from,
      to: d.to,
      reason: d.reason,
      caseId: d.case_id,
      createdBy: d.created_by,
      createdByRole: d.created_by_role,
      createdAt: d.created_at,
      releasedAt: d.released_at,
      releasedBy: d.released_by,
      releasedByRole: d.released_by_role,
      releaseNote: d.release_note,
    };
  }

  private async createIndex(): Promise<void> {
    try {
      await this.es.client.indices.create({ index: this.options.index, settings: SMALL_INDEX_SETTINGS, mappings: LEGAL_HOLD_MAPPINGS });
    } catch (err) {
      if (isAlreadyExists(err)) return;
      throw new StoreUnavailableError(`Elasticsearch: the legal holds index could not be created (${(err as Error)?.name ?? 'error'}${esStatusOf(err) ? ` ${esStatusOf(err)}` : ''})`);
    }
  }
}

function isAlreadyExists(err: unknown): boolean {
  return err instanceof errors.ResponseError && err.body?.error?.type === 'resource_already_exists_exception';
}
