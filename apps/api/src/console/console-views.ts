/**
 * Server-side rendering of console pages with Handlebars (auto-escaping: `{{x}}` is always escaped;
 * the only unescaped outputs are HTML this service made, like sanitized runbook Markdown, via
 * `{{{safeHtml}}}`). Views live in `console/views` (layout.hbs wraps every page; partials/ are
 * registered by file name); compiled once and kept. Registered as Express's view engine for `.hbs`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Handlebars from 'handlebars';

/** The nearest `console/` folder above `from` (the repository root, from src/ or dist/). */
export function consoleAssetsDir(from: string = __dirname): string {
  let dir = from;
  for (;;) {
    const candidate = path.join(dir, 'console');
    if (fs.existsSync(path.join(candidate, 'views', 'layout.hbs'))) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`console views not found above ${from}`);
    dir = parent;
  }
}

export function consoleViewEngine(viewsDir: string): (file: string, options: object, cb: (err: Error | null, html?: string) => void) => void {
  const hbs = Handlebars.create();
  const partials = path.join(viewsDir, 'partials');
  if (fs.existsSync(partials)) {
    for (const f of fs.readdirSync(partials)) if (f.endsWith('.hbs')) hbs.registerPartial(f.slice(0, -4), fs.readFileSync(path.join(partials, f), 'utf8'));
  }
  hbs.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  hbs.registerHelper('or', (...args: unknown[]) => args.slice(0, -1).some(Boolean));
  hbs.registerHelper('time', (v: unknown) => (typeof v === 'string' && !Number.isNaN(Date.parse(v)) ? new Date(v).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, 'Z') : ''));
  hbs.registerHelper('json', (v: unknown) => JSON.stringify(v ?? null));
  hbs.registerHelper('lower', (v: unknown) => String(v ?? '').toLowerCase());
  hbs.registerHelper('selected', (a: unknown, b: unknown) => (a === b ? 'selected' : ''));
  const cache = new Map<string, Handlebars.TemplateDelegate>();
  const compile = (file: string) => {
    let tpl = cache.get(file);
    if (!tpl) {
      tpl = hbs.compile(fs.readFileSync(file, 'utf8'), { strict: false });
      cache.set(file, tpl);
    }
    return tpl;
  };
  const layoutFile = path.join(viewsDir, 'layout.hbs');
  return (file, options, cb) => {
    try {
      const body = compile(file)(options);
      cb(null, compile(layoutFile)({ ...options, body }));
    } catch (err) {
      cb(err as Error);
    }
  };
}
