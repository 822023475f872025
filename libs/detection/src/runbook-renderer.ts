/**
 * Renders a rule's runbook (runbooks/<name>.hbs, Handlebars, Markdown out) with the alert and its
 * evidence summary, for GET /v1/alerts/{id}. Files named _<partial>.hbs are shared partials
 * (`{{> breach-assessment}}`). Every interpolated value (event data: actor ids, systems, reasons)
 * is escaped for Markdown and HTML by `escapeRunbookValue` before the template sees it, so an
 * `actor.id` holding newlines, `## Containment`, `[links](…)`, `![images](…)` or `<html>` stays one
 * line of inert text (issue 22). Rendering never logs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Handlebars from 'handlebars';
import { DetectionAlert } from './alert';
import { formatDuration } from './duration';
import { RuleDefinition } from './rule.schema';

export class RunbookNotFoundError extends Error {
  constructor(readonly runbook: string) {
    super(`no runbook named ${runbook}`);
    this.name = 'RunbookNotFoundError';
  }
}

const RUNBOOK_NAME = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#x27;', '`': '&#x60;', '=': '&#x3D;' };

/**
 * One value made inert in Markdown and HTML: line breaks and control characters become spaces (no
 * block can start: no heading, list, quote, table row or fence); the characters that open links,
 * images, emphasis, strike-through and table cells are backslash-escaped (`_` only at a word edge,
 * so `svc_batch` reads as written); URL schemes and `www.` are defanged (`hxxps://`, `www[.]`) so
 * GFM does not autolink them; and `& < > " ' \` =` are HTML entities (no raw HTML, no code-span
 * break-out). Inside a code span the escapes show literally, which is the safe direction.
 */
export function escapeRunbookValue(value: string): string {
  return value
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ')
    .replace(/\b(h)tt(ps?)(?=:)/gi, (_m, h: string, rest: string) => `${h}xx${rest}`)
    .replace(/\b(ftp|javascript|vbscript|data|file)(?=:)/gi, (m: string) => `${m.slice(0, 1)}\u200b${m.slice(1)}`)
    .replace(/\bwww\./gi, (m: string) => `${m.slice(0, 3)}[.]`)
    .replace(/[\\*[\]()|~!{}#]/g, (c) => `\\${c}`)
    .replace(/(^|[^\p{L}\p{N}])_|_(?=$|[^\p{L}\p{N}])/gu, (m: string) => m.replace('_', '\\_'))
    .replace(/[&<>"'`=]/g, (c) => HTML_ESCAPES[c]!);
}

/** The context with every string escaped (numbers, booleans and structure kept for helpers). */
function escapeDeep<T>(value: T): T {
  if (typeof value === 'string') return escapeRunbookValue(value) as T;
  if (Array.isArray(value)) return value.map(escapeDeep) as T;
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = escapeDeep(v);
    return out as T;
  }
  return value;
}

function formatDate(value: unknown): string {
  if (typeof value !== 'string' && typeof value !== 'number') return '';
  const ms = typeof value === 'number' ? value : Date.parse(value);
  if (Number.isNaN(ms)) return String(value);
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, ' UTC');
}

function registerHelpers(hbs: typeof Handlebars): void {
  hbs.registerHelper('date', (value: unknown) => formatDate(value));
  hbs.registerHelper('duration', (ms: unknown) => (typeof ms === 'number' ? formatDuration(ms) : ''));
  // {{list items}} or {{list items limit=5}}: "a, b, c (+2 more)"; "none" when empty.
  hbs.registerHelper('list', (items: unknown, options: Handlebars.HelperOptions) => {
    if (!Array.isArray(items) || items.length === 0) return 'none';
    const limit = typeof options?.hash?.limit === 'number' ? options.hash.limit : items.length;
    const shown = items.slice(0, limit).map(String).join(', ');
    return items.length > limit ? `${shown} (+${items.length - limit} more)` : shown;
  });
  hbs.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  hbs.registerHelper('gt', (a: unknown, b: unknown) => typeof a === 'number' && typeof b === 'number' && a > b);
  hbs.registerHelper('or', (...args: unknown[]) => args.slice(0, -1).some(Boolean));
  hbs.registerHelper('upper', (value: unknown) => String(value ?? '').toUpperCase());
  // {{plural n "event"}} -> "1 event" / "3 events"
  hbs.registerHelper('plural', (n: unknown, word: unknown) => `${n} ${word}${n === 1 ? '' : 's'}`);
}

export interface RunbookContext {
  alert: DetectionAlert;
  rule?: RuleDefinition;
  /** groupKey as a list, for templates: [{ field, value }]. */
  group: { field: string; value: string }[];
}

export class RunbookRenderer {
  private readonly templates = new Map<string, Handlebars.TemplateDelegate<RunbookContext>>();

  /** Compiles every template in `dir` once (throws on a template syntax error, naming the file). */
  constructor(readonly dir: string) {
    const hbs = Handlebars.create();
    registerHelpers(hbs);
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.hbs')).sort();
    for (const file of files) {
      const source = fs.readFileSync(path.join(dir, file), 'utf8');
      const name = file.slice(0, -'.hbs'.length);
      if (name.startsWith('_')) {
        hbs.registerPartial(name.slice(1), source);
        continue;
      }
      try {
        // Values arrive escaped for Markdown and HTML (escapeDeep); Handlebars' HTML escaping would double them.
        const template = hbs.compile<RunbookContext>(source, { strict: false, noEscape: true });
        // Compile eagerly so syntax errors surface at start-up rather than on first use.
        hbs.precompile(source, { noEscape: true });
        this.templates.set(name, template);
      } catch (error) {
        throw new Error(`runbook ${file} does not compile: ${(error as Error).message.split('\n')[0]}`);
      }
    }
  }

  has(name: string): boolean {
    return this.templates.has(name);
  }

  names(): string[] {
    return [...this.templates.keys()];
  }

  render(name: string, alert: DetectionAlert, rule?: RuleDefinition): string {
    const template = RUNBOOK_NAME.test(name) ? this.templates.get(name) : undefined;
    if (!template) throw new RunbookNotFoundError(name);
    const group = Object.entries(alert.groupKey).map(([field, value]) => ({ field: escapeRunbookValue(field), value: value === null ? '(none)' : escapeRunbookValue(String(value)) }));
    // The rule is the operator's own file (its description may be Markdown); the alert carries event data.
    return template({ alert: escapeDeep(alert), rule, group });
  }
}

const renderers = new Map<string, RunbookRenderer>();

/** Renders with the templates in `dir` (default ./runbooks), compiled once per directory. */
export function renderRunbook(name: string, alert: DetectionAlert, options: { dir?: string; rule?: RuleDefinition } = {}): string {
  const dir = path.resolve(options.dir ?? 'runbooks');
  let renderer = renderers.get(dir);
  if (!renderer) {
    renderer = new RunbookRenderer(dir);
    renderers.set(dir, renderer);
  }
  return renderer.render(name, alert, options.rule);
}
