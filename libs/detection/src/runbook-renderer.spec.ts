/**
 * Runbook rendering: templates and partials from a directory, the formatting helpers, escaping of
 * event data, and a clear error for an unknown runbook.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DetectionAlert } from './alert';
import { renderRunbook, RunbookNotFoundError, RunbookRenderer } from './runbook-renderer';

const alert = {
  id: 'a-1',
  ruleId: 'demo',
  title: 'Demo',
  severity: 'high',
  groupKey: { 'actor.id': 'user-<b>1</b>', 'patient.id': null },
  windowStart: '2024-03-05T15:00:00.000Z',
  windowEnd: '2024-03-05T15:10:00.000Z',
  count: 3,
  summary: { spanMs: 5_400_000, sourceIps: ['10.0.0.1', '10.0.0.2', '10.0.0.3'], integrations: [], topPatients: [{ patientId: 'p-1', count: 2 }] },
} as unknown as DetectionAlert;

describe('RunbookRenderer', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbooks-'));
    fs.writeFileSync(path.join(dir, '_footer.hbs'), 'Escalate: privacy officer.');
    fs.writeFileSync(
      path.join(dir, 'demo.hbs'),
      [
        '# {{alert.title}} ({{upper alert.severity}})',
        'Window: {{date alert.windowStart}} - {{date alert.windowEnd}} ({{duration alert.summary.spanMs}})',
        'IPs: {{list alert.summary.sourceIps limit=2}}; integrations: {{list alert.summary.integrations}}',
        '{{#each group}}{{field}}={{value}};{{/each}}',
        '{{plural alert.count "event"}}{{#if (gt alert.count 2)}} many{{/if}}{{#if (eq alert.severity "high")}} urgent{{/if}}',
        '{{> footer}}',
      ].join('\n'),
    );
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('renders Markdown with the helpers and partials', () => {
    const text = new RunbookRenderer(dir).render('demo', alert);
    expect(text.split('\n')).toEqual([
      '# Demo (HIGH)',
      'Window: 2024-03-05 15:00:00 UTC - 2024-03-05 15:10:00 UTC (1h 30m)',
      'IPs: 10.0.0.1, 10.0.0.2 (+1 more); integrations: none',
      'actor.id=user-&lt;b&gt;1&lt;/b&gt;;patient.id=(none);',
      '3 events many urgent',
      'Escalate: privacy officer.',
    ]);
  });

  it('lists the templates (partials excluded) and refuses unknown or odd names', () => {
    const renderer = new RunbookRenderer(dir);
    expect(renderer.names()).toEqual(['demo']);
    expect(() => renderer.render('missing', alert)).toThrow(RunbookNotFoundError);
    expect(() => renderer.render('../demo', alert)).toThrow(RunbookNotFoundError);
    expect(() => renderer.render('footer', alert)).toThrow(RunbookNotFoundError);
  });

  it('names a template that does not compile', () => {
    fs.writeFileSync(path.join(dir, 'broken.hbs'), '{{#if alert}}never closed');
    expect(() => new RunbookRenderer(dir)).toThrow(/broken\.hbs does not compile/);
  });

  it('renderRunbook() compiles a directory once and reuses it', () => {
    expect(renderRunbook('demo', alert, { dir })).toContain('# Demo');
    fs.writeFileSync(path.join(dir, 'demo.hbs'), 'changed');
    expect(renderRunbook('demo', alert, { dir })).toContain('# Demo');
  });
});
