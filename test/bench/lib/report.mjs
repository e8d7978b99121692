import { cpus } from 'node:os';

// The two tables printed at the end: one aligned for the terminal, one in Markdown for the
// README's Performance section.

export const fmtMs = (x) => (x < 1000 ? `${x.toFixed(1)} ms` : `${(x / 1000).toFixed(2)} s`);
export const fmtMiB = (kib) => `${(kib / 1024).toFixed(0)} MiB`;
export const fmtRate = (perSec) => `${Math.round(perSec).toLocaleString('en-US')}/s`;

const signed = (s) => (s.startsWith('-') ? s : `+${s}`);

/** A ratio row: figure median, baseline median, median of the per-pair ratios. */
export function ratioRow(figure, p, max, note) {
  const [lo, hi] = p.ratioIqr;
  const cpu = p.cpu && `CPU ${fmtMs(p.cpu.a)} vs ${fmtMs(p.cpu.b)} -> ${p.cpu.ratio.toFixed(2)}x`;
  return {
    figure,
    measured: fmtMs(p.a),
    baseline: fmtMs(p.b),
    vs: `${p.ratio.toFixed(2)}x`,
    target: `<= ${max.toFixed(1)}x`,
    pass: p.ratio <= max,
    note: [note, `pairs' quartiles ${lo.toFixed(2)}x..${hi.toFixed(2)}x`, cpu]
      .filter(Boolean)
      .join('; '),
  };
}

/** A difference row: the median of the per-pair differences. */
export function deltaRow(figure, p, max, note) {
  const [lo, hi] = p.deltaIqr.map((x) => signed(x.toFixed(0)));
  const cpu =
    p.cpu && `CPU ${fmtMs(p.cpu.a)} vs ${fmtMs(p.cpu.b)} -> ${signed(p.cpu.delta.toFixed(0))} ms`;
  return {
    figure,
    measured: fmtMs(p.a),
    baseline: fmtMs(p.b),
    vs: `${signed(p.delta.toFixed(1))} ms`,
    target: `<= +${max} ms`,
    pass: p.delta <= max,
    note: [note, `pairs' quartiles ${lo}..${hi} ms`, cpu].filter(Boolean).join('; '),
  };
}

const verdict = (r) => (r.pass === true ? 'pass' : r.pass === false ? 'FAIL' : r.status);

export function consoleTable(rows) {
  const head = ['figure', 'measured', 'baseline', 'vs baseline', 'target', 'result'];
  const body = rows.map((r) => [r.figure, r.measured, r.baseline, r.vs, r.target, verdict(r)]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => String(b[i]).length)));
  const line = (cells) => cells.map((c, i) => String(c).padEnd(widths[i])).join('  ');
  const out = [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)];
  for (const r of rows) if (r.note) out.push(`  ${r.figure}: ${r.note}`);
  return out.join('\n');
}

export function markdownTable(rows, { quick, pairs }) {
  const esc = (s) => String(s).replaceAll('|', '\\|');
  const out = [
    '| Figure | ddx-share | Baseline | vs baseline | Target (verdict) |',
    '| --- | --- | --- | --- | --- |',
    ...rows.map(
      (r) =>
        `| ${esc(r.figure)} | ${esc(r.measured)} | ${esc(r.baseline)} | ${esc(r.vs)} | ` +
        `${esc(r.target)} (${verdict(r)}) |`,
    ),
    '',
    `Measured by \`npm run bench\`${quick ? ' (BENCH_QUICK=1: reduced data)' : ''} on ` +
      `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}, Node ${process.version}, ` +
      `${new Date().toISOString().slice(0, 10)}: medians of ${pairs} interleaved pairs, each a ` +
      'whole process from spawn to exit.',
  ];
  return out.join('\n');
}
