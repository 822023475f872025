/**
 * The auditor's console pages as data: the signed checkpoints (by chain, paged, with the public
 * keys that signed them) and one event's inclusion proof, shown field by field and handed to the
 * in-browser verifier as its JSON text. Reads go through the same services as the API
 * (CheckpointQueryService, ProofService); checkpoints and proofs hold no PHI.
 */
import { Injectable } from '@nestjs/common';
import { Problems } from '@app/core';
import type { Checkpoint, InclusionProofDocument } from '@app/ledger';
import { CheckpointQueryService, ProofService } from '@app/pipeline';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const CHAIN = /^[a-z0-9_.-]{1,64}$/;

export interface CheckpointRow extends Checkpoint {
  rootShort: string;
  previousShort: string;
}

const short = (h: string | null) => (h ? `${h.slice(0, 16)}…` : '—');

@Injectable()
export class AuditorPagesService {
  constructor(
    private readonly checkpoints: CheckpointQueryService,
    private readonly proofs: ProofService,
  ) {}

  async checkpointList(params: Record<string, unknown>) {
    const query: Record<string, string> = {};
    const chain = typeof params.chain === 'string' && params.chain !== '' ? params.chain : undefined;
    if (chain !== undefined) {
      if (!CHAIN.test(chain)) throw Problems.validation([{ pointer: '/query/chain', message: 'must be a chain id (letters, digits, _ . -)' }]);
      query.chain = chain;
    }
    if (typeof params.cursor === 'string' && params.cursor !== '') query.cursor = params.cursor;
    query.limit = '50';
    const page = await this.checkpoints.list(query);
    const rows: CheckpointRow[] = page.checkpoints.map((c) => ({ ...c, rootShort: short(c.rootHash), previousShort: short(c.previous) }));
    return {
      chain: chain ?? '',
      checkpoints: rows,
      next: page.nextCursor ? new URLSearchParams({ ...(chain ? { chain } : {}), cursor: page.nextCursor }).toString() : null,
      publicKeys: page.publicKeys.map((k) => ({ keyId: k.keyId, publicKeyPem: k.publicKeyPem, createdAt: k.createdAt, retiredAt: k.retiredAt })),
    };
  }

  /** The keys file an auditor downloads once and pins (the same form as an export's public-keys.json). */
  async publicKeysJson(): Promise<string> {
    const page = await this.checkpoints.list({ limit: '1' });
    return JSON.stringify(page.publicKeys.map((k) => ({ keyId: k.keyId, publicKeyPem: k.publicKeyPem })), null, 2) + '\n';
  }

  async proof(eventId: unknown) {
    if (eventId === undefined || eventId === '') return { eventId: '', proof: null };
    if (typeof eventId !== 'string' || !UUID.test(eventId)) throw Problems.validation([{ pointer: '/query/event', message: 'must be an event id (UUID)' }]);
    const proof: InclusionProofDocument = await this.proofs.inclusionProof(eventId);
    const keys = JSON.parse(await this.publicKeysJson()) as { keyId: string; publicKeyPem: string }[];
    return {
      eventId,
      proof,
      proofJson: JSON.stringify(proof, null, 2),
      keysJson: JSON.stringify(keys.filter((k) => k.keyId === proof.checkpoint.keyId), null, 2),
      path: proof.auditPath.map((h, i) => ({ level: i + 1, hash: h })),
    };
  }
}
