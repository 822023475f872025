/**
 * Read side of checkpoints for the API: `GET /v1/integrity/checkpoints` (signed checkpoints with
 * cursor paging, plus every public key that ever signed one) and the parameters of
 * `GET /v1/integrity/consistency`. Checkpoints hold no PHI.
 */
import { FieldError, Problems, queryParamReader, unknownMemberErrors } from '@app/core';
import type { Checkpoint } from '@app/ledger';
import type { KeyProvider, PublicKeyRecord } from '@app/security/key-provider.port';
import { CheckpointCursor, CheckpointStore } from '@app/storage';

export interface CheckpointListView {
  checkpoints: Checkpoint[];
  nextCursor: string | null;
  /** Every key that signed checkpoints, current last; check a checkpoint with the key its keyId names. */
  publicKeys: PublicKeyRecord[];
}

export interface ConsistencyQuery {
  chain: string;
  fromSize: number;
  toSize?: number;
}

const LIST_KEYS = ['chain', 'limit', 'cursor'];
const CONSISTENCY_KEYS = ['chain', 'from', 'to'];
export const DEFAULT_CHECKPOINT_PAGE = 100;
export const MAX_CHECKPOINT_PAGE = 1000;

function single(params: Record<string, unknown>, key: string, errors: FieldError[]): string | undefined {
  return queryParamReader(params, errors).str(key);
}

function unknownKeys(params: Record<string, unknown>, allowed: string[], errors: FieldError[]): void {
  // An unknown parameter's name is client content: named by position only.
  errors.push(...unknownMemberErrors(Object.keys(params), allowed, '/query', 'parameter'));
}

function count(text: string | undefined, key: string, errors: FieldError[], min = 0): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < min) {
    errors.push({ pointer: `/query/${key}`, message: `must be an integer >= ${min}` });
    return undefined;
  }
  return n;
}

function encodeCursor(c: CheckpointCursor): string {
  return Buffer.from(JSON.stringify([c.chain, c.index]), 'utf8').toString('base64url');
}

function decodeCursor(text: string): CheckpointCursor | null {
  try {
    const v = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && Number.isSafeInteger(v[1]) && (v[1] as number) >= 0) return { chain: v[0], index: v[1] as number };
  } catch {
    /* fall through */
  }
  return null;
}

export function parseConsistencyQuery(params: Record<string, unknown>): ConsistencyQuery {
  const errors: FieldError[] = [];
  unknownKeys(params, CONSISTENCY_KEYS, errors);
  const chain = single(params, 'chain', errors);
  if (chain === undefined && !errors.some((e) => e.pointer === '/query/chain')) errors.push({ pointer: '/query/chain', message: 'is required' });
  const fromText = single(params, 'from', errors);
  if (fromText === undefined && !errors.some((e) => e.pointer === '/query/from')) errors.push({ pointer: '/query/from', message: 'is required (a checkpoint tree size)' });
  const fromSize = count(fromText, 'from', errors, 1);
  const toSize = count(single(params, 'to', errors), 'to', errors, 1);
  if (errors.length) throw Problems.validation(errors, 'The consistency parameters are invalid.');
  return { chain: chain as string, fromSize: fromSize as number, toSize };
}

export class CheckpointQueryService {
  constructor(
    private readonly checkpoints: CheckpointStore,
    private readonly keys: KeyProvider,
  ) {}

  async list(params: Record<string, unknown>): Promise<CheckpointListView> {
    const errors: FieldError[] = [];
    unknownKeys(params, LIST_KEYS, errors);
    const chain = single(params, 'chain', errors);
    const limit = count(single(params, 'limit', errors), 'limit', errors, 1) ?? DEFAULT_CHECKPOINT_PAGE;
    if (limit > MAX_CHECKPOINT_PAGE) errors.push({ pointer: '/query/limit', message: `must be at most ${MAX_CHECKPOINT_PAGE}` });
    const cursorText = single(params, 'cursor', errors);
    const after = cursorText === undefined ? undefined : decodeCursor(cursorText);
    if (after === null) errors.push({ pointer: '/query/cursor', message: 'is not a cursor this service issued' });
    if (errors.length) throw Problems.validation(errors, 'The checkpoint list parameters are invalid.');
    const page = await this.checkpoints.page({ chain, after: after ?? undefined, limit });
    return {
      checkpoints: page.checkpoints.map((c) => c.checkpoint),
      nextCursor: page.next ? encodeCursor(page.next) : null,
      publicKeys: this.keys.publicKeys(),
    };
  }
}
