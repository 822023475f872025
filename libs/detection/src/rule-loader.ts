/**
 * Loads detection-rules/*.yml: parses YAML, checks each rule's shape (zod) and meaning
 * (compileRule), and refuses the whole set when anything is wrong, naming every file, field path
 * and reason at once so an operator fixes them in one pass. Rule files hold no PHI, so messages may
 * quote rule values.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { ZodIssue } from 'zod';
import { Issue } from './condition-compiler';
import { compileRule, CompileRuleOptions, formatIssuePath } from './compiled-rule';
import { RULE_SCHEMA, RuleDefinition } from './rule.schema';

export interface RuleProblem {
  /** The rule file (as given to the loader). */
  file: string;
  /** Where in the rule, e.g. `where.actor.role.gte`; `(yaml)` for syntax errors, `(rule)` for the whole rule. */
  path: string;
  message: string;
}

export class RuleLoadError extends Error {
  constructor(readonly problems: RuleProblem[]) {
    super(
      `${problems.length} problem(s) in detection rules:\n` +
        problems.map((p) => `  ${p.file}: ${p.path}: ${p.message}`).join('\n'),
    );
    this.name = 'RuleLoadError';
  }
}

export interface LoadRulesOptions extends CompileRuleOptions {
  /** When given, every rule's runbook must exist there as <runbook>.hbs. */
  runbooksDir?: string;
}

function zodIssues(issues: ZodIssue[]): Issue[] {
  const out: Issue[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push({ path: [...issue.path, key], message: 'unknown field' });
    } else if (issue.code === 'invalid_type' && issue.received === 'undefined') {
      out.push({ path: issue.path, message: 'is required' });
    } else if (issue.code === 'invalid_enum_value') {
      out.push({ path: issue.path, message: `must be one of: ${issue.options.join(', ')}` });
    } else {
      out.push({ path: issue.path, message: issue.message });
    }
  }
  return out;
}

/** Checks one rule file's text. Returns the rule, or the problems that stop it from loading. */
export function parseRuleText(
  text: string,
  file: string,
  options: LoadRulesOptions = {},
): { rule: RuleDefinition | null; problems: RuleProblem[] } {
  const problems: RuleProblem[] = [];
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter });
  if (doc.errors.length > 0) {
    for (const error of doc.errors) {
      const where = lineCounter.linePos(error.pos[0]);
      problems.push({ file, path: '(yaml)', message: `line ${where.line}, column ${where.col}: ${error.message.split('\n')[0]}` });
    }
    return { rule: null, problems };
  }
  const raw: unknown = doc.toJS({ maxAliasCount: 100 });
  const parsed = RULE_SCHEMA.safeParse(raw);
  if (!parsed.success) {
    for (const issue of zodIssues(parsed.error.issues)) problems.push({ file, path: formatIssuePath(issue.path), message: issue.message });
    return { rule: null, problems };
  }
  const rule: RuleDefinition = { ...parsed.data, source: file };
  const issues: Issue[] = [];
  compileRule(rule, options, issues);
  const stem = path.basename(file).replace(/\.ya?ml$/, '');
  if (stem !== rule.id) issues.push({ path: ['id'], message: `must match the file name (expected "${stem}")` });
  if (options.runbooksDir && !fs.existsSync(path.join(options.runbooksDir, `${rule.runbook}.hbs`))) {
    issues.push({ path: ['runbook'], message: `no runbook template ${rule.runbook}.hbs in ${options.runbooksDir}` });
  }
  for (const issue of issues) problems.push({ file, path: formatIssuePath(issue.path), message: issue.message });
  return { rule: problems.length === 0 ? rule : null, problems };
}

/**
 * Every *.yml / *.yaml rule in `dir`, in file-name order. Throws RuleLoadError listing all
 * problems (including duplicate ids) when any file is bad.
 */
export function loadRules(dir: string, options: LoadRulesOptions = {}): RuleDefinition[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((n) => /\.ya?ml$/.test(n)).sort();
  } catch (error) {
    throw new RuleLoadError([{ file: dir, path: '(directory)', message: `cannot read rule directory: ${(error as NodeJS.ErrnoException).code ?? 'error'}` }]);
  }
  const problems: RuleProblem[] = [];
  const rules: RuleDefinition[] = [];
  const seen = new Map<string, string>();
  for (const name of names) {
    const file = path.join(dir, name);
    const result = parseRuleText(fs.readFileSync(file, 'utf8'), file, options);
    problems.push(...result.problems);
    if (!result.rule) continue;
    const first = seen.get(result.rule.id);
    if (first) {
      problems.push({ file, path: 'id', message: `duplicate rule id "${result.rule.id}" (also in ${first})` });
      continue;
    }
    seen.set(result.rule.id, file);
    rules.push(result.rule);
  }
  if (problems.length > 0) throw new RuleLoadError(problems);
  return rules;
}
