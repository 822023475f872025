/**
 * Test double of the ConsoleAccounts port, in memory. It passes the same contract as the SQLite and
 * Elasticsearch adapters (test/contracts/console-accounts.contract.spec.ts).
 */
import { ConsoleAccounts, ConsoleSessionRow, ConsoleUser } from '@app/console';
import type { Role } from '@app/security';

/** What several handles share (`new InMemoryConsoleAccounts(same.state)`: another instance). */
export class InMemoryConsoleState {
  readonly users = new Map<string, ConsoleUser>();
  readonly sessions = new Map<string, ConsoleSessionRow>();
}

export class InMemoryConsoleAccounts implements ConsoleAccounts {
  constructor(readonly state = new InMemoryConsoleState()) {}

  async user(name: string): Promise<ConsoleUser | null> {
    const u = this.state.users.get(name);
    return u ? { ...u } : null;
  }

  async users(): Promise<ConsoleUser[]> {
    return [...this.state.users.values()].sort((a, b) => (a.name < b.name ? -1 : 1)).map((u) => ({ ...u }));
  }

  async putUser(name: string, role: Role, passwordHash: string, replace = false): Promise<'created' | 'reset' | 'exists'> {
    const existing = this.state.users.get(name);
    if (existing && !replace) return 'exists';
    this.state.users.set(name, { name, role, passwordHash, mustChange: true, disabled: false, createdAt: existing?.createdAt ?? new Date().toISOString() });
    if (!existing) return 'created';
    for (const [h, s] of this.state.sessions) if (s.userName === name) this.state.sessions.delete(h);
    return 'reset';
  }

  async setPassword(name: string, passwordHash: string): Promise<void> {
    const u = this.state.users.get(name);
    if (!u) return;
    this.state.users.set(name, { ...u, passwordHash, mustChange: false });
    for (const [h, s] of this.state.sessions) if (s.userName === name) this.state.sessions.set(h, { ...s, mustChange: false });
  }

  async createSession(idHash: string, row: ConsoleSessionRow): Promise<void> {
    for (const [h, s] of this.state.sessions) if (s.expiresMs < row.createdMs) this.state.sessions.delete(h);
    this.state.sessions.set(idHash, { ...row });
  }

  async session(idHash: string): Promise<ConsoleSessionRow | null> {
    const s = this.state.sessions.get(idHash);
    return s ? { ...s } : null;
  }

  async touchSession(idHash: string, nowMs: number): Promise<void> {
    const s = this.state.sessions.get(idHash);
    if (s) this.state.sessions.set(idHash, { ...s, lastSeenMs: Math.max(s.lastSeenMs, nowMs) });
  }

  async deleteSession(idHash: string): Promise<void> {
    this.state.sessions.delete(idHash);
  }
}
