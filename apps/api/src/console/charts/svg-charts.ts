/**
 * Console charts as server-rendered inline SVG (no chart library, no script; the console's CSP
 * allows no inline style, so colours are SVG presentation attributes): alert volume over time,
 * stacked by severity, and a patient's access timeline (one row per person, one mark per access,
 * flagged accesses drawn apart). Each chart carries a <title> and <desc> for screen readers and
 * comes with the same numbers as a table (the pages show it under the chart). Every text that
 * reaches the SVG is escaped here, since the page inserts the SVG unescaped.
 */

export const SEVERITY_ORDER = ['low', 'medium', 'high', 'critical'] as const;
export type ChartSeverity = (typeof SEVERITY_ORDER)[number];

/** Colours with at least 3:1 contrast against white, told apart by the legend and the table too. */
const SEVERITY_COLOURS: Record<ChartSeverity, string> = { low: '#4a7ab5', medium: '#b7791f', high: '#c2410c', critical: '#9b1c1c' };

export interface ChartTable {
  caption: string;
  head: string[];
  rows: string[][];
}

export interface ChartView {
  /** Inline SVG markup, every text in it escaped. */
  svg: string;
  /** One sentence saying what the chart shows (also its <desc>). */
  summary: string;
  table: ChartTable;
  empty: boolean;
}

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

let chartCounter = 0;
const nextId = (prefix: string) => `${prefix}-${(chartCounter = (chartCounter + 1) % 1_000_000)}`;

function svgOpen(width: number, height: number, title: string, desc: string, idPrefix: string): string {
  const t = nextId(`${idPrefix}-title`);
  const d = nextId(`${idPrefix}-desc`);
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 ${width} ${height}" width="100%" role="img" aria-labelledby="${t} ${d}" focusable="false">` +
    `<title id="${t}">${escapeXml(title)}</title><desc id="${d}">${escapeXml(desc)}</desc>`
  );
}

/** A round step for an axis from 0 to max, with about 4 ticks. */
function niceStep(max: number): number {
  if (max <= 4) return 1;
  const raw = max / 4;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const n = raw / mag;
  return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * mag;
}

export interface VolumeBucket {
  /** RFC 3339 start of the bucket. */
  start: string;
  counts: Partial<Record<ChartSeverity, number>>;
}

/** Stacked bars: alerts per bucket (day or hour), by severity. */
export function alertVolumeChart(buckets: readonly VolumeBucket[], options: { title: string; bucketLabel: (start: string) => string }): ChartView {
  const totals = buckets.map((b) => SEVERITY_ORDER.reduce((n, s) => n + (b.counts[s] ?? 0), 0));
  const sum = totals.reduce((a, b) => a + b, 0);
  const bySeverity = SEVERITY_ORDER.map((s) => `${buckets.reduce((n, b) => n + (b.counts[s] ?? 0), 0)} ${s}`);
  const summary =
    buckets.length === 0
      ? 'No periods to show.'
      : `${sum} alerts from ${options.bucketLabel(buckets[0].start)} to ${options.bucketLabel(buckets[buckets.length - 1].start)}: ${bySeverity.join(', ')}; the busiest period had ${Math.max(0, ...totals)}.`;
  const table: ChartTable = {
    caption: options.title,
    head: ['Period', ...SEVERITY_ORDER.map((s) => s[0].toUpperCase() + s.slice(1)), 'Total'],
    rows: buckets.map((b, i) => [options.bucketLabel(b.start), ...SEVERITY_ORDER.map((s) => String(b.counts[s] ?? 0)), String(totals[i])]),
  };
  const W = 720;
  const H = 260;
  const left = 44;
  const right = 12;
  const top = 28;
  const bottom = 40;
  const plotW = W - left - right;
  const plotH = H - top - bottom;
  const max = Math.max(1, ...totals);
  const step = niceStep(max);
  const axisMax = Math.ceil(max / step) * step;
  const y = (v: number) => top + plotH - (v / axisMax) * plotH;
  let svg = svgOpen(W, H, options.title, summary, 'volume');
  for (let v = 0; v <= axisMax; v += step) {
    svg += `<line x1="${left}" x2="${W - right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#d0d4da" stroke-width="1"/>`;
    svg += `<text x="${left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" font-size="11" fill="#333">${v}</text>`;
  }
  const slot = buckets.length > 0 ? plotW / buckets.length : plotW;
  const barW = Math.max(2, Math.min(40, slot * 0.7));
  const labelEvery = Math.max(1, Math.ceil(buckets.length / 10));
  buckets.forEach((b, i) => {
    const x = left + i * slot + (slot - barW) / 2;
    let base = 0;
    for (const s of SEVERITY_ORDER) {
      const n = b.counts[s] ?? 0;
      if (n === 0) continue;
      const y0 = y(base + n);
      const h = y(base) - y0;
      svg += `<rect x="${x.toFixed(1)}" y="${y0.toFixed(1)}" width="${barW.toFixed(1)}" height="${Math.max(0.5, h).toFixed(1)}" fill="${SEVERITY_COLOURS[s]}" data-severity="${s}" data-count="${n}"><title>${escapeXml(`${options.bucketLabel(b.start)}: ${n} ${s}`)}</title></rect>`;
      base += n;
    }
    if (i % labelEvery === 0) {
      svg += `<text x="${(left + i * slot + slot / 2).toFixed(1)}" y="${H - bottom + 16}" text-anchor="middle" font-size="11" fill="#333">${escapeXml(options.bucketLabel(b.start))}</text>`;
    }
  });
  SEVERITY_ORDER.forEach((s, i) => {
    const x = left + i * 110;
    svg += `<rect x="${x}" y="8" width="12" height="12" fill="${SEVERITY_COLOURS[s]}"/><text x="${x + 16}" y="18" font-size="12" fill="#222">${s}</text>`;
  });
  svg += `<line x1="${left}" x2="${W - right}" y1="${y(0)}" y2="${y(0)}" stroke="#555" stroke-width="1"/></svg>`;
  return { svg, summary, table, empty: sum === 0 };
}

export interface TimelinePoint {
  /** RFC 3339 time of the access. */
  at: string;
  /** Who (an actor id: workforce, not a patient identifier). */
  actor: string;
  /** What, e.g. the action and resource type. */
  what: string;
  /** An access an alert points at, or not explained by a care relationship: drawn as a red diamond. */
  flagged: boolean;
}

/** One row per person, one mark per access along time; flagged accesses stand out (shape and colour). */
export function accessTimelineChart(points: readonly TimelinePoint[], options: { title: string; maxRows?: number }): ChartView {
  const sorted = [...points].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  const perActor = new Map<string, number>();
  for (const p of sorted) perActor.set(p.actor, (perActor.get(p.actor) ?? 0) + 1);
  const maxRows = options.maxRows ?? 12;
  const actors = [...perActor.keys()].sort((a, b) => (perActor.get(b) ?? 0) - (perActor.get(a) ?? 0) || (a < b ? -1 : 1)).slice(0, maxRows);
  const shown = sorted.filter((p) => actors.includes(p.actor));
  const flagged = sorted.filter((p) => p.flagged).length;
  const fmt = (iso: string) => new Date(iso).toISOString().replace('T', ' ').slice(0, 16) + 'Z';
  const summary =
    sorted.length === 0
      ? 'No accesses in this period.'
      : `${sorted.length} accesses by ${perActor.size} people from ${fmt(sorted[0].at)} to ${fmt(sorted[sorted.length - 1].at)}; ${flagged} flagged.` +
        (perActor.size > actors.length ? ` The chart shows the ${actors.length} people with the most accesses; the table lists all.` : '');
  const table: ChartTable = {
    caption: options.title,
    head: ['Time', 'Who', 'What', 'Flagged'],
    rows: sorted.map((p) => [fmt(p.at), p.actor, p.what, p.flagged ? 'yes' : 'no']),
  };
  const W = 720;
  const rowH = 26;
  const left = 150;
  const right = 16;
  const top = 16;
  const bottom = 34;
  const H = top + bottom + Math.max(1, actors.length) * rowH;
  const plotW = W - left - right;
  const t0 = shown.length ? Date.parse(shown[0].at) : 0;
  const t1 = shown.length ? Date.parse(shown[shown.length - 1].at) : 1;
  const span = Math.max(60_000, t1 - t0);
  const x = (iso: string) => left + ((Date.parse(iso) - t0) / span) * plotW;
  let svg = svgOpen(W, H, options.title, summary, 'timeline');
  actors.forEach((a, i) => {
    const cy = top + i * rowH + rowH / 2;
    const label = a.length > 22 ? `${a.slice(0, 21)}…` : a;
    svg += `<text x="${left - 8}" y="${cy + 4}" text-anchor="end" font-size="12" fill="#222">${escapeXml(label)}</text>`;
    svg += `<line x1="${left}" x2="${W - right}" y1="${cy}" y2="${cy}" stroke="#e1e4e8" stroke-width="1"/>`;
  });
  for (const p of shown) {
    const cy = top + actors.indexOf(p.actor) * rowH + rowH / 2;
    const cx = x(p.at);
    const tip = `<title>${escapeXml(`${fmt(p.at)} ${p.actor}: ${p.what}${p.flagged ? ' (flagged)' : ''}`)}</title>`;
    svg += p.flagged
      ? `<path d="M${cx.toFixed(1)} ${cy - 7} l7 7 l-7 7 l-7 -7 z" fill="#9b1c1c" data-flagged="true">${tip}</path>`
      : `<circle cx="${cx.toFixed(1)}" cy="${cy}" r="5" fill="#2f5d8a" data-flagged="false">${tip}</circle>`;
  }
  const axisY = H - bottom + 4;
  svg += `<line x1="${left}" x2="${W - right}" y1="${axisY}" y2="${axisY}" stroke="#555" stroke-width="1"/>`;
  if (shown.length) {
    svg += `<text x="${left}" y="${axisY + 16}" font-size="11" fill="#333">${escapeXml(fmt(shown[0].at))}</text>`;
    svg += `<text x="${W - right}" y="${axisY + 16}" text-anchor="end" font-size="11" fill="#333">${escapeXml(fmt(new Date(t0 + span).toISOString()))}</text>`;
  }
  svg += '</svg>';
  return { svg, summary, table, empty: sorted.length === 0 };
}
