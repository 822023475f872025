/**
 * Failed console sign-ins counted in this process (the embedded store: one service per data dir).
 * Bounded: past 10,000 names the oldest entry is dropped.
 */
import { SignInFailureCount, SignInFailures } from './sign-in-failures.port';

const MAX_NAMES = 10_000;

export class MemorySignInFailures implements SignInFailures {
  private readonly counts = new Map<string, SignInFailureCount>();

  async count(key: string, nowMs: number, windowMs: number): Promise<SignInFailureCount> {
    const f = this.counts.get(key);
    const entry = f && nowMs - f.firstMs < windowMs ? f : { count: 0, firstMs: nowMs };
    entry.count++;
    this.counts.delete(key);
    this.counts.set(key, entry);
    if (this.counts.size > MAX_NAMES) this.counts.delete(this.counts.keys().next().value!);
    return { ...entry };
  }

  async clear(key: string): Promise<void> {
    this.counts.delete(key);
  }
}
