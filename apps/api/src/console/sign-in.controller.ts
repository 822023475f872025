/**
 * Signing in and out of the console: the sign-in page (local accounts and, when configured, OpenID
 * Connect), the OIDC start and callback, the first-sign-in password change, and sign-out. Thin: the
 * console lib checks passwords, runs the OIDC exchange and keeps sessions; every sign-in, failed one
 * and sign-out is recorded in the access log.
 */
import { Body, Controller, Get, HttpCode, Inject, Optional, Post, Query, Render, Req, Res, UseFilters } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Response } from 'express';
import { randomBytes } from 'node:crypto';
import { ConsoleSessions, LocalSignIn, OidcSignIn, OidcSignInError, PRE_AUTH_TTL_MS, PreAuthCookie, PreAuthState, readCookie, safeNext, sameToken } from '@app/console';
import { APP_CONFIG, AppConfig } from '@app/core';
import { AccessAuditService } from '@app/pipeline';
import { CurrentPrincipal, Principal, Public, RequireScope, SessionRoute } from '@app/security';
import { ConsoleExceptionFilter } from './console-exception.filter';
import { navFor } from './console-nav';
import { pageModel } from './console-page';
import { ConsoleRequest, sameOrigin } from './console-session.authenticator';

export const OIDC_SIGN_IN = Symbol('OIDC_SIGN_IN');

@ApiExcludeController()
@Controller('console')
@UseFilters(ConsoleExceptionFilter)
export class SignInController {
  constructor(
    private readonly sessions: ConsoleSessions,
    private readonly local: LocalSignIn,
    private readonly preAuth: PreAuthCookie,
    private readonly audit: AccessAuditService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Optional() @Inject(OIDC_SIGN_IN) private readonly oidc?: OidcSignIn | null,
  ) {}

  @Get('sign-in')
  @Public()
  @Render('sign-in')
  async signInPage(@Req() req: ConsoleRequest, @Res({ passthrough: true }) res: Response, @Query('next') next?: string, @Query('error') error?: string) {
    const state = this.newPreAuth(res, { next: safeNext(next) });
    return this.signInModel(req, state.csrf, error === 'oidc' ? 'Sign-in with your identity provider did not complete. Try again.' : undefined);
  }

  @Post('sign-in')
  @Public()
  @HttpCode(200)
  async signIn(@Req() req: ConsoleRequest, @Res() res: Response, @Body() body: unknown) {
    const form = (body ?? {}) as Record<string, unknown>;
    const pre = this.preAuth.open(readCookie(req.headers.cookie, this.sessions.preAuthCookieName));
    if (!pre || !sameOrigin(req) || !sameToken(typeof form._csrf === 'string' ? form._csrf : null, pre.csrf)) {
      const state = this.newPreAuth(res, { next: pre?.next });
      return res.status(400).render('sign-in', this.signInModel(req, state.csrf, 'The sign-in form expired or came from another site. Try again.'));
    }
    const name = typeof form.name === 'string' ? form.name.trim() : '';
    const password = typeof form.password === 'string' ? form.password : '';
    if (!this.config.console?.localAccounts && this.config.console !== undefined) {
      return res.status(400).render('sign-in', this.signInModel(req, pre.csrf, 'Local accounts are turned off here; sign in with your identity provider.'));
    }
    const result = name && password ? await this.local.signIn(name, password) : ({ ok: false, reason: 'invalid' } as const);
    if (!result.ok) {
      await this.record(req, 'console.sign-in', name ? { sub: name.slice(0, 128) } : undefined, 'failure', { method: 'local', reason: result.reason });
      const message = result.reason === 'locked' ? 'Too many failed attempts for this name; wait 15 minutes.' : 'The name or password is not right.';
      return res.status(401).render('sign-in', this.signInModel(req, pre.csrf, message));
    }
    await this.startSession(req, res, { name: result.name, role: result.role, via: 'local', mustChange: result.mustChange }, result.mustChange ? '/console/password' : (pre.next ?? '/console/'));
  }

  @Get('oidc/start')
  @Public()
  async oidcStart(@Req() req: ConsoleRequest, @Res() res: Response, @Query('next') next?: string) {
    if (!this.oidc) return res.status(404).render('error', pageModel(req, 'Not found', { status: 404, detail: 'Sign-in with an identity provider is not configured here.' }));
    let begun;
    try {
      begun = await this.oidc.begin();
    } catch (err) {
      return res.status(502).render('error', pageModel(req, 'Identity provider unavailable', { status: 502, detail: err instanceof OidcSignInError ? `Sign-in failed: ${err.message}.` : 'Sign-in failed.' }));
    }
    this.newPreAuth(res, { next: safeNext(next), oidc: begun.checks });
    res.redirect(303, begun.url);
  }

  @Get('oidc/callback')
  @Public()
  async oidcCallback(@Req() req: ConsoleRequest, @Res() res: Response) {
    const pre = this.preAuth.open(readCookie(req.headers.cookie, this.sessions.preAuthCookieName));
    if (!this.oidc) return res.status(404).render('error', pageModel(req, 'Not found', { status: 404, detail: 'Sign-in with an identity provider is not configured here.' }));
    if (!pre?.oidc) return res.status(400).render('error', pageModel(req, 'Sign-in expired', { status: 400, detail: 'The sign-in took too long or was started elsewhere. Start again from the sign-in page.' }));
    let who;
    try {
      who = await this.oidc.finish(req.originalUrl, pre.oidc);
    } catch (err) {
      await this.record(req, 'console.sign-in', undefined, 'failure', { method: 'oidc', reason: err instanceof OidcSignInError ? err.message : 'error' });
      return res.status(400).render('error', pageModel(req, 'Sign-in refused', { status: 400, detail: err instanceof OidcSignInError ? `Sign-in failed: ${err.message}.` : 'Sign-in failed.' }));
    }
    await this.startSession(req, res, { name: who.name, role: who.role, via: 'oidc', mustChange: false }, pre.next ?? '/console/');
  }

  private async startSession(req: ConsoleRequest, res: Response, user: { name: string; role: Principal['role']; via: 'local' | 'oidc'; mustChange: boolean }, next: string) {
    const started = await this.sessions.start(user, req.headers.cookie);
    await this.record(req, 'console.sign-in', { sub: user.name, role: user.role }, 'success', { method: user.via });
    res.setHeader('Set-Cookie', [started.setCookie, this.sessions.clearCookie(this.sessions.preAuthCookieName)]);
    res.redirect(303, next);
  }

  private newPreAuth(res: Response, extra: Omit<PreAuthState, 'csrf' | 'exp'>): PreAuthState {
    const state: PreAuthState = { csrf: randomBytes(24).toString('base64url'), exp: Date.now() + PRE_AUTH_TTL_MS, ...extra };
    res.setHeader('Set-Cookie', this.sessions.cookie(this.sessions.preAuthCookieName, this.preAuth.seal(state), Math.floor(PRE_AUTH_TTL_MS / 1000)));
    return state;
  }

  private signInModel(req: ConsoleRequest, csrf: string, error?: string) {
    return { ...pageModel(req, 'Sign in'), signInCsrf: csrf, error, oidc: Boolean(this.oidc), local: this.config.console?.localAccounts !== false };
  }

  private record(req: ConsoleRequest, action: string, principal: { sub: string; role?: string } | undefined, outcome: 'success' | 'failure', filters: Record<string, unknown>) {
    return this.audit.recordAccess({
      action,
      principal: principal ? { ...principal, via: 'session' } : undefined,
      route: `${req.method} ${req.path}`,
      filters,
      resource: { type: 'ConsoleSession' },
      recordCount: 0,
      outcome,
      ip: (req.ip ?? req.socket?.remoteAddress),
    });
  }
}

/** Pages of any signed-in person: the start page, setting one's password, signing out. */
@ApiExcludeController()
@Controller('console')
@SessionRoute()
@UseFilters(ConsoleExceptionFilter)
export class SessionController {
  constructor(
    private readonly sessions: ConsoleSessions,
    private readonly local: LocalSignIn,
    private readonly audit: AccessAuditService,
  ) {}

  @Get()
  @RequireScope('console:use')
  @Render('home')
  home(@Req() req: ConsoleRequest, @CurrentPrincipal() p: Principal) {
    const pages = navFor(p.scopes, req.path);
    return pageModel(req, 'Console', { pages });
  }

  @Get('password')
  @RequireScope('console:use')
  @Render('password')
  passwordPage(@Req() req: ConsoleRequest) {
    return pageModel(req, 'Set your password', { mustChange: req.consoleSession?.mustChange, local: req.consoleSession?.via === 'local' });
  }

  @Post('password')
  @RequireScope('console:use')
  async setPassword(@Req() req: ConsoleRequest, @Res() res: Response, @Body() body: unknown, @CurrentPrincipal() p: Principal) {
    const form = (body ?? {}) as Record<string, unknown>;
    const s = (k: string) => (typeof form[k] === 'string' ? (form[k] as string) : '');
    if (req.consoleSession?.via !== 'local') return res.status(400).render('password', pageModel(req, 'Set your password', { error: 'Your password is managed by your identity provider.' }));
    const problem = await this.local.changePassword(p.sub, s('current'), s('password'), s('confirm'));
    await this.audit.recordAccess({ action: 'console.password', principal: { sub: p.sub, role: p.role, via: 'session' }, route: 'POST /console/password', resource: { type: 'ConsoleAccount' }, recordCount: 0, outcome: problem ? 'failure' : 'success', ip: (req.ip ?? req.socket?.remoteAddress) });
    if (problem) return res.status(400).render('password', pageModel(req, 'Set your password', { mustChange: req.consoleSession?.mustChange, local: true, error: problem }));
    // A new password starts a new session (the old id is ended).
    const started = await this.sessions.start({ name: p.sub, role: p.role, via: 'local', mustChange: false }, req.headers.cookie);
    res.setHeader('Set-Cookie', started.setCookie);
    res.redirect(303, '/console/');
  }

  @Post('sign-out')
  @RequireScope('console:use')
  async signOut(@Req() req: ConsoleRequest, @Res() res: Response, @CurrentPrincipal() p: Principal) {
    await this.sessions.end(req.headers.cookie);
    await this.audit.recordAccess({ action: 'console.sign-out', principal: { sub: p.sub, role: p.role, via: 'session' }, route: 'POST /console/sign-out', resource: { type: 'ConsoleSession' }, recordCount: 0, outcome: 'success', ip: (req.ip ?? req.socket?.remoteAddress) });
    res.setHeader('Set-Cookie', this.sessions.clearCookie());
    res.redirect(303, '/console/sign-in');
  }
}
