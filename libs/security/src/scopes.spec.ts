/**
 * Role -> scope map tests: every role is covered, every scope is known and used, the CONTRACT's "who"
 * column holds, and the README table renders every role.
 */
import { hasAllScopes, isRole, isScope, renderRoleScopeTable, ROLE_SCOPES, ROLES, rolesWithScope, SCOPE_DESCRIPTIONS, SCOPES, scopesForRole } from './scopes';

describe('role -> scope map', () => {
  it('covers every role with known scopes, and every scope is granted to someone and described', () => {
    expect(Object.keys(ROLE_SCOPES).sort()).toEqual([...ROLES].sort());
    for (const role of ROLES) {
      expect(ROLE_SCOPES[role].length).toBeGreaterThan(0);
      for (const s of ROLE_SCOPES[role]) expect(isScope(s)).toBe(true);
    }
    for (const scope of SCOPES) {
      expect(rolesWithScope(scope).length).toBeGreaterThan(0);
      expect(SCOPE_DESCRIPTIONS[scope]).toBeTruthy();
    }
  });

  it('follows the CONTRACT "who" column', () => {
    expect(rolesWithScope('events:write')).toEqual(['integration']);
    expect(rolesWithScope('events:read').sort()).toEqual(['compliance_officer', 'soc_analyst']);
    // CONTRACT: GET /v1/alerts is for analysts and compliance (the runbooks escalate to the privacy officer).
    expect(rolesWithScope('alerts:read')).toEqual(['soc_analyst', 'compliance_officer']);
    expect(rolesWithScope('alerts:write')).toEqual(['soc_analyst']);
    expect(rolesWithScope('rules:read')).toEqual(['soc_analyst']);
    expect(rolesWithScope('reports:read')).toEqual(['compliance_officer']);
    expect(rolesWithScope('integrity:read').sort()).toEqual(['auditor', 'compliance_officer']);
    expect(rolesWithScope('checkpoints:read')).toEqual(['auditor']);
    expect(rolesWithScope('retention:write').sort()).toEqual(['admin', 'compliance_officer']);
    expect(rolesWithScope('access-log:read').sort()).toEqual(['admin', 'auditor']);
    // Minimum necessary: analysts see patient tokens, compliance sees identifiers and may re-identify.
    expect(rolesWithScope('events:identified')).toEqual(['compliance_officer']);
    expect(rolesWithScope('events:reidentify')).toEqual(['compliance_officer']);
    // Context feeds: integrations post them; analysts, compliance and admins read their status.
    expect(rolesWithScope('context:write')).toEqual(['integration']);
    expect(rolesWithScope('context:read').sort()).toEqual(['admin', 'compliance_officer', 'soc_analyst']);
  });

  it('is immutable and hands out copies', () => {
    expect(Object.isFrozen(ROLE_SCOPES)).toBe(true);
    expect(Object.isFrozen(ROLE_SCOPES.admin)).toBe(true);
    const copy = scopesForRole('admin');
    copy.push('events:read');
    expect(ROLE_SCOPES.admin).not.toContain('events:read');
  });

  it('has working predicates', () => {
    expect(isRole('auditor')).toBe(true);
    expect(isRole('root')).toBe(false);
    expect(isRole(undefined)).toBe(false);
    expect(isScope('events:write')).toBe(true);
    expect(isScope('events:*')).toBe(false);
    expect(hasAllScopes(['events:read', 'alerts:read'], ['events:read'])).toBe(true);
    expect(hasAllScopes(['events:read'], ['events:read', 'alerts:read'])).toBe(false);
  });

  it('renders a Markdown table with a row per role (and a scope glossary on request)', () => {
    const table = renderRoleScopeTable();
    expect(table.split('\n')[0]).toBe('| role | scopes |');
    for (const role of ROLES) expect(table).toContain(`| \`${role}\` |`);
    const full = renderRoleScopeTable({ withDescriptions: true });
    for (const scope of SCOPES) expect(full).toContain(`| \`${scope}\` |`);
  });
});
