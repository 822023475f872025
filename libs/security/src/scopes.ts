/**
 * Roles and scopes: the ONE place that says which role may do what. Routes declare the scope they need
 * (`@RequireScope`), principals get their scopes from their role through `ROLE_SCOPES`, and the README
 * table is rendered from the same map (`renderRoleScopeTable`), so code and documentation cannot drift.
 */

export const ROLES = ['integration', 'soc_analyst', 'compliance_officer', 'auditor', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export const SCOPES = [
  'events:write',
  'events:read',
  'events:identified',
  'events:reidentify',
  'proofs:read',
  'integrity:read',
  'checkpoints:read',
  'alerts:read',
  'alerts:write',
  'rules:read',
  'reports:read',
  'retention:read',
  'retention:write',
  'retention:run',
  'access-log:read',
  'ops:read',
  'rules:manage',
  'console:use',
  'context:write',
  'context:read',
  'users:manage',
  'integrations:manage',
] as const;
export type Scope = (typeof SCOPES)[number];

/** What each scope allows, in words (README, OpenAPI descriptions). */
export const SCOPE_DESCRIPTIONS: Readonly<Record<Scope, string>> = {
  'events:write': 'post access events (`POST /v1/events`, `POST /fhir/AuditEvent`)',
  'events:read': 'search and read stored events (`GET /v1/events`, `GET /v1/events/{id}`)',
  'events:identified': 'see real patient identifiers in query results (without it: keyed-HMAC tokens)',
  'events:reidentify': 'turn a patient token back into the identifier (separately audited call)',
  'proofs:read': 'read an event inclusion proof (`GET /v1/events/{id}/proof`)',
  'integrity:read': 'run integrity verification (`GET /v1/integrity/verify`)',
  'checkpoints:read': 'list signed checkpoints and their public keys (`GET /v1/integrity/checkpoints`)',
  'alerts:read': 'list and view alerts with evidence, history and runbook, and cases (`GET /v1/alerts...`, `GET /v1/cases...`)',
  'alerts:write': 'case work on alerts: acknowledge, resolve with a disposition, reopen, assign, comment, bulk triage',
  'rules:read': 'list the loaded detection rules (`GET /v1/rules`)',
  'reports:read': 'pull patient-access and user-activity reports (`GET /v1/reports/...`)',
  'retention:read': 'read retention policies and legal holds',
  'retention:write': 'place legal holds',
  'retention:run': 'start retention runs (`POST /v1/retention/runs`); `now` (time travel) only when RETENTION_ALLOW_TIME_TRAVEL=true',
  'access-log:read': 'read the audit trail of reads of the audit data',
  'ops:read': 'operational views beyond the public health/metrics endpoints',
  'rules:manage': 'switch detection rules off and on, add and remove rule exceptions, read their audit trail (`/v1/rule-overrides`)',
  'console:use': 'sign in to the web console (`/console/`); each page also needs the scopes of what it shows',
  'context:write': 'post context feeds: users, patients, encounters (`POST /v1/context/...`, FHIR context resources in `POST /fhir`)',
  'context:read': 'context feed status and a user\'s directory entry as of a time (`GET /v1/context/...`; tokens, never names or addresses)',
  'users:manage': 'list console accounts and add one with a one-time password (console People page)',
  'integrations:manage': 'list integrations and their client certificates; issue integration tokens and client certificates (console Integrations page); send a test message to an alert destination (console Feeds page)',
};

/**
 * Role -> scopes. Separation of duties: admin manages retention and reads the access log but does not
 * read events; the auditor proves integrity without seeing events; only integrations write events.
 */
export const ROLE_SCOPES: Readonly<Record<Role, readonly Scope[]>> = Object.freeze({
  integration: Object.freeze(['events:write', 'context:write'] as const),
  soc_analyst: Object.freeze(['events:read', 'proofs:read', 'alerts:read', 'alerts:write', 'rules:read', 'console:use', 'context:read'] as const),
  // alerts:read: the runbooks escalate to the privacy / compliance officer, who must see the alert.
  compliance_officer: Object.freeze([
    'events:read',
    'events:identified',
    'events:reidentify',
    'proofs:read',
    'alerts:read',
    'integrity:read',
    'reports:read',
    'retention:read',
    'retention:write',
    'console:use',
    'context:read',
  ] as const),
  auditor: Object.freeze(['proofs:read', 'integrity:read', 'checkpoints:read', 'access-log:read', 'console:use'] as const),
  admin: Object.freeze(['retention:read', 'retention:write', 'retention:run', 'access-log:read', 'ops:read', 'rules:manage', 'console:use', 'context:read', 'users:manage', 'integrations:manage'] as const),
});

const ROLE_SET: ReadonlySet<string> = new Set(ROLES);
const SCOPE_SET: ReadonlySet<string> = new Set(SCOPES);

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && ROLE_SET.has(value);
}

export function isScope(value: unknown): value is Scope {
  return typeof value === 'string' && SCOPE_SET.has(value);
}

/** The scopes a role carries (a fresh array; callers may keep it). */
export function scopesForRole(role: Role): Scope[] {
  const scopes = ROLE_SCOPES[role];
  if (!scopes) throw new Error(`unknown role: ${String(role)}`);
  return [...scopes];
}

/** True when `granted` contains every scope in `required`. */
export function hasAllScopes(granted: readonly Scope[], required: readonly Scope[]): boolean {
  return required.every((s) => granted.includes(s));
}

/** Roles whose scopes include `scope` (for matrix tests and docs). */
export function rolesWithScope(scope: Scope): Role[] {
  return ROLES.filter((r) => ROLE_SCOPES[r].includes(scope));
}

/** The role -> scope map as a Markdown table (README). `withDescriptions` adds a scope glossary. */
export function renderRoleScopeTable(options: { withDescriptions?: boolean } = {}): string {
  const lines = ['| role | scopes |', '|---|---|'];
  for (const role of ROLES) {
    lines.push(`| \`${role}\` | ${ROLE_SCOPES[role].map((s) => `\`${s}\``).join(', ')} |`);
  }
  if (options.withDescriptions) {
    lines.push('', '| scope | allows | roles |', '|---|---|---|');
    for (const scope of SCOPES) {
      const roles = rolesWithScope(scope).map((r) => `\`${r}\``).join(', ') || '(none)';
      lines.push(`| \`${scope}\` | ${SCOPE_DESCRIPTIONS[scope]} | ${roles} |`);
    }
  }
  return lines.join('\n') + '\n';
}
