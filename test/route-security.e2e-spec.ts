/**
 * Role x route matrix over the real app: every route Nest mounts (found by enumeration, so routes
 * added later are covered without touching this file) is called anonymously and with a token of
 * every role. Public routes answer everyone; declared routes answer 401 without credentials, 403
 * to roles whose scopes (ROLE_SCOPES) miss one the route requires, and neither to roles that have
 * them (2xx where the test knows a valid request). No route may lack a declaration, and no route may
 * be mounted on Express outside Nest's controllers, except the OpenAPI documentation. Web console
 * routes (@SessionRoute) take no bearer token at all: without a console session every caller is sent
 * to the sign-in page (their role x page matrix runs with real sessions in console-security.e2e-spec.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROLE_SCOPES, ROLES, type Role } from '@app/security';
import { allAlerts, waitForDetection } from './support/detection';
import { accessEvent } from './support/events';
import { RawClient, RawRequest } from './support/raw-http';
import { AppRoute, expressRoutes, nestRoutes } from './support/routes';
import { startTestApp, TestApp } from './support/test-app';

/** Routes served by Swagger straight on Express: public documentation of the API, no data. */
const DOCUMENTATION = /^GET \/docs(-json|-yaml|\/.*)?$/;

const FHIR_FIXTURES = path.join(__dirname, '..', 'libs', 'standards', 'src', 'fhir', 'fixtures');

describe('role x route matrix (every route, every role)', () => {
  let t: TestApp;
  let client: RawClient;
  let routes: AppRoute[];
  const tokens = {} as Record<Role, string>;
  let storedId: string;
  /** An alert raised by a seeded break-glass event, and its case (the alert and case routes read them). */
  let alertId: string;
  let caseId: string;

  beforeAll(async () => {
    t = await startTestApp();
    client = new RawClient(t.baseUrl);
    for (const role of ROLES) tokens[role] = await t.token(role);
    const seed = accessEvent();
    const res = await client.send({ method: 'POST', path: '/v1/events', headers: json(tokens.integration), body: JSON.stringify(seed) });
    expect(res.status).toBe(202);
    storedId = seed.id;
    const glass = accessEvent({ action: 'break_glass', occurredAt: new Date(Date.now() - 60_000).toISOString() });
    expect((await client.send({ method: 'POST', path: '/v1/events', headers: json(tokens.integration), body: JSON.stringify(glass) })).status).toBe(202);
    const analyst = await t.client('soc_analyst');
    await waitForDetection(analyst);
    const alert = (await allAlerts(analyst, 'rule=break-glass-access'))[0] as { id: string; caseId?: string };
    alertId = alert.id;
    caseId = alert.caseId!;
    routes = nestRoutes(t.app);
  });
  afterAll(async () => {
    client.close();
    await t.close();
  });

  function json(token?: string, type = 'application/json'): Record<string, string> {
    return { 'content-type': type, ...(token ? { authorization: `Bearer ${token}` } : {}) };
  }

  /** A request for the route; `known` when it is valid enough that an allowed role gets a 2xx. */
  function requestFor(route: AppRoute, token?: string): { req: RawRequest; known: boolean } {
    const id = route.path.startsWith('/v1/alerts/') ? alertId : route.path.startsWith('/v1/cases/') ? caseId : storedId;
    const url = route.path.replace(/:id\b/g, id).replace(/:[A-Za-z_]+/g, 'x');
    const key = `${route.method} ${route.path}`;
    const method = route.method === 'ALL' ? 'GET' : route.method;
    switch (key) {
      case 'POST /v1/events':
        return { req: { method, path: url, headers: json(token), body: JSON.stringify(accessEvent()) }, known: true };
      case 'POST /fhir/AuditEvent': {
        const resource = JSON.parse(fs.readFileSync(path.join(FHIR_FIXTURES, 'balp-patient-read.json'), 'utf8'));
        return { req: { method, path: url, headers: json(token, 'application/fhir+json'), body: JSON.stringify(resource) }, known: false };
      }
      case 'POST /v1/retention/runs':
        return { req: { method, path: url, headers: json(token), body: JSON.stringify({ dryRun: true }) }, known: true };
      // Case work: reads answer 2xx; the changes are valid requests whose outcome depends on the
      // alert's state as the matrix goes (200 or 409), so they are checked for access only.
      case 'POST /v1/alerts/bulk':
        return { req: { method, path: url, headers: json(token), body: JSON.stringify({ ids: ['00000000-0000-4000-8000-000000000000'], action: 'acknowledge' }) }, known: true };
      case 'POST /v1/alerts/:id/assign':
        return { req: { method, path: url, headers: json(token), body: JSON.stringify({ assignee: 'analyst-x' }) }, known: false };
      case 'POST /v1/alerts/:id/comments':
        return { req: { method, path: url, headers: json(token), body: JSON.stringify({ note: 'checked' }) }, known: true };
      case 'POST /v1/alerts/:id/resolve':
      case 'POST /v1/alerts/:id/reopen':
        return { req: { method, path: url, headers: json(token), body: JSON.stringify({ note: 'checked' }) }, known: false };
      case 'GET /v1/alerts':
      case 'GET /v1/alerts/:id':
      case 'GET /v1/alerts/:id/events':
      case 'GET /v1/alerts/:id/history':
      case 'GET /v1/cases':
      case 'GET /v1/cases/:id':
      case 'GET /v1/retention/runs':
      case 'GET /v1/events':
      case 'GET /v1/events/:id':
      case 'GET /v1/integrity/verify':
      case 'GET /health/live':
      case 'GET /health/ready':
      case 'GET /metrics':
        return { req: { method, path: url, headers: json(token) }, known: true };
      default:
        // Routes this file does not know yet: an empty JSON object for those that take a body.
        return { req: { method, path: url, headers: json(token), body: ['POST', 'PUT', 'PATCH'].includes(method) ? '{}' : undefined }, known: false };
    }
  }

  it('finds the routes (enumeration is not empty and includes the CONTRACT core)', () => {
    const keys = routes.map((r) => `${r.method} ${r.path}`);
    expect(keys).toEqual(expect.arrayContaining(['POST /v1/events', 'GET /v1/events', 'GET /v1/events/:id', 'GET /v1/integrity/verify', 'GET /health/live', 'GET /health/ready', 'GET /metrics']));
    // Case work (docs/case-work.md).
    expect(keys).toEqual(
      expect.arrayContaining([
        'GET /v1/alerts/:id/events',
        'GET /v1/alerts/:id/history',
        'POST /v1/alerts/:id/reopen',
        'POST /v1/alerts/:id/assign',
        'POST /v1/alerts/:id/comments',
        'POST /v1/alerts/bulk',
        'GET /v1/cases',
        'GET /v1/cases/:id',
      ]),
    );
  });

  it('every route declares a scope or @Public (default deny has nothing to catch)', () => {
    expect(routes.filter((r) => r.security.kind === 'undeclared').map((r) => `${r.method} ${r.path} (${r.controller}.${r.handler})`)).toEqual([]);
  });

  it('nothing is mounted on Express outside Nest controllers except the OpenAPI documentation', () => {
    const known = new Set(routes.map((r) => `${r.method} ${r.path}`));
    const stray = expressRoutes(t.app).filter((r) => !known.has(r) && !DOCUMENTATION.test(r));
    expect(stray).toEqual([]);
  });

  it('answers each role on each route as the scope map says', async () => {
    const mismatches: string[] = [];
    let checked = 0;
    for (const route of routes) {
      const label = `${route.method} ${route.path}`;
      const anonymous = await client.send(requestFor(route).req);
      checked++;
      if (route.session && route.security.kind === 'scopes') {
        for (const role of [null, ...ROLES]) {
          const res = role === null ? anonymous : await client.send(requestFor(route, tokens[role]).req);
          if (role !== null) checked++;
          if (res.status !== 303 || !String(res.headers.location ?? '').startsWith('/console/sign-in')) mismatches.push(`${label} ${role ?? 'anonymous'}: ${res.status}, expected 303 to the console sign-in`);
        }
        continue;
      }
      if (route.security.kind === 'public') {
        if (anonymous.status === 401 || anonymous.status === 403 || anonymous.status >= 500) mismatches.push(`${label} anonymous: ${anonymous.status}, public route`);
      } else if (anonymous.status !== 401) mismatches.push(`${label} anonymous: ${anonymous.status}, expected 401`);

      for (const role of ROLES) {
        const { req, known } = requestFor(route, tokens[role]);
        const res = await client.send(req);
        checked++;
        if (res.status >= 500 || res.status === 0) {
          mismatches.push(`${label} ${role}: ${res.status || res.error}, server error`);
          continue;
        }
        if (route.security.kind === 'public') {
          if (res.status === 401 || res.status === 403) mismatches.push(`${label} ${role}: ${res.status}, public route`);
          continue;
        }
        if (route.security.kind !== 'scopes') continue;
        const required = route.security.scopes;
        const allowed = required.every((s) => ROLE_SCOPES[role].includes(s));
        if (!allowed && res.status !== 403) mismatches.push(`${label} ${role}: ${res.status}, expected 403 (needs ${required.join(', ')})`);
        if (allowed && (res.status === 401 || res.status === 403)) mismatches.push(`${label} ${role}: ${res.status}, expected access (has ${required.join(', ')})`);
        if (allowed && known && (res.status < 200 || res.status > 299)) mismatches.push(`${label} ${role}: ${res.status}, expected 2xx`);
      }
    }
    expect(mismatches).toEqual([]);
    expect(checked).toBe(routes.length * (ROLES.length + 1));
  });

  it('refuses a forged token, an unknown role and a malformed Authorization header on every protected route', async () => {
    const protectedRoutes = routes.filter((r) => r.security.kind === 'scopes' && !r.session);
    const forged = tokens.compliance_officer.slice(0, -4) + (tokens.compliance_officer.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    for (const route of protectedRoutes) {
      for (const authorization of [`Bearer ${forged}`, 'Bearer not-a-jwt', `Basic ${Buffer.from('admin:admin').toString('base64')}`]) {
        const { req } = requestFor(route);
        const res = await client.send({ ...req, headers: { ...req.headers, authorization } });
        expect({ route: `${route.method} ${route.path}`, authorization: authorization.slice(0, 12), status: res.status }).toMatchObject({ status: 401 });
      }
    }
  });
});
