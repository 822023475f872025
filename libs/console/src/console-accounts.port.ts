/** The ConsoleAccounts port: where console accounts and sessions live (one adapter per engine). */
import type { Role } from '@app/security';

export interface ConsoleUser {
  name: string;
  role: Role;
  passwordHash: string | null;
  mustChange: boolean;
  disabled: boolean;
  createdAt: string;
}

export interface ConsoleSessionRow {
  userName: string;
  role: Role;
  via: 'local' | 'oidc';
  csrf: string;
  mustChange: boolean;
  createdMs: number;
  lastSeenMs: number;
  expiresMs: number;
}

/**
 * The port of console accounts and sessions: the embedded store (console-store.ts), or the one in
 * Elasticsearch (es-console-store.ts) that every instance shares with STORE=elasticsearch.
 */
export interface ConsoleAccounts {
  user(name: string): ConsoleUser | null | Promise<ConsoleUser | null>;
  /** Every account, by name. */
  users(): ConsoleUser[] | Promise<ConsoleUser[]>;
  /** Adds an account (or, with `replace`, resets one and ends its sessions); it must change its password at first sign-in. */
  putUser(name: string, role: Role, passwordHash: string, replace?: boolean): Promise<'created' | 'reset' | 'exists'>;
  setPassword(name: string, passwordHash: string): Promise<void>;
  createSession(idHash: string, row: ConsoleSessionRow): Promise<void>;
  session(idHash: string): ConsoleSessionRow | null | Promise<ConsoleSessionRow | null>;
  touchSession(idHash: string, nowMs: number): Promise<void>;
  deleteSession(idHash: string): Promise<void>;
}

/** Nest token of the ConsoleAccounts the service uses (console.module.ts). */
export const CONSOLE_ACCOUNTS = Symbol('CONSOLE_ACCOUNTS');
