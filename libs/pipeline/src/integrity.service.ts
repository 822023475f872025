/**
 * Verification use case: recomputes every chain and checks its signed checkpoints, and names the
 * first break of every chain (chain, seq, kind; `column` for a stored index column that differs
 * from its record). Used by `GET /v1/integrity/verify` and `auditctl verify`.
 *
 * Each chain's checkpoints are checked first (signature under a known public key, link to the one
 * before, no shrinking or forking); the trusted ones cut the chain into ranges verified
 * independently (records recomputed and linked, and at every checkpoint the last hash of the
 * records must equal the signed one; with `full`, the Merkle root too). Records are read through the
 * ChainReader port the infrastructure binds (CHAIN_READERS): with the embedded store, ranges run on
 * all cores in worker threads, each with its own reader of the data dir; a store read only in this
 * thread (Elasticsearch) is verified in-process.
 */
import { AppConfig, FieldError, Problems, chainsNamedBy, unknownMemberErrors } from '@app/core';
import { ChainBreak, ChainPlan, RangeVerdict, frontierFromJSON, mergeChainVerdicts, planChainVerification } from '@app/ledger';
import { ChainReaderSource, CheckpointStore, EventStore, eventStoreChainReaders } from '@app/storage';
import { VerifyTask, VerifyTaskResult, serializeRangeSpec } from './verification/verify-task';
import { defaultWorkerCount, runVerifyTasks } from './verification/verification-runner';

export interface VerifyRequest {
  /** One chain; a bare category also names its shard chains (chain-id.ts chainsNamedBy) unless `exactChain`. */
  chain?: string;
  /** `chain` is one chain id only (the monitor's per-chain checks). */
  exactChain?: boolean;
  fromSeq?: number;
  toSeq?: number;
  /**
   * Also recompute every checkpoint's Merkle root (`auditctl verify --full`, `?full=true`). Without
   * it each checkpoint is checked by its signature, link and lastHash: one hash per record
   * (libs/ledger/src/range-verifier.ts says what only the roots add).
   */
  full?: boolean;
}

export interface ChainReport {
  chain: string;
  verified: number;
  lastSeq: number;
  lastHash: string | null;
  /** Signed checkpoints of the chain, and how many were checked against the records and matched. */
  checkpoints: number;
  checkpointsVerified: number;
  /** Records at the start of the chain deleted by retention (its purged prefix, 0 when none): verification starts after them (the store's verification; an export's offline check leaves it out). */
  purged?: number;
}

export interface VerifyResult {
  ok: boolean;
  verified: number;
  /** The first break of the first broken chain (in chain order); `breaks` has every chain's first. */
  break: ChainBreak | null;
  breaks: ChainBreak[];
  chains: ChainReport[];
  /** Checkpoints checked (signature, link, tree head) over all chains. */
  checkpointsVerified: number;
}

export type VerifyProgress = (chain: string, verifiedInChain: number, totalInChain: number) => void;

/** Public keys the checkpoints are checked with: `{ keyId, publicKeyPem }`. */
export type PublicKeySource = () => readonly { keyId: string; publicKeyPem: string }[];

export interface IntegrityOptions {
  checkpoints?: CheckpointStore;
  publicKeys?: PublicKeySource;
  /** Where the records are read (the infrastructure's CHAIN_READERS); default: the store's own readChain, in-process. */
  chains?: ChainReaderSource;
  /** Worker threads, always used when set (1 verifies in-process); default: every core, in-process below parallelThreshold. */
  workers?: number;
  /** Fewer records than this are verified in-process: starting workers would cost more. Default 200,000. */
  parallelThreshold?: number;
}

export class IntegrityService {
  constructor(
    private readonly store: EventStore,
    private readonly options: IntegrityOptions = {},
  ) {}

  /** The recorded head of every chain (what a tail or incremental check starts from). */
  heads(): ReturnType<EventStore['chainHeads']> {
    return this.store.chainHeads();
  }

  /** How records are checked (the chain readers' path: native extension or JavaScript, and why). */
  verificationPath(): string {
    return (this.options.chains ?? eventStoreChainReaders(this.store)).path();
  }

  async verify(req: VerifyRequest = {}, onProgress?: VerifyProgress): Promise<VerifyResult> {
    const { checkpoints } = this.options;
    const chainReaders = this.options.chains ?? eventStoreChainReaders(this.store);
    const storeChains = await this.store.chains();
    const all = [...new Set([...storeChains, ...(checkpoints ? await checkpoints.chains() : [])])].sort();
    // `chain=data_access` with sharded chains: every chain of the category (chain-id.ts).
    const chains = req.chain ? (req.exactChain ? all.filter((c) => c === req.chain) : chainsNamedBy(req.chain, all)) : all;
    if (req.chain && chains.length === 0) throw Problems.notFound('No chain with this id.');
    const heads = await this.store.chainHeads();
    const keys = new Map<string, string>();
    for (const k of this.options.publicKeys?.() ?? []) keys.set(k.keyId, k.publicKeyPem);

    const plans: ChainPlan[] = [];
    const checkpointCounts: number[] = [];
    const purgedSizes: number[] = [];
    const tasks: VerifyTask[] = [];
    const taskChain: number[] = [];
    let estimate = 0;
    for (const h of heads.values()) estimate += h.seq + 1;
    // An explicit worker count is honoured; by default small stores are verified in-process.
    const workers = this.options.workers ?? (estimate < (this.options.parallelThreshold ?? 200_000) ? 1 : defaultWorkerCount());
    for (const chain of chains) {
      const stored = checkpoints ? await checkpoints.list(chain) : [];
      const size = (heads.get(chain)?.seq ?? -1) + 1;
      // After a retention purge the chain starts at its first retained record: the purged
      // prefix's last hash and Merkle frontier stand in for the deleted records.
      const purged = checkpoints ? await checkpoints.purgedPrefix(chain) : null;
      const plan = planChainVerification({
        start: purged ? { seq: purged.size, prevHash: Buffer.from(purged.lastHash, 'hex'), frontier: frontierFromJSON(purged.frontier) } : undefined,
        chain,
        checkpoints: stored.map((c) => ({ checkpoint: c.checkpoint, frontier: c.frontier })),
        publicKeys: keys,
        firstPrevious: null,
        startAtOrBefore: req.fromSeq,
        endSeq: req.toSeq ?? null,
        head: heads.get(chain) ?? null,
        recordsPerRange: Math.max(1000, Math.ceil(size / (workers * 4))),
        roots: req.full === true,
      });
      plans.push(plan);
      checkpointCounts.push(stored.length);
      purgedSizes.push(purged?.size ?? 0);
      for (const range of plan.ranges) {
        tasks.push({ spec: serializeRangeSpec(range), source: { kind: 'chains', worker: chainReaders.worker }, readHead: chainReaders.snapshots && range.endSeq === null });
        taskChain.push(plans.length - 1);
      }
    }

    const totals = new Map<string, number>();
    const done = new Map<number, number>();
    if (onProgress) for (const chain of chains) totals.set(chain, await this.store.countChain(chain).catch(() => 0));
    const results = await runVerifyTasks(tasks, {
      workers,
      chains: chainReaders,
      onProgress: onProgress
        ? (taskIndex, rowsRead) => {
            done.set(taskIndex, rowsRead);
            const p = taskChain[taskIndex];
            let sum = 0;
            tasks.forEach((_, i) => {
              if (taskChain[i] === p) sum += done.get(i) ?? 0;
            });
            const chain = plans[p].chain;
            onProgress(chain, Math.min(sum, totals.get(chain) ?? sum), totals.get(chain) ?? 0);
          }
        : undefined,
    });

    let verified = 0;
    let checkpointsVerified = 0;
    const breaks: ChainBreak[] = [];
    const reports: ChainReport[] = [];
    plans.forEach((plan, p) => {
      const verdicts: RangeVerdict[] = [];
      results.forEach((r, i) => {
        if (taskChain[i] === p && r) verdicts.push(toVerdict(r));
      });
      const outcome = mergeChainVerdicts(plan, verdicts);
      const from = req.fromSeq ?? plan.startSeq;
      let chainVerified = outcome.verified;
      if (from > plan.startSeq) {
        chainVerified = outcome.break ? Math.max(0, outcome.break.seq - from) : Math.max(0, outcome.lastSeq - from + 1);
      }
      verified += chainVerified;
      checkpointsVerified += outcome.checkpointsVerified;
      reports.push({
        chain: plan.chain,
        verified: chainVerified,
        lastSeq: outcome.lastSeq,
        lastHash: outcome.lastSeq >= 0 ? outcome.lastHash.toString('hex') : null,
        checkpoints: checkpointCounts[p],
        checkpointsVerified: outcome.checkpointsVerified,
        purged: purgedSizes[p],
      });
      if (outcome.break) breaks.push(outcome.break);
    });
    return { ok: breaks.length === 0, verified, break: breaks[0] ?? null, breaks, chains: reports, checkpointsVerified };
  }
}

function toVerdict(r: VerifyTaskResult): RangeVerdict {
  return { verified: r.verified, break: r.break, lastSeq: r.lastSeq, lastHash: Buffer.from(r.lastHash, 'hex'), boundariesChecked: r.boundariesChecked };
}

/** The parameters of GET /v1/integrity/verify. */
const VERIFY_PARAMS = ['chain', 'from', 'to', 'full'];

export function parseVerifyQuery(params: Record<string, unknown>): VerifyRequest {
  const errors: FieldError[] = [];
  const out: VerifyRequest = {};
  // An unknown parameter's name is client content: named by position only, never echoed.
  errors.push(...unknownMemberErrors(Object.keys(params), VERIFY_PARAMS, '/query', 'parameter'));
  for (const [key, value] of Object.entries(params)) {
    if (!VERIFY_PARAMS.includes(key)) continue;
    if (typeof value !== 'string') {
      errors.push({ pointer: `/query/${key}`, message: 'must be a single value' });
      continue;
    }
    if (key === 'chain') out.chain = value.slice(0, 128);
    else if (key === 'full') {
      if (value === 'true') out.full = true;
      else if (value !== 'false') errors.push({ pointer: '/query/full', message: 'must be true or false' });
    }
    else if (key === 'from' || key === 'to') {
      const n = Number(value);
      if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) errors.push({ pointer: `/query/${key}`, message: 'must be a sequence number (integer >= 0)' });
      else if (key === 'from') out.fromSeq = n;
      else out.toSeq = n;
    }
  }
  if (errors.length) throw Problems.validation(errors, 'The verify parameters are invalid.');
  return out;
}

/**
 * The verifier's options in the service: checkpoints and the signing keys' public halves, the
 * infrastructure's chain readers, and worker threads (VERIFY_WORKERS; default every core, used when
 * the readers can be opened in a worker).
 */
export function integrityOptionsFor(
  config: AppConfig,
  chains: ChainReaderSource,
  checkpoints?: CheckpointStore,
  keys?: { publicKeys(): readonly { keyId: string; publicKeyPem: string }[] },
): IntegrityOptions {
  const workers = config.integrity?.verifyWorkers ?? 0;
  return {
    checkpoints,
    publicKeys: keys ? () => keys.publicKeys() : undefined,
    chains,
    workers: workers > 0 ? workers : undefined,
  };
}
