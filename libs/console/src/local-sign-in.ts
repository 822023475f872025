/**
 * Sign-in with local accounts (`auditctl users add`): checks the password against its scrypt hash
 * (an unknown name costs the same as a wrong password), slows down guessing (after 5 failures for a
 * name within 15 minutes, that name is refused for 15 minutes; counted through the SignInFailures port,
 * shared by every instance with STORE=elasticsearch), and sets a person's own password after the
 * one-time one.
 */
import { isRole, type Role } from '@app/security';
import type { ConsoleAccounts } from './console-accounts.port';
import { MemorySignInFailures } from './memory-sign-in-failures';
import { DEFAULT_SCRYPT, hashPassword, passwordProblem, verifyPassword } from './password-hasher';
import { SignInFailures } from './sign-in-failures.port';

export type LocalSignInResult = { ok: true; name: string; role: Role; mustChange: boolean } | { ok: false; reason: 'invalid' | 'locked' };

const MAX_FAILURES = 5;
const LOCK_MS = 15 * 60_000;

export class LocalSignIn {
  private dummyHash: Promise<string> | null = null;

  constructor(
    private readonly store: ConsoleAccounts,
    private readonly now: () => number = Date.now,
    private readonly failures: SignInFailures = new MemorySignInFailures(),
  ) {}

  async signIn(name: string, password: string): Promise<LocalSignInResult> {
    const key = name.toLowerCase();
    // Every attempt is counted before the password is checked and a success forgets them: parallel
    // guesses (on one instance or several) cannot all pass the check before the first is counted.
    const attempt = await this.failures.count(key, this.now(), LOCK_MS);
    if (attempt.count > MAX_FAILURES) return { ok: false, reason: 'locked' };
    const user = name.length <= 128 && password.length <= 256 ? await this.store.user(name) : null;
    const hash = user?.passwordHash ?? (await (this.dummyHash ??= hashPassword('not-a-password', DEFAULT_SCRYPT)));
    const match = await verifyPassword(password.slice(0, 256), hash);
    if (!user || !match || user.disabled || !isRole(user.role) || user.role === 'integration') return { ok: false, reason: 'invalid' };
    await this.failures.clear(key);
    return { ok: true, name: user.name, role: user.role, mustChange: user.mustChange };
  }

  /** Sets the person's own password; returns why it was refused, or null. */
  async changePassword(name: string, current: string, next: string, confirm: string): Promise<string | null> {
    const user = await this.store.user(name);
    if (!user?.passwordHash || !(await verifyPassword(current.slice(0, 256), user.passwordHash))) return 'The current password is not right.';
    if (next !== confirm) return 'The two new passwords differ.';
    if (next === current) return 'Choose a password other than the current one.';
    const problem = passwordProblem(next, name);
    if (problem) return problem;
    await this.store.setPassword(name, await hashPassword(next));
    return null;
  }
}
