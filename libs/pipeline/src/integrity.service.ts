/**
 * Verification use case: recomputes every chain from the store and names the first break
 * (chain, seq, kind). Used by `GET /v1/integrity/verify` and `auditctl verify`.
 */
import { FieldError, Problems } from '@app/core';
import { ChainBreak, ChainVerifier, GENESIS_HASH } from '@app/ledger';
import { EventStore } from '@app/storage';

export interface VerifyRequest {
  chain?: string;
  fromSeq?: number;
  toSeq?: number;
}

export interface ChainReport {
  chain: string;
  verified: number;
  lastSeq: number;
  lastHash: string | null;
}

export interface VerifyResult {
  ok: boolean;
  verified: number;
  break: ChainBreak | null;
  chains: ChainReport[];
}

export type VerifyProgress = (chain: string, verifiedInChain: number, totalInChain: number) => void;

export class IntegrityService {
  constructor(private readonly store: EventStore) {}

  async verify(req: VerifyRequest = {}, onProgress?: VerifyProgress): Promise<VerifyResult> {
    const heads = await this.store.chainHeads();
    const all = await this.store.chains();
    const chains = req.chain ? [req.chain] : all;
    if (req.chain && !all.includes(req.chain)) throw Problems.notFound('No chain with this id.');
    let verified = 0;
    const reports: ChainReport[] = [];
    let firstBreak: ChainBreak | null = null;
    for (const chain of chains) {
      const from = req.fromSeq ?? 0;
      const partialEnd = req.toSeq !== undefined;
      let startPrev: Buffer = GENESIS_HASH;
      if (from > 0) {
        // A range check starts from the stored hash of the record before the range.
        for await (const page of this.store.readChain(chain, from - 1, from - 1, 1)) startPrev = page[0]?.hash ?? startPrev;
      }
      const verifier = new ChainVerifier(chain, { seq: from, prevHash: startPrev });
      const total = onProgress ? await this.store.countChain(chain) : 0;
      let seen = 0;
      for await (const page of this.store.readChain(chain, from, req.toSeq)) {
        let stop = false;
        for (const row of page) {
          if (!verifier.push(row)) {
            stop = true;
            break;
          }
        }
        seen += page.length;
        onProgress?.(chain, seen, total);
        if (stop) break;
      }
      const verdict = verifier.finish(partialEnd ? null : heads.get(chain) ?? null);
      verified += verdict.verified;
      reports.push({ chain, verified: verdict.verified, lastSeq: verdict.lastSeq, lastHash: verdict.lastSeq >= 0 ? verdict.lastHash.toString('hex') : null });
      if (verdict.break && !firstBreak) firstBreak = verdict.break;
    }
    return { ok: firstBreak === null, verified, break: firstBreak, chains: reports };
  }
}

export function parseVerifyQuery(params: Record<string, unknown>): VerifyRequest {
  const errors: FieldError[] = [];
  const out: VerifyRequest = {};
  for (const [key, value] of Object.entries(params)) {
    if (typeof value !== 'string') {
      errors.push({ pointer: `/query/${key.slice(0, 64)}`, message: 'must be a single value' });
      continue;
    }
    if (key === 'chain') out.chain = value.slice(0, 128);
    else if (key === 'from' || key === 'to') {
      const n = Number(value);
      if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) errors.push({ pointer: `/query/${key}`, message: 'must be a sequence number (integer >= 0)' });
      else if (key === 'from') out.fromSeq = n;
      else out.toSeq = n;
    } else errors.push({ pointer: `/query/${key.slice(0, 64)}`, message: 'unknown parameter; use chain, from, to' });
  }
  if (errors.length) throw Problems.validation(errors, 'The verify parameters are invalid.');
  return out;
}
