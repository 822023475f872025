/**
 * Web console configuration (issue 14): session lifetimes, local accounts, and OpenID Connect sign-in
 * for people. Merged into the main config schema (config.ts) so a bad value stops start-up naming the
 * key. OIDC is on when OIDC_ISSUER_URL is set; then OIDC_CLIENT_ID and OIDC_REDIRECT_URL are required
 * (checked here, at start), and the role comes from the claim OIDC_ROLE_CLAIM names.
 */
import { z } from 'zod';

export const DEFAULT_CONSOLE_IDLE_MINUTES = 15;
export const DEFAULT_CONSOLE_SESSION_HOURS = 12;

export const CONSOLE_ENV = {
  /** A console session ends after this many minutes without a request (default 15). */
  CONSOLE_IDLE_TIMEOUT_MINUTES: z.coerce.number().int().min(1).max(24 * 60).default(DEFAULT_CONSOLE_IDLE_MINUTES),
  /** ... and in any case this many hours after sign-in (default 12). */
  CONSOLE_SESSION_MAX_HOURS: z.coerce.number().int().min(1).max(24 * 30).default(DEFAULT_CONSOLE_SESSION_HOURS),
  /** Local accounts (`auditctl users add`) may sign in (default true; set false when OIDC is the only way in). */
  CONSOLE_LOCAL_ACCOUNTS: z.enum(['true', 'false', '1', '0']).default('true'),
  /** OpenID Provider (issuer URL with /.well-known/openid-configuration); unset: no OIDC sign-in. */
  OIDC_ISSUER_URL: z.string().url().optional(),
  OIDC_CLIENT_ID: z.string().min(1).max(256).optional(),
  /** Confidential client secret (client_secret_basic); unset: a public client (PKCE only). */
  OIDC_CLIENT_SECRET: z.string().min(1).max(1024).optional(),
  /** This service's callback, e.g. https://audit.example.org/console/oidc/callback (registered at the provider). */
  OIDC_REDIRECT_URL: z.string().url().optional(),
  /** Claim holding the console role (soc_analyst, compliance_officer, auditor, admin); default `role`. */
  OIDC_ROLE_CLAIM: z.string().min(1).max(128).default('role'),
  /** Claim naming the person in the access log; default `sub`. */
  OIDC_USERNAME_CLAIM: z.string().min(1).max(128).default('sub'),
  /** Scopes asked for (space-separated; must include openid). */
  OIDC_SCOPES: z.string().min(6).max(512).default('openid profile'),
} as const;

export type ConsoleEnv = z.infer<z.ZodObject<typeof CONSOLE_ENV>>;

export interface OidcSettings {
  issuerUrl: string;
  clientId: string;
  clientSecret?: string;
  redirectUrl: string;
  roleClaim: string;
  usernameClaim: string;
  scopes: string;
}

export interface ConsoleSettings {
  idleTimeoutMinutes: number;
  sessionMaxHours: number;
  localAccounts: boolean;
  /** Absent: OIDC sign-in is off. */
  oidc?: OidcSettings;
}

/** The settings, or the configuration problems (key: reason) that must stop start-up. */
export function parseConsole(env: ConsoleEnv): { settings: ConsoleSettings; issues: string[] } {
  const issues: string[] = [];
  let oidc: OidcSettings | undefined;
  if (env.OIDC_ISSUER_URL) {
    if (!env.OIDC_CLIENT_ID) issues.push('OIDC_CLIENT_ID: required when OIDC_ISSUER_URL is set');
    if (!env.OIDC_REDIRECT_URL) issues.push('OIDC_REDIRECT_URL: required when OIDC_ISSUER_URL is set');
    else if (!new URL(env.OIDC_REDIRECT_URL).pathname.endsWith('/console/oidc/callback')) issues.push('OIDC_REDIRECT_URL: must end with /console/oidc/callback');
    if (!env.OIDC_SCOPES.split(/\s+/).includes('openid')) issues.push('OIDC_SCOPES: must include openid');
    if (env.OIDC_CLIENT_ID && env.OIDC_REDIRECT_URL) {
      oidc = {
        issuerUrl: env.OIDC_ISSUER_URL,
        clientId: env.OIDC_CLIENT_ID,
        clientSecret: env.OIDC_CLIENT_SECRET,
        redirectUrl: env.OIDC_REDIRECT_URL,
        roleClaim: env.OIDC_ROLE_CLAIM,
        usernameClaim: env.OIDC_USERNAME_CLAIM,
        scopes: env.OIDC_SCOPES,
      };
    }
  } else if (env.OIDC_CLIENT_ID || env.OIDC_REDIRECT_URL || env.OIDC_CLIENT_SECRET) {
    issues.push('OIDC_ISSUER_URL: required when other OIDC_* keys are set');
  }
  return {
    settings: {
      idleTimeoutMinutes: env.CONSOLE_IDLE_TIMEOUT_MINUTES,
      sessionMaxHours: env.CONSOLE_SESSION_MAX_HOURS,
      localAccounts: env.CONSOLE_LOCAL_ACCOUNTS === 'true' || env.CONSOLE_LOCAL_ACCOUNTS === '1',
      oidc,
    },
    issues,
  };
}
