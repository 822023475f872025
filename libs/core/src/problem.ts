/**
 * RFC 9457 problem details. Every error a client sees is one of these: a stable `type`, a human
 * `title`, the status, and optional structured `errors` naming fields by path (never their values).
 */

export interface FieldError {
  /** Index of the event in a batch, when the request carried several. */
  index?: number;
  /** JSON Pointer to the offending field inside the event (or the body), e.g. `/actor/id`. */
  pointer: string;
  /** What is wrong with it, never echoing the submitted value. */
  message: string;
}

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail?: string;
  errors?: FieldError[];
  [extension: string]: unknown;
}

export const PROBLEM_BASE = 'https://audit-siem.dev/problems/';

export class ProblemError extends Error {
  readonly body: ProblemBody;
  readonly headers: Record<string, string>;

  constructor(status: number, slug: string, title: string, extra: Partial<ProblemBody> = {}, headers: Record<string, string> = {}) {
    super(title);
    this.body = { type: PROBLEM_BASE + slug, title, status, ...extra };
    this.headers = headers;
  }

  get status(): number {
    return this.body.status;
  }
}

export const Problems = {
  /** 400 naming bad fields; the default detail suits path, query and body checks of any route. */
  validation: (errors: FieldError[], detail = 'The request parameters are not valid.') =>
    new ProblemError(400, 'validation', 'Invalid request', { detail, errors }),
  badRequest: (detail: string, errors?: FieldError[]) => new ProblemError(400, 'bad-request', 'Bad request', { detail, errors }),
  unauthorized: (detail = 'A valid bearer token or client certificate is required.') =>
    new ProblemError(401, 'unauthorized', 'Unauthorized', { detail }, { 'WWW-Authenticate': 'Bearer' }),
  forbidden: (detail = 'Your role does not allow this call.') => new ProblemError(403, 'forbidden', 'Forbidden', { detail }),
  notFound: (detail = 'No such resource.') => new ProblemError(404, 'not-found', 'Not found', { detail }),
  conflict: (slug: string, detail: string) => new ProblemError(409, slug, 'Conflict', { detail }),
  tooLarge: (detail: string) => new ProblemError(413, 'payload-too-large', 'Payload too large', { detail }),
  unsupportedMediaType: (detail: string) => new ProblemError(415, 'unsupported-media-type', 'Unsupported media type', { detail }),
  /** 403 for events whose `source` names another integration or a system the caller may not post for. */
  sourceNotAllowed: (errors: FieldError[]) =>
    new ProblemError(403, 'source-not-allowed', 'Forbidden', {
      detail: 'These events name a source (integration or system) that your credentials do not speak for; nothing was stored.',
      errors,
    }),
  tooManyRequests: (retryAfterSeconds: number) =>
    new ProblemError(429, 'rate-limited', 'Too many requests', { detail: 'Rate limit exceeded; retry later.' }, { 'Retry-After': String(retryAfterSeconds) }),
  unavailable: (detail: string, retryAfterSeconds = 1) =>
    new ProblemError(503, 'unavailable', 'Service unavailable', { detail }, { 'Retry-After': String(retryAfterSeconds) }),
};
