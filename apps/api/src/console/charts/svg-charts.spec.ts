/**
 * The console's SVG charts: the numbers drawn are the numbers given (bar heights proportional,
 * stacked by severity; one mark per access, flagged ones apart), the text is escaped (an actor id
 * carrying markup stays text), and each chart has a title, a description and a table of the same data.
 */
import { accessTimelineChart, alertVolumeChart } from './svg-charts';

const day = (iso: string) => iso.slice(0, 10);

describe('alert volume chart', () => {
  const buckets = [
    { start: '2026-03-01T00:00:00.000Z', counts: { low: 2, high: 1 } },
    { start: '2026-03-02T00:00:00.000Z', counts: { critical: 4, medium: 4 } },
    { start: '2026-03-03T00:00:00.000Z', counts: {} },
  ];

  it('stacks one bar per period by severity, heights proportional to counts, with a title, description and table', () => {
    const chart = alertVolumeChart(buckets, { title: 'Alerts per day', bucketLabel: day });
    const rects = [...chart.svg.matchAll(/<rect x="[^"]+" y="([^"]+)" width="[^"]+" height="([^"]+)" fill="[^"]+" data-severity="(\w+)" data-count="(\d+)">/g)].map((m) => ({
      h: Number(m[2]),
      severity: m[3],
      n: Number(m[4]),
    }));
    expect(rects.map((r) => [r.severity, r.n])).toEqual([
      ['low', 2],
      ['high', 1],
      ['medium', 4],
      ['critical', 4],
    ]);
    const perAlert = rects[0].h / 2;
    for (const r of rects) expect(r.h).toBeCloseTo(r.n * perAlert, 0);
    expect(chart.svg).toMatch(/<svg [^>]*role="img" aria-labelledby="volume-title-\d+ volume-desc-\d+"/);
    expect(chart.svg).toContain('<title id="volume-title-');
    expect(chart.summary).toBe('11 alerts from 2026-03-01 to 2026-03-03: 2 low, 4 medium, 1 high, 4 critical; the busiest period had 8.');
    expect(chart.table.head).toEqual(['Period', 'Low', 'Medium', 'High', 'Critical', 'Total']);
    expect(chart.table.rows).toEqual([
      ['2026-03-01', '2', '0', '1', '0', '3'],
      ['2026-03-02', '0', '4', '0', '4', '8'],
      ['2026-03-03', '0', '0', '0', '0', '0'],
    ]);
    expect(chart.empty).toBe(false);
    expect(chart.svg).not.toMatch(/style=/);
  });

  it('says so when there is nothing to show', () => {
    const chart = alertVolumeChart([{ start: '2026-03-01T00:00:00.000Z', counts: {} }], { title: 'Alerts per day', bucketLabel: day });
    expect(chart.empty).toBe(true);
    expect(chart.svg).not.toContain('data-severity');
  });
});

describe('patient access timeline', () => {
  const points = [
    { at: '2026-03-02T09:00:00.000Z', actor: 'dr-jones', what: 'read Observation', flagged: false },
    { at: '2026-03-02T10:00:00.000Z', actor: '<img src=x onerror=alert(1)>', what: 'break_glass "Patient"', flagged: true },
    { at: '2026-03-02T09:30:00.000Z', actor: 'dr-jones', what: 'read Condition', flagged: false },
  ];

  it('draws one mark per access on its person row in time order, flagged ones as diamonds, all text escaped', () => {
    const chart = accessTimelineChart(points, { title: 'Who opened this record' });
    expect((chart.svg.match(/<circle /g) ?? []).length).toBe(2);
    expect((chart.svg.match(/data-flagged="true"/g) ?? []).length).toBe(1);
    expect(chart.svg).not.toContain('<img');
    expect(chart.svg).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(chart.svg).toContain('break_glass &quot;Patient&quot;');
    const xs = [...chart.svg.matchAll(/<circle cx="([^"]+)"/g)].map((m) => Number(m[1]));
    expect(xs[0]).toBeLessThan(xs[1]);
    expect(chart.summary).toBe('3 accesses by 2 people from 2026-03-02 09:00Z to 2026-03-02 10:00Z; 1 flagged.');
    expect(chart.table.rows).toEqual([
      ['2026-03-02 09:00Z', 'dr-jones', 'read Observation', 'no'],
      ['2026-03-02 09:30Z', 'dr-jones', 'read Condition', 'no'],
      ['2026-03-02 10:00Z', '<img src=x onerror=alert(1)>', 'break_glass "Patient"', 'yes'],
    ]);
  });

  it('keeps the busiest people on the chart and all of them in the table', () => {
    const many = Array.from({ length: 30 }, (_, i) => ({ at: `2026-03-02T09:${String(i).padStart(2, '0')}:00.000Z`, actor: `user-${i % 15}`, what: 'read', flagged: false }));
    const chart = accessTimelineChart(many, { title: 't', maxRows: 5 });
    expect((chart.svg.match(/text-anchor="end" font-size="12"/g) ?? []).length).toBe(5);
    expect(chart.table.rows).toHaveLength(30);
    expect(chart.summary).toContain('shows the 5 people with the most accesses');
  });
});
