/**
 * Retention runs as a use case (HTTP `POST/GET /v1/retention/runs` and the schedule): validates a
 * run request, refuses time travel unless the deployment allows it (RETENTION_ALLOW_TIME_TRAVEL),
 * never runs two at once (a second request while one runs gets the running one's result), and
 * reads recorded runs back. The runner itself (SqliteRetentionRunner) records every run.
 */
import { FieldError, Problems, unknownMemberErrors } from '@app/core';
import type { RetentionRunListing, RetentionRunPort } from './retention-run.port';
import type { RetentionRunReport } from './sqlite-retention-runner';

export interface RetentionRunRequest {
  dryRun: boolean;
  /** Epoch ms to act at (time travel); absent: the current time. */
  now?: number;
}

const RUN_KEYS = ['dryRun', 'now'] as const;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Validates `{ dryRun?, now? }`; `now` only when time travel is allowed. Errors name the field, never echo values. */
export function parseRetentionRunRequest(body: unknown, allowTimeTravel: boolean): RetentionRunRequest {
  if (body === undefined || body === null || (isPlainObject(body) && Object.keys(body).length === 0)) return { dryRun: false };
  if (!isPlainObject(body)) throw Problems.validation([{ pointer: '', message: 'must be a JSON object { dryRun?, now? }' }], 'The retention run request is invalid.');
  const errors: FieldError[] = [];
  errors.push(...unknownMemberErrors(Object.keys(body), RUN_KEYS, ''));
  if (body.dryRun !== undefined && typeof body.dryRun !== 'boolean') errors.push({ pointer: '/dryRun', message: 'must be true or false' });
  let now: number | undefined;
  if (body.now !== undefined) {
    if (typeof body.now !== 'string' || !RFC3339.test(body.now) || Number.isNaN(Date.parse(body.now))) errors.push({ pointer: '/now', message: 'must be an RFC 3339 timestamp' });
    else now = Date.parse(body.now);
  }
  if (errors.length > 0) throw Problems.validation(errors, 'The retention run request is invalid.');
  if (now !== undefined && !allowTimeTravel) {
    throw Problems.forbidden('Acting at another time (now) is disabled on this deployment; set RETENTION_ALLOW_TIME_TRAVEL=true to allow it (admins only).');
  }
  return { dryRun: body.dryRun === true, now };
}

export class RetentionRunService {
  private running: Promise<RetentionRunReport> | null = null;

  constructor(
    private readonly runner: () => RetentionRunPort,
    private readonly options: { allowTimeTravel: boolean },
  ) {}

  /** Starts a run for an HTTP caller (`trigger` records who). A dry run never waits for or blocks a real one. */
  async start(body: unknown, caller: { sub: string; role: string }): Promise<RetentionRunReport> {
    const req = parseRetentionRunRequest(body, this.options.allowTimeTravel);
    const trigger = `api:${caller.role}:${caller.sub.slice(0, 128)}`;
    if (req.dryRun) return this.runner().run({ now: req.now ?? Date.now(), dryRun: true, trigger });
    if (this.running) throw Problems.conflict('retention-run-in-progress', 'A retention run is in progress; try again when it has finished (GET /v1/retention/runs).');
    return this.runOnce(req.now ?? Date.now(), trigger);
  }

  /** The scheduled path: a run already in progress is not started twice (its result is returned). */
  runNow(now: number, trigger: string): Promise<RetentionRunReport> {
    return this.running ?? this.runOnce(now, trigger);
  }

  private runOnce(now: number, trigger: string): Promise<RetentionRunReport> {
    const p = (async () => {
      try {
        return await this.runner().run({ now, dryRun: false, trigger });
      } finally {
        this.running = null;
      }
    })();
    this.running = p;
    return p;
  }

  async list(params: Record<string, unknown>): Promise<{ runs: RetentionRunListing[] }> {
    let limit = 20;
    // An unknown parameter's name is client content: named by position only.
    const unknown = unknownMemberErrors(Object.keys(params), ['limit'], '/query', 'parameter');
    if (unknown.length > 0) throw Problems.validation(unknown, 'The query parameters are invalid.');
    for (const value of Object.values(params)) {
      if (typeof value !== 'string' || !/^\d{1,4}$/.test(value) || Number(value) < 1 || Number(value) > 1000) {
        throw Problems.validation([{ pointer: '/query/limit', message: 'must be an integer from 1 to 1000' }], 'The query parameters are invalid.');
      }
      limit = Number(value);
    }
    return { runs: await this.runner().runs(limit) };
  }

  async get(id: string): Promise<Record<string, unknown>> {
    const run = UUID.test(id) ? await this.runner().runDetail(id) : null;
    if (!run) throw Problems.notFound('No retention run with this id.');
    return run;
  }
}

export const RETENTION_RUN_SERVICE = Symbol('RETENTION_RUN_SERVICE');
