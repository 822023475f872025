/**
 * Rule loading: a good file loads; every kind of bad file is refused with the file, the field
 * path inside the rule and the reason, all problems at once.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadRules, parseRuleText, RuleLoadError } from './rule-loader';

const GOOD = `
id: bulk-phi-read
title: Bulk PHI read by one user
severity: high
kind: cardinality
where: { category: data_access, action: [read, query, export], outcome: success }
groupBy: [actor.id]
distinct: patient.id
gte: 50
window: 10m
suppress: 30m
runbook: bulk-phi-read
tags: [hipaa-164.312(b)]
examples:
  fires: [[{ repeat: 50, patient.id: "p-{i}" }]]
  quiet: [[{ patient.id: p-1 }]]
`;

function problemsOf(text: string, file = 'detection-rules/bulk-phi-read.yml') {
  return parseRuleText(text, file).problems.map((p) => `${p.file}: ${p.path}: ${p.message}`);
}

/** The GOOD rule with one line replaced (or added). */
function variant(from: RegExp, to: string): string {
  const out = GOOD.replace(from, to);
  if (out === GOOD) throw new Error(`pattern ${from} did not match`);
  return out;
}

describe('parseRuleText', () => {
  it('loads a rule in the CONTRACT format, with defaults filled', () => {
    const { rule, problems } = parseRuleText(GOOD, 'detection-rules/bulk-phi-read.yml');
    expect(problems).toEqual([]);
    expect(rule).toMatchObject({ id: 'bulk-phi-read', kind: 'cardinality', enabled: true, gte: 50, window: '10m', source: 'detection-rules/bulk-phi-read.yml' });
  });

  it.each([
    ['a YAML syntax error', variant(/groupBy: \[actor.id\]/, 'groupBy: [actor.id'), '(yaml)', /line \d+/],
    ['a duplicated key', variant(/gte: 50/, 'gte: 50\ngte: 60'), '(yaml)', /unique/i],
    ['an unknown top-level field', variant(/gte: 50/, 'gte: 50\nthreshhold: 3'), 'threshhold', /unknown field/],
    ['a severity outside the list', variant(/severity: high/, 'severity: urgent'), 'severity', /low, medium, high, critical/],
    ['a missing title', variant(/title: .*\n/, ''), 'title', /required/],
    ['an id that is not kebab-case', variant(/id: bulk-phi-read/, 'id: Bulk_PHI'), 'id', /kebab-case/],
    ['an id that differs from the file name', variant(/id: bulk-phi-read/, 'id: other-rule'), 'id', /file name/],
    ['a window that is not a duration', variant(/window: 10m/, 'window: 10 minutes'), 'window', /duration/],
    ['a numeric window', variant(/window: 10m/, 'window: 600'), 'window', /duration/],
    ['a misspelt groupBy field', variant(/groupBy: \[actor.id\]/, 'groupBy: [actor.idd]'), 'groupBy[0]', /"actor.idd" is not a field/],
    ['a misspelt where field', variant(/outcome: success \}/, 'outcom: success }'), 'where.outcom', /not a field/],
    ['a value outside a closed vocabulary', variant(/category: data_access/, 'category: data_acess'), 'where.category', /not a valid category/],
    ['a numeric comparison on a text field', variant(/outcome: success \}/, 'outcome: success, actor.role: { gte: 3 } }'), 'where.actor.role.gte', /numeric field/],
    ['an unknown operator', variant(/outcome: success \}/, 'outcome: success, recordCount: { above: 3 } }'), 'where.recordCount.above', /unknown operator/],
    ['a bad time range', variant(/outcome: success \}/, 'outcome: success, time: { between: ["25:00", "07:00"] } }'), 'where.time.between', /HH:MM/],
    ['an unknown time zone', variant(/outcome: success \}/, 'outcome: success, time: { zone: Mars/Olympus, days: [sat] } }'), 'where.time.zone', /IANA/],
    ['a missing field the kind needs', variant(/distinct: patient.id\n/, ''), 'distinct', /required for kind cardinality/],
    ['a field the kind does not use', variant(/gte: 50/, 'gte: 50\nidle: 30d'), 'idle', /not used by kind cardinality/],
    ['missing examples', variant(/examples:[\s\S]*$/, ''), 'examples', /required/],
    ['an empty quiet list', variant(/quiet: .*/, 'quiet: []'), 'examples.quiet', /stay quiet/],
    ['a burst on a windowed kind', variant(/gte: 50/, 'gte: 50\nburst: { by: source.integration, max: 10, window: 1m }'), 'burst', /only match rules/],
    ['a misspelt burst field', variant(/gte: 50/, 'gte: 50\nburst: { by: source.integegration, max: 10, window: 1m }'), 'burst.by', /"source.integegration" is not a field/],
    ['a burst of zero alerts', variant(/gte: 50/, 'gte: 50\nburst: { by: source.integration, max: 0, window: 1m }'), 'burst.max', /1/],
    ['a burst with an unknown key', variant(/gte: 50/, 'gte: 50\nburst: { by: source.integration, max: 10, window: 1m, per: x }'), 'burst.per', /unknown field/],
  ])('refuses %s, naming the file and field', (_what, text, field, why) => {
    const problems = parseRuleText(text, 'detection-rules/bulk-phi-read.yml').problems;
    expect(problems.length).toBeGreaterThan(0);
    const hit = problems.find((p) => p.path === field);
    expect({ paths: problems.map((p) => p.path), found: hit !== undefined }).toEqual({ paths: expect.arrayContaining([field]), found: true });
    expect(hit!.file).toBe('detection-rules/bulk-phi-read.yml');
    expect(hit!.message).toMatch(why);
  });

  it('checks sequence steps and dormant windows', () => {
    const sequence = `
id: seq
title: s
severity: low
kind: sequence
groupBy: [actor.id]
window: 10m
steps:
  - { where: { outcome: failure }, gte: 3 }
  - { where: { outcom: success }, gte: 2 }
runbook: seq
examples: { fires: [[{}]], quiet: [[{}]] }
`;
    expect(problemsOf(sequence, 'seq.yml')).toEqual([
      expect.stringMatching(/^seq\.yml: steps\[1\]\.where\.outcom: "outcom" is not a field/),
      'seq.yml: steps[1].gte: the last step completes the sequence and takes exactly one event',
    ]);
  });

  it('checks sequence links: every step or none, each a field that can be compared', () => {
    const linked = (first: string, second: string) => `
id: seq
title: s
severity: low
kind: sequence
groupBy: [actor.id]
window: 10m
steps:
  - { where: { action: query }${first} }
  - { where: { action: read }${second} }
runbook: seq
examples: { fires: [[{}]], quiet: [[{}]] }
`;
    expect(problemsOf(linked(', link: query.names', ', link: patient.context.family'), 'seq.yml')).toEqual([]);
    expect(problemsOf(linked(', link: query.names', ''), 'seq.yml')).toEqual([
      'seq.yml: steps: link must be given on every step or on none: each step is linked to the completing event by its own field',
    ]);
    expect(problemsOf(linked(', link: query.nams', ', link: explained'), 'seq.yml')).toEqual([
      expect.stringMatching(/^seq\.yml: steps\[0\]\.link: "query\.nams" is not a field/),
      'seq.yml: steps[1].link: explained holds true/false; a link compares names, ids or tokens',
    ]);
  });

  it('requires a dormant window longer than idle', () => {
    const dormant = `
id: dormant
title: d
severity: low
kind: dormant
groupBy: [actor.id]
idle: 30d
window: 7d
runbook: dormant
examples: { fires: [[{}]], quiet: [[{}]] }
`;
    expect(problemsOf(dormant, 'dormant.yml')).toEqual([expect.stringMatching(/^dormant\.yml: window: must be longer than idle/)]);
  });
});

describe('loadRules', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rules-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('loads every .yml file in name order', () => {
    fs.writeFileSync(path.join(dir, 'bulk-phi-read.yml'), GOOD);
    fs.writeFileSync(path.join(dir, 'a-rule.yml'), GOOD.replace('id: bulk-phi-read', 'id: a-rule'));
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'not a rule');
    expect(loadRules(dir).map((r) => r.id)).toEqual(['a-rule', 'bulk-phi-read']);
  });

  it('throws one RuleLoadError listing every bad file, field and reason', () => {
    fs.writeFileSync(path.join(dir, 'bulk-phi-read.yml'), GOOD.replace('severity: high', 'severity: extreme'));
    fs.writeFileSync(path.join(dir, 'other.yml'), GOOD.replace('id: bulk-phi-read', 'id: other').replace('window: 10m', 'window: soon'));
    let error: unknown;
    try {
      loadRules(dir);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RuleLoadError);
    const problems = (error as RuleLoadError).problems;
    expect(problems.map((p) => [path.basename(p.file), p.path])).toEqual([
      ['bulk-phi-read.yml', 'severity'],
      ['other.yml', 'window'],
    ]);
    expect((error as Error).message).toContain(`${path.join(dir, 'other.yml')}: window: must be a duration`);
  });

  it('refuses duplicate ids and missing runbooks', () => {
    fs.writeFileSync(path.join(dir, 'bulk-phi-read.yml'), GOOD);
    fs.writeFileSync(path.join(dir, 'bulk-phi-read.yaml'), GOOD);
    const runbooks = path.join(dir, 'runbooks');
    fs.mkdirSync(runbooks);
    expect(() => loadRules(dir, { runbooksDir: runbooks })).toThrow(RuleLoadError);
    try {
      loadRules(dir, { runbooksDir: runbooks });
    } catch (e) {
      const messages = (e as RuleLoadError).problems.map((p) => `${path.basename(p.file)} ${p.path} ${p.message}`);
      expect(messages).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/bulk-phi-read.yml runbook no runbook template bulk-phi-read.hbs/),
          expect.stringMatching(/bulk-phi-read.yaml runbook no runbook template/),
        ]),
      );
    }
    fs.writeFileSync(path.join(runbooks, 'bulk-phi-read.hbs'), '# runbook');
    expect(() => loadRules(dir, { runbooksDir: runbooks })).toThrow(/duplicate rule id "bulk-phi-read"/);
  });

  it('names an unreadable directory', () => {
    expect(() => loadRules(path.join(dir, 'missing'))).toThrow(/cannot read rule directory/);
  });
});
