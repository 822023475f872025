/**
 * RetentionRunService with a typed fake runner: request validation (field paths, no echo), time
 * travel refused unless allowed, one real run at a time (a second gets 409, the schedule joins the
 * running one), and reading runs back.
 */
import { ProblemError } from '@app/core';
import type { RetentionRunPort } from './retention-run.port';
import { RetentionRunService, parseRetentionRunRequest } from './retention-run.service';
import type { RetentionRunOptions, RetentionRunReport } from './sqlite-retention-runner';

function report(o: RetentionRunOptions): RetentionRunReport {
  const now = new Date(o.now).toISOString();
  return { runId: o.dryRun ? null : 'run-1', dryRun: o.dryRun, now, startedAt: now, finishedAt: now, deleted: 0, warmed: 0, archived: 0, chains: [] };
}

class FakeRunner implements RetentionRunPort {
  calls: RetentionRunOptions[] = [];
  release: (() => void) | null = null;
  async run(o: RetentionRunOptions): Promise<RetentionRunReport> {
    this.calls.push(o);
    if (!o.dryRun) await new Promise<void>((resolve) => (this.release = resolve));
    return report(o);
  }
  runs() {
    return [{ id: 'run-1', startedAt: 's', finishedAt: 'f', now: 'n', trigger: 'cli', status: 'completed', deleted: 0 }];
  }
  runDetail(id: string) {
    return id === '00000000-0000-4000-8000-000000000001' ? { id } : null;
  }
}

const status = (fn: () => unknown): number => {
  try {
    fn();
  } catch (err) {
    return (err as ProblemError).status;
  }
  return 0;
};

describe('RetentionRunService', () => {
  it('validates the body, naming fields and never echoing values', () => {
    expect(parseRetentionRunRequest(undefined, false)).toEqual({ dryRun: false });
    expect(parseRetentionRunRequest({ dryRun: true }, false)).toEqual({ dryRun: true, now: undefined });
    try {
      parseRetentionRunRequest({ dryRun: 'MRN-1', extra: 1, now: 'MRN-2' }, true);
      throw new Error('accepted');
    } catch (err) {
      const body = JSON.stringify(err);
      expect(body).not.toContain('MRN-');
      expect((err as ProblemError).status).toBe(400);
    }
  });

  it('refuses time travel unless the deployment allows it', () => {
    expect(status(() => parseRetentionRunRequest({ now: '2040-01-01T00:00:00Z' }, false))).toBe(403);
    expect(parseRetentionRunRequest({ now: '2040-01-01T00:00:00Z' }, true).now).toBe(Date.parse('2040-01-01T00:00:00Z'));
  });

  it('runs one real run at a time: a second API call gets 409, the schedule joins it; dry runs are never blocked', async () => {
    const runner = new FakeRunner();
    const svc = new RetentionRunService(() => runner, { allowTimeTravel: false });
    const first = svc.start({}, { sub: 'u-admin', role: 'admin' });
    await expect(svc.start({}, { sub: 'u-admin', role: 'admin' })).rejects.toMatchObject({ status: 409 });
    const joined = svc.runNow(Date.now(), 'schedule');
    expect((await svc.start({ dryRun: true }, { sub: 'u-admin', role: 'admin' })).dryRun).toBe(true);
    runner.release!();
    expect(await first).toBe(await joined);
    expect(runner.calls.map((c) => [c.dryRun, c.trigger])).toEqual([
      [false, 'api:admin:u-admin'],
      [true, 'api:admin:u-admin'],
    ]);
  });

  it('lists and reads runs; unknown ids are 404, bad limits 400', async () => {
    const svc = new RetentionRunService(() => new FakeRunner(), { allowTimeTravel: false });
    const statusOf = async (fn: () => Promise<unknown>): Promise<number> => {
      try {
        await fn();
        return 0;
      } catch (err) {
        return (err as ProblemError).status;
      }
    };
    expect((await svc.list({})).runs).toHaveLength(1);
    expect(await statusOf(() => svc.list({ limit: '0' }))).toBe(400);
    expect(await statusOf(() => svc.list({ sort: 'x' }))).toBe(400);
    expect(await svc.get('00000000-0000-4000-8000-000000000001')).toEqual({ id: '00000000-0000-4000-8000-000000000001' });
    expect(await statusOf(() => svc.get('not-a-uuid'))).toBe(404);
    expect(await statusOf(() => svc.get('00000000-0000-4000-8000-000000000002'))).toBe(404);
  });
});
