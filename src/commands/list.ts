import { DdxError } from '../errors.js';
import { check, envSchema, idSchema, parseScope } from '../io/input.js';
import { csvRow, table, type Cell } from '../io/render.js';
import { accessOf, type Access } from '../rules/visibility.js';
import type { App } from '../rules/types.js';
import { refOf, type AppFilter, type Reader } from '../store/store.js';
import { appJson } from './app.js';
import type { Context, Result } from './context.js';

export const LIST_FORMATS = ['table', 'json', 'ndjson', 'csv'] as const;
export type ListFormat = (typeof LIST_FORMATS)[number];

export function parseFormat<T extends string>(
  value: string | undefined,
  formats: readonly T[],
  json: boolean,
): T {
  if (value === undefined) return (json ? 'json' : formats[0]) as T;
  const found = formats.find((f) => f === value.toLowerCase());
  if (!found) {
    throw new DdxError('USAGE', `Unknown format "${value}": use one of ${formats.join(', ')}.`);
  }
  // --json promises scripts exactly one JSON document on stdout, whatever else is asked.
  if (json && found !== 'json') {
    throw new DdxError(
      'USAGE',
      `--json prints one JSON document; it does not go with --format ${found}.`,
      {
        hint: 'Leave out --json to get that format.',
      },
    );
  }
  return found;
}

export interface ListOptions {
  env?: string | undefined;
  scope?: string | undefined;
  workspace?: string | undefined;
  visibleTo?: string | undefined;
  shared?: boolean;
  format?: string | undefined;
}

type Row = { app: App; access?: Access };

export async function listCommand(ctx: Context, opts: ListOptions): Promise<Result> {
  const filter: AppFilter = {};
  if (opts.env !== undefined) filter.environment = check(envSchema, opts.env, '--env');
  if (opts.scope !== undefined) filter.scope = parseScope(opts.scope);
  if (opts.workspace !== undefined)
    filter.workspaceId = check(idSchema, opts.workspace, '--workspace');
  if (opts.shared) filter.shared = true;
  const visibleTo =
    opts.visibleTo === undefined ? undefined : check(idSchema, opts.visibleTo, '--visible-to');
  const format = parseFormat(opts.format, LIST_FORMATS, ctx.json);
  const store = await ctx.openStore();
  // Checked before anything is printed, so an unknown workspace never leaves a CSV header behind.
  if (visibleTo !== undefined && !(await store.read((r) => r.getWorkspace(visibleTo)))) {
    throw unknownWorkspace(visibleTo);
  }
  const rows = store.stream((r) => (visibleTo ? visible(r, visibleTo, filter) : all(r, filter)));
  return { kind: 'lines', lines: lines(rows, format, visibleTo !== undefined, ctx) };
}

function unknownWorkspace(wsId: string): DdxError {
  return new DdxError('UNKNOWN_WORKSPACE', `No workspace has the id ${wsId}.`, {
    details: { workspaces: [wsId] },
  });
}

// Rows travel a page at a time: at a million apps, a hop through the async iterators per row
// costs more than writing the row.
async function* all(r: Reader, filter: AppFilter): AsyncIterable<Row[]> {
  for await (const page of r.listAppPages(filter)) yield page.map((app) => ({ app }));
}

async function* visible(r: Reader, wsId: string, filter: AppFilter): AsyncIterable<Row[]> {
  const ws = await r.getWorkspace(wsId);
  if (!ws) throw unknownWorkspace(wsId);
  const ref = refOf(ws);
  const apps: App[] = [];
  for await (const app of r.appsVisibleTo(ref, filter)) apps.push(app);
  const installed = await r.installedBy(
    wsId,
    apps.map((a) => a.id),
  );
  const rows: Row[] = [];
  for (const app of apps) {
    const access = accessOf(app, ref, installed.has(app.id));
    if (access.visible) rows.push({ app, access });
  }
  yield rows;
}

function rowJson(row: Row): Record<string, unknown> {
  return row.access ? { ...appJson(row.app), ...row.access } : appJson(row.app);
}

const COLUMNS = ['id', 'name', 'workspace', 'environment', 'scope', 'workspaces'];
const ACCESS_COLUMNS = ['visible', 'installable', 'adminApi', 'installed'];

function cells(row: Row): Cell[] {
  const a = row.app;
  const base: Cell[] = [
    a.id,
    a.name,
    a.workspaceId,
    a.environment,
    a.scope,
    a.workspaces.join(' '),
  ];
  return row.access
    ? [
        ...base,
        row.access.visible,
        row.access.installable,
        row.access.adminApi,
        row.access.installed,
      ]
    : base;
}

async function* lines(
  pages: AsyncIterable<Row[]>,
  format: ListFormat,
  withAccess: boolean,
  ctx: Context,
): AsyncIterable<string> {
  const headers = withAccess ? [...COLUMNS, ...ACCESS_COLUMNS] : COLUMNS;
  if (format === 'ndjson') {
    for await (const page of pages) {
      let out = '';
      for (const row of page) out += JSON.stringify(rowJson(row)) + '\n';
      yield out;
    }
  } else if (format === 'json') {
    // One JSON array, streamed a page at a time so a million apps never sit in memory.
    let first = true;
    for await (const page of pages) {
      let out = '';
      for (const row of page) {
        out += (first ? '[' : ',') + JSON.stringify(rowJson(row));
        first = false;
      }
      yield out;
    }
    yield first ? '[]\n' : ']\n';
  } else if (format === 'csv') {
    yield csvRow(headers) + '\n';
    for await (const page of pages) {
      let out = '';
      for (const row of page) {
        out += csvRow(cells(row).map((c) => (typeof c === 'boolean' ? String(c) : c))) + '\n';
      }
      yield out;
    }
  } else {
    const body: Cell[][] = [];
    for await (const page of pages) for (const row of page) body.push(cells(row));
    yield body.length === 0 ? 'No apps match.\n' : table(headers, body, ctx.style) + '\n';
  }
}
