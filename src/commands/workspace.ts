import { check, idSchema, kindSchema, nameSchema, slugify } from '../io/input.js';
import { list, table } from '../io/render.js';
import { safeText } from '../io/sanitize.js';
import { DdxError } from '../errors.js';
import type { Workspace } from '../rules/types.js';
import { createWorkspace } from '../service/changes.js';
import type { WorkspaceRow } from '../store/store.js';
import { metaFor, value, type Context, type Result } from './context.js';
import { freeId, runChange } from './run-change.js';

export interface CreateWorkspaceOptions {
  name: string;
  kind: string;
  parent?: string | undefined;
  id?: string | undefined;
}

export function workspaceJson(ws: Workspace): Record<string, unknown> {
  return {
    id: ws.id,
    name: ws.name,
    kind: ws.kind,
    parentId: ws.parentId,
    createdAt: ws.createdAt,
  };
}

export async function createWorkspaceCommand(
  ctx: Context,
  opts: CreateWorkspaceOptions,
): Promise<Result> {
  const name = check(nameSchema, opts.name, 'workspace name');
  const kind = check(kindSchema, opts.kind, '--kind');
  const parentId = opts.parent === undefined ? null : check(idSchema, opts.parent, '--parent');
  const meta = metaFor(ctx);
  const store = await ctx.openStore();
  const id =
    opts.id !== undefined
      ? check(idSchema, opts.id, '--id')
      : await freeId(store, 'workspaces', slugify(name, 'workspace'));
  const ws = await runChange(store, (w) => createWorkspace(w, { id, name, kind, parentId }, meta));
  return value(
    workspaceJson(ws),
    () =>
      `Created ${ws.kind} workspace ${ctx.style.bold(safeText(ws.id))} (${safeText(ws.name)})` +
      (ws.parentId ? ` under ${safeText(ws.parentId)}.` : '.'),
  );
}

export async function showWorkspaceCommand(ctx: Context, id: string): Promise<Result> {
  const wsId = check(idSchema, id, 'workspace id');
  const store = await ctx.openStore();
  const ws = await store.read((r) => r.getWorkspace(wsId));
  if (!ws) {
    throw new DdxError('UNKNOWN_WORKSPACE', `No workspace has the id ${wsId}.`, {
      hint: 'See `ddx-share workspace list`.',
      details: { workspaces: [wsId] },
    });
  }
  return value(workspaceJson(ws), () =>
    table(
      ['field', 'value'],
      [
        ['id', ws.id],
        ['name', ws.name],
        ['kind', ws.kind],
        ['parent', ws.parentId],
        ['ancestors', list(ws.ancestors)],
        ['created', ws.createdAt],
      ],
      ctx.style,
    ),
  );
}

export async function listWorkspacesCommand(
  ctx: Context,
  opts: { tree?: boolean },
): Promise<Result> {
  const store = await ctx.openStore();
  if (ctx.json || !opts.tree) {
    const rows: WorkspaceRow[] = [];
    for await (const ws of store.stream((r) => r.listWorkspaces())) rows.push(ws);
    rows.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return value(rows.map(workspaceJson), () =>
      rows.length === 0
        ? 'No workspaces yet. Create one with `ddx-share workspace create`.'
        : table(
            ['id', 'name', 'kind', 'parent'],
            rows.map((w) => [w.id, w.name, w.kind, w.parentId]),
            ctx.style,
          ),
    );
  }
  const children = new Map<string | null, WorkspaceRow[]>();
  for await (const ws of store.stream((r) => r.listWorkspaces())) {
    const siblings = children.get(ws.parentId) ?? [];
    siblings.push(ws);
    children.set(ws.parentId, siblings);
  }
  return value(null, () => drawTree(children, ctx));
}

function drawTree(children: Map<string | null, WorkspaceRow[]>, ctx: Context): string {
  const lines: string[] = [];
  const byId = (a: WorkspaceRow, b: WorkspaceRow): number => (a.id < b.id ? -1 : 1);
  const walk = (parent: string | null, prefix: string): void => {
    const kids = (children.get(parent) ?? []).sort(byId);
    kids.forEach((ws, i) => {
      const last = i === kids.length - 1;
      const branch = parent === null ? '' : last ? '└── ' : '├── ';
      const kind = ctx.style.dim(`(${ws.kind})`);
      const label = `${ctx.style.bold(safeText(ws.id))} ${safeText(ws.name)} ${kind}`;
      lines.push(prefix + branch + label);
      walk(ws.id, parent === null ? '' : prefix + (last ? '    ' : '│   '));
    });
  };
  walk(null, '');
  return lines.length === 0 ? 'No workspaces yet.' : lines.join('\n');
}
