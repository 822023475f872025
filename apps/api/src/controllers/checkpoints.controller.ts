/**
 * Signed checkpoints over HTTP: `GET /v1/integrity/checkpoints` (the checkpoints, paged, and the
 * public keys to check them with) and `GET /v1/integrity/consistency` (RFC 9162 consistency proof
 * between two checkpoints of a chain, by tree size). Checkpoints hold no PHI. Thin controller.
 */
import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { CheckpointListView, CheckpointQueryService, ConsistencyProofDocument, ProofService, parseConsistencyQuery } from '@app/pipeline';
import { RequireScope } from '@app/security';

@ApiTags('integrity')
@ApiBearerAuth()
@Controller('v1/integrity')
export class CheckpointsController {
  constructor(
    private readonly checkpoints: CheckpointQueryService,
    private readonly proofs: ProofService,
  ) {}

  @Get('checkpoints')
  @RequireScope('checkpoints:read')
  @ApiOperation({ summary: 'Signed checkpoints (by chain, in issue order) and every public key { keyId, publicKeyPem } that signed them.' })
  @ApiQuery({ name: 'chain', required: false })
  @ApiQuery({ name: 'limit', required: false, description: '1..1000, default 100' })
  @ApiQuery({ name: 'cursor', required: false, description: 'nextCursor of the previous page' })
  async list(@Query() params: Record<string, unknown>): Promise<CheckpointListView> {
    return this.checkpoints.list(params);
  }

  @Get('consistency')
  @RequireScope('checkpoints:read')
  @ApiOperation({ summary: 'RFC 9162 consistency proof: the checkpoint of tree size `from` is a prefix of the one of size `to` (default: the latest).' })
  @ApiQuery({ name: 'chain', required: true })
  @ApiQuery({ name: 'from', required: true, description: 'tree size of the older checkpoint' })
  @ApiQuery({ name: 'to', required: false, description: 'tree size of the newer checkpoint (default: latest)' })
  async consistency(@Query() params: Record<string, unknown>): Promise<ConsistencyProofDocument> {
    const q = parseConsistencyQuery(params);
    return this.proofs.consistencyProof(q.chain, q.fromSize, q.toSize);
  }
}
