import { Chalk } from 'chalk';
import { safeText } from './sanitize.js';

// Human output. Colour is decided once, at start-up, from --no-color, NO_COLOR, FORCE_COLOR and
// whether stdout is a terminal; every cell is made safe for a terminal before it is printed.

export interface Style {
  bold(s: string): string;
  dim(s: string): string;
  green(s: string): string;
  red(s: string): string;
  yellow(s: string): string;
}

const plain = (s: string): string => s;
export const PLAIN: Style = { bold: plain, dim: plain, green: plain, red: plain, yellow: plain };

// chalk decides nothing here: colorWanted() does, once, and this instance only paints.
const paint = new Chalk({ level: 1 });
export const COLOR: Style = {
  bold: (s) => paint.bold(s),
  dim: (s) => paint.dim(s),
  green: (s) => paint.green(s),
  red: (s) => paint.red(s),
  yellow: (s) => paint.yellow(s),
};

export function colorWanted(opts: {
  noColor: boolean;
  isTTY: boolean;
  env: NodeJS.ProcessEnv;
}): boolean {
  if (opts.noColor || (opts.env.NO_COLOR ?? '') !== '') return false;
  const force = opts.env.FORCE_COLOR;
  if (force !== undefined) return force !== '0' && force !== 'false';
  return opts.isTTY;
}

export type Cell = string | number | boolean | null | undefined;

function cellText(c: Cell): string {
  if (c === null || c === undefined) return '-';
  if (typeof c === 'boolean') return c ? 'yes' : 'no';
  return safeText(String(c));
}

/** A plain aligned table; the header in bold. */
export function table(headers: string[], rows: Cell[][], style: Style = PLAIN): string {
  const text = rows.map((r) => r.map(cellText));
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const head = style.bold(line(headers));
  if (text.length === 0) return head;
  return [head, ...text.map(line)].join('\n');
}

export function list(items: readonly string[], empty = 'none'): string {
  return items.length === 0 ? empty : items.map(safeText).join(', ');
}

// CSV has no escapes of its own, and a CSV printed on a terminal must not drive it: control
// characters (but tab and line breaks, which quoting carries) are shown as \u{...}, as in tables.
const CSV_CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/g;

export function csvRow(cells: Cell[]): string {
  return cells
    .map((c) => {
      const s = (c === null || c === undefined ? '' : String(c)).replace(
        CSV_CONTROL,
        (ch) => `\\u{${ch.codePointAt(0)!.toString(16)}}`,
      );
      // A leading = + - @ would be run as a formula by a spreadsheet: quote it as text.
      const guarded = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
      return /[",\r\n]/.test(guarded) || guarded !== s
        ? `"${guarded.replace(/"/g, '""')}"`
        : guarded;
    })
    .join(',');
}
