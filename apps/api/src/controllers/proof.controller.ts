/**
 * Inclusion proof of one event (CONTRACT "Inclusion proof": `GET /v1/events/{id}/proof`): the
 * record hash, its audit path and the signed checkpoint it leads to. Thin: ProofService does it.
 */
import { Controller, Get, Param } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { Problems } from '@app/core';
import type { InclusionProofDocument } from '@app/ledger';
import { AuditAccess, ProofService } from '@app/pipeline';
import { RequireScope } from '@app/security';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

@ApiTags('integrity')
@ApiBearerAuth()
@Controller('v1/events')
export class ProofController {
  constructor(private readonly proofs: ProofService) {}

  @Get(':id/proof')
  @RequireScope('proofs:read')
  @AuditAccess('events.proof', { resource: 'Proof' })
  @ApiOperation({
    summary: 'RFC 9162 inclusion proof of the event against the latest signed checkpoint of its chain (sealed on demand if none covers it yet).',
  })
  @ApiResponse({ status: 200, description: '{ chain, seq, recordHash, leafIndex, auditPath, checkpoint }; check it with the key named by checkpoint.keyId.' })
  async proof(@Param('id') id: string): Promise<InclusionProofDocument> {
    if (!UUID.test(id)) throw Problems.validation([{ pointer: '/path/id', message: 'must be a UUID' }]);
    return this.proofs.inclusionProof(id);
  }
}
