/**
 * The port that counts failed console sign-ins per name (LocalSignIn's lockout): in the process for
 * the embedded store (one service per data dir), in the cluster with STORE=elasticsearch
 * (es-sign-in-failures.ts), so that N instances do not give a guesser N times the attempts.
 */

/** Failed attempts of one name in the window that began at `firstMs` (epoch ms). */
export interface SignInFailureCount {
  count: number;
  firstMs: number;
}

export const SIGN_IN_FAILURES = Symbol('SIGN_IN_FAILURES');

export interface SignInFailures {
  /**
   * Counts one attempt for `key` and returns the count after it: a new window of `windowMs` starts
   * when the last one ended. Counted before the password is checked, so that attempts made at the
   * same time on several instances are all counted before any is let through.
   */
  count(key: string, nowMs: number, windowMs: number): Promise<SignInFailureCount>;
  /** Forgets the attempts of `key` (a successful sign-in). */
  clear(key: string): Promise<void>;
}
