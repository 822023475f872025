/**
 * Feeds the chain writer from the bus (BUS=kafka): each consumed message is validated again (the
 * topic is a trust boundary too), canonicalized, and submitted to the ChainWriter, which looks its
 * id up, chains it, and resolves once the store holds it. The batch handler resolves only when
 * every message is stored (or deliberately skipped), so the consumer commits offsets after the
 * store, never before.
 *
 * The message key names the chain the publisher chose (chainForEvent with its CHAIN_SHARDS): the
 * record goes to that chain when it is a chain of the event's category, so a chain stays on one
 * partition (one writer) even while publishers and writers disagree on CHAIN_SHARDS (a rolling
 * change); any other key is ignored and the writer picks the chain itself.
 *
 * Every message is its own writer request: one message with a reused id and different content
 * (409) is skipped and counted instead of blocking its partition, and the group commit still
 * batches them into one store append. Unparseable or invalid messages are skipped and counted
 * (poison messages must not stop a chain); their content is never logged.
 */
import { AccessEvent, EventValidator, MAX_CHAIN_SHARDS, ProblemError, parseChainId } from '@app/core';
import { canonicalize } from '@app/ledger';
import { BusBatch } from '@app/storage';
import { CanonicalEvent, ChainWriter } from './chain-writer';
import { MetricsService } from './metrics.service';

export type FeederLog = (level: 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

export class BusChainFeeder {
  private readonly validator = new EventValidator();

  constructor(
    private readonly writer: ChainWriter,
    /** Most messages submitted at once (keeps the writer's queue bounded). */
    private readonly chunkSize: number,
    private readonly metrics?: MetricsService,
    private readonly log: FeederLog = () => undefined,
  ) {}

  /** BusBatchHandler: resolves once every message is durable or skipped; rejects to leave offsets uncommitted. */
  readonly handle = async (batch: BusBatch): Promise<void> => {
    const events: CanonicalEvent[] = [];
    for (const m of batch.messages) {
      const event = this.parse(m.value);
      if (!event) {
        this.count('invalid');
        this.log('warn', 'skipped an invalid bus message', { partition: batch.partition, offset: m.offset });
        continue;
      }
      const chain = keyedChain(m.key, event);
      events.push(chain ? { event, json: canonicalize(event), chain } : { event, json: canonicalize(event) });
    }
    for (let i = 0; i < events.length; i += this.chunkSize) {
      const chunk = events.slice(i, i + this.chunkSize);
      const results = await Promise.allSettled(chunk.map((e) => this.writer.submit([e])));
      let failure: unknown = null;
      results.forEach((r, k) => {
        if (r.status === 'fulfilled') return this.count('stored');
        if (r.reason instanceof ProblemError && r.reason.status === 409) {
          this.count('conflict');
          this.log('warn', 'skipped a bus message whose id was stored with other content', { partition: batch.partition, index: i + k });
          return;
        }
        failure ??= r.reason;
      });
      if (failure) throw failure instanceof Error ? failure : new Error('chain writer failed');
    }
  };

  private parse(value: Buffer | null): AccessEvent | null {
    if (!value) return null;
    try {
      const body: unknown = JSON.parse(value.toString('utf8'));
      if (body === null || typeof body !== 'object' || Array.isArray(body) || 'events' in body) return null;
      return this.validator.parseBody(body, 1)[0] ?? null;
    } catch {
      return null;
    }
  }

  private count(result: 'stored' | 'conflict' | 'invalid'): void {
    this.metrics?.busMessages.inc({ result });
  }
}

/** The chain a message key names, when it is a chain of the event's category (else null). */
function keyedChain(key: string | null | undefined, event: AccessEvent): string | null {
  if (!key) return null;
  const parsed = parseChainId(key);
  if (!parsed || parsed.category !== event.category) return null;
  return parsed.shard === null || parsed.shard < MAX_CHAIN_SHARDS ? key : null;
}
