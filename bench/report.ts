import type { LoadResult } from './load.js';

// The figures, their targets (/work/shared/PERF-NOTES.md "Targets") and the verdicts, as a table and as JSON.

export type Verdict = 'PASS' | 'MISS' | 'n/a' | '';

export interface Figure {
  name: string;
  value: number | null;
  unit: string;
  /** e.g. ">= 1.00" or "<= 50"; empty for figures without a target */
  target: string;
  verdict: Verdict;
  note?: string;
}

export function figure(
  name: string,
  value: number | null,
  unit: string,
  target?: { op: '>=' | '<=' | '=='; bound: number; valid?: boolean },
  note?: string,
): Figure {
  let verdict: Verdict = '';
  let t = '';
  if (target) {
    t = `${target.op} ${target.bound}`;
    if (value === null) verdict = 'n/a';
    else if (target.valid === false) verdict = 'MISS';
    else if (target.op === '>=') verdict = value >= target.bound ? 'PASS' : 'MISS';
    else if (target.op === '<=') verdict = value <= target.bound ? 'PASS' : 'MISS';
    else verdict = value === target.bound ? 'PASS' : 'MISS';
  } else if (value === null) {
    verdict = 'n/a';
  }
  return { name, value, unit, target: t, verdict, ...(note ? { note } : {}) };
}

function fmt(v: number | null, unit: string): string {
  if (v === null) return '—';
  if (unit === '×') return v.toFixed(2);
  if (Math.abs(v) >= 100) return Math.round(v).toLocaleString('en-US');
  return v.toFixed(1);
}

export function renderTable(figures: Figure[]): string {
  const rows = figures.map((f) => [
    f.name,
    `${fmt(f.value, f.unit)} ${f.unit}`.trim(),
    f.target,
    f.verdict,
    f.note ?? '',
  ]);
  const head = ['figure', 'measured', 'target', '', 'note'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join(' | ')
      .trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.map(line)].join('\n');
}

/** One line per load run: what was sent, what came back, latency. */
export function describeLoad(label: string, r: LoadResult): string {
  const l = r.latencyMs;
  const bad = r.non2xx + r.errors;
  const statuses = Object.entries(r.statuses)
    .map(([s, n]) => `${s}:${n}`)
    .join(' ');
  return (
    `${label.padEnd(34)} ${Math.round(r.rate).toLocaleString('en-US').padStart(7)}/s  ok ${r.ok}` +
    `${bad ? `  non-2xx ${r.non2xx}  errors ${r.errors}` : ''}  p50 ${l.p50.toFixed(1)} p99 ${l.p99.toFixed(1)}` +
    ` max ${l.max.toFixed(1)} ms  over ${r.seconds.toFixed(1)} s  [${statuses}]` +
    `${r.exhausted ? '  (ran out of pre-generated requests)' : ''}${r.firstError ? `  first error: ${r.firstError}` : ''}`
  );
}
