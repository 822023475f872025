/**
 * The SignInFailures contract: what the console's lockout (LocalSignIn) relies on from any adapter
 * (in the process for the embedded store, the cluster with STORE=elasticsearch): every attempt for a
 * name counted, in a window that starts again once it ends, forgotten on success, attempts made at
 * the same time (on any instance) all counted, names counted apart.
 */
import { SignInFailures } from '@app/console';

export interface OpenedSignInFailures {
  failures: SignInFailures;
  /** Another instance counting on the same storage (the embedded adapter has one instance: the same object). */
  other(): SignInFailures;
}

const T0 = Date.UTC(2026, 11, 7, 9);
const WINDOW = 15 * 60_000;

export function describeSignInFailuresContract(name: string, open: () => Promise<OpenedSignInFailures>): void {
  describe(`SignInFailures contract: ${name}`, () => {
    let opened: OpenedSignInFailures;
    let failures: SignInFailures;
    beforeEach(async () => {
      opened = await open();
      failures = opened.failures;
    });

    it('counts every attempt for a name in its window, names apart', async () => {
      expect(await failures.count('ann', T0, WINDOW)).toEqual({ count: 1, firstMs: T0 });
      expect(await opened.other().count('ann', T0 + 1000, WINDOW)).toEqual({ count: 2, firstMs: T0 });
      expect(await failures.count('bob', T0 + 2000, WINDOW)).toEqual({ count: 1, firstMs: T0 + 2000 });
      expect(await failures.count('ann', T0 + WINDOW - 1, WINDOW)).toEqual({ count: 3, firstMs: T0 });
    });

    it('starts a new window once the last one ended', async () => {
      await failures.count('ann', T0, WINDOW);
      await failures.count('ann', T0 + 1, WINDOW);
      expect(await failures.count('ann', T0 + WINDOW, WINDOW)).toEqual({ count: 1, firstMs: T0 + WINDOW });
    });

    it('forgets a name’s attempts on a successful sign-in; clearing a name never counted is fine', async () => {
      await failures.count('ann', T0, WINDOW);
      await failures.count('ann', T0 + 1, WINDOW);
      await opened.other().clear('ann');
      expect(await failures.count('ann', T0 + 2, WINDOW)).toEqual({ count: 1, firstMs: T0 + 2 });
      await failures.clear('nobody');
    });

    it('attempts made at the same time are all counted', async () => {
      const counts = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? opened.other() : failures).count('ann', T0 + i, WINDOW)));
      expect(counts.map((c) => c.count).sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
      expect(await failures.count('ann', T0 + 100, WINDOW)).toEqual({ count: 13, firstMs: expect.any(Number) });
    });
  });
}
