import { randomUUID } from 'node:crypto';
import * as z from 'zod/mini';
import { usage } from '../errors.js';
import { describeIssues, envSchema, idListSchema, idSchema, kindSchema } from '../io/input.js';
import { nameSchema, reasonSchema, scopeSchema, slugify, ticketSchema } from '../io/input.js';
import { InputError, readRecords } from '../io/records.js';
import type { RawRecord, RecordFormat, RecordPosition, RecordSpec } from '../io/records.js';
import { table, type Cell } from '../io/render.js';
import type { ScopeRequest } from '../rules/decide.js';
import { createApp, createWorkspace, setScope } from '../service/changes.js';
import type { Meta, Outcome } from '../service/changes.js';
import { audienceChange } from '../service/views.js';
import type { Writer } from '../store/store.js';
import { metaFor, value, type Context, type Result } from './context.js';
import { FreeIds } from './free-ids.js';
import { summaryJson, summaryText, Tally } from './apply-plan.js';
import { guarded, inputProblem, openInput, pickFormat, planChange } from './plan-file.js';
import { planTable, progress, startPlan, type PlanChange, type PlanWriter } from './plan-file.js';

export interface BulkOptions {
  file: string;
  format?: string | undefined;
  dryRun?: boolean;
  savePlan?: string | undefined;
}

/** What a record's decision may use: one per batch, `at` moved along from record to record. */
interface Step {
  w: Writer;
  meta: Meta;
  at: RecordPosition;
  t: Tally;
  dryRun: boolean;
  ids: FreeIds;
  plan: PlanWriter | undefined;
}

interface Kind<R> {
  noun: string;
  spec: RecordSpec;
  /** The field naming the app or workspace, to report a record that fails validation. */
  idField: string;
  schema(format: RecordFormat): z.ZodMiniType<R>;
  decide(s: Step, rec: R): Promise<void>;
  /** The apps and workspaces a chunk of records will read, for the store to fetch at once. */
  reads(recs: readonly R[]): { apps: string[]; workspaces: string[] };
  /** A dry run's changes, for people. */
  changes(t: Tally): string;
}

const CHUNK = 1000;

/** Thrown out of the write callback to roll the batch back; the tally holds the report. */
class RollBack extends Error {}

type Command = (ctx: Context, opts: BulkOptions) => Promise<Result>;
export const bulkWorkspacesCommand: Command = (ctx, opts) => runBulk(ctx, opts, WORKSPACES);
export const bulkAppsCommand: Command = (ctx, opts) => runBulk(ctx, opts, APPS);
export const bulkScopeCommand: Command = (ctx, opts) => runBulk(ctx, opts, SCOPE);

async function runBulk<R>(ctx: Context, opts: BulkOptions, kind: Kind<R>): Promise<Result> {
  const format = pickFormat(opts.file, opts.format);
  const dryRun = opts.dryRun ?? false;
  if (opts.savePlan !== undefined && kind.noun !== SCOPE.noun) {
    throw usage('--save-plan goes only with set-scope --file.');
  }
  if (opts.savePlan !== undefined && !dryRun) {
    throw usage('--save-plan needs --dry-run.', 'A plan is made by a dry run and applied later.');
  }
  const batch = randomUUID();
  const meta = metaFor(ctx, { batch });
  const store = await ctx.openStore();
  const plan =
    opts.savePlan === undefined ? undefined : await startPlan(store, meta, opts.savePlan);
  const input = await openInput(opts.file).catch((err: unknown) => {
    plan?.abort();
    throw err;
  });
  const t = new Tally();
  const schema = kind.schema(format);
  const bar = progress(ctx, `${kind.noun} records`);
  try {
    await store.write(
      async (w) => {
        const step: Step = { w, meta, at: { line: 0 }, t, dryRun, ids: new FreeIds(), plan };
        const records = readRecords(input.stream, format, kind.spec)[Symbol.asyncIterator]();
        let seen = 0;
        // Records are validated a chunk at a time so that a networked store can read what the
        // chunk needs in one round trip; each is still decided in order, against the state the
        // records before it left.
        const chunk: { at: RecordPosition; rec: R }[] = [];
        const decideChunk = async (): Promise<void> => {
          if (w.prefetch && chunk.length > 0) await w.prefetch(kind.reads(chunk.map((c) => c.rec)));
          for (const c of chunk) {
            step.at = c.at;
            await kind.decide(step, c.rec);
          }
          chunk.length = 0;
        };
        for (;;) {
          const next = await guarded(records, opts.file);
          if (next.done) break;
          const raw = next.value;
          bar.tick(++seen);
          const rec = check(raw, schema, kind.idField, t);
          if (rec !== undefined) chunk.push({ at: raw.at, rec });
          if (chunk.length >= CHUNK) await decideChunk();
        }
        await decideChunk();
        // The CSV and JSON readers refuse an empty file; an empty NDJSON file is refused here.
        if (seen === 0 && format === 'ndjson') {
          throw inputProblem(new InputError('the file is empty'), opts.file);
        }
        if (t.bad) throw new RollBack();
      },
      { rollback: dryRun },
    );
  } catch (err) {
    if (!(err instanceof RollBack)) {
      plan?.abort();
      throw err;
    }
  } finally {
    bar.done();
    input.close();
  }
  if (t.bad && !dryRun && t.deniedEvents.length > 0) {
    // The refusals are recorded on their own, once the batch's writes have been thrown away.
    await store.write(async (w) => {
      for (const e of t.deniedEvents) await w.appendEvent(e);
    });
  }
  const json = summaryJson(t, { dryRun, batch });
  const notes: string[] = [];
  if (plan) {
    json.planSaved = !t.bad;
    notes.push(plan.end(t.bad, t.unchanged));
  }
  const changes = (): string => kind.changes(t);
  return value(json, () => summaryText(ctx, t, { dryRun, batch, changes, notes }), t.exitCode);
}

/** Validates one record, reporting it and returning undefined when it is malformed. */
function check<R>(
  raw: RawRecord,
  schema: z.ZodMiniType<R>,
  idField: string,
  t: Tally,
): R | undefined {
  if (!raw.ok) {
    t.reject(raw.at, null, raw.message);
    return undefined;
  }
  const fields = raw.fields;
  // A JSON null is an absent value, as an empty CSV cell is (the reader drops those).
  for (const k in fields) if (fields[k] === null) delete fields[k];
  const r = schema.safeParse(fields);
  if (r.success) return r.data;
  const named = fields[idField];
  t.reject(raw.at, typeof named === 'string' ? named.slice(0, 100) : null, describeIssues(r.error));
  return undefined;
}

const opt = z.optional;

/** A kind of record that creates one thing, with an id from its name unless it gives one. */
function creates<R extends { name: string; id?: string | undefined }, Q>(k: {
  noun: 'workspace' | 'app';
  spec: RecordSpec;
  schema: z.ZodMiniType<R>;
  request(rec: R, id: string): Q;
  create(w: Writer, req: Q, meta: Meta): Promise<Outcome<unknown>>;
  headers: string[];
  row(req: Q): Cell[];
  reads(recs: readonly R[]): { apps: string[]; workspaces: string[] };
}): Kind<R> {
  const table_ = k.noun === 'app' ? 'apps' : 'workspaces';
  return {
    noun: k.noun,
    spec: k.spec,
    idField: 'id',
    schema: () => k.schema,
    async decide(s, rec) {
      const id = rec.id ?? (await s.ids.free(s.w, table_, slugify(rec.name, k.noun)));
      const req = k.request(rec, id);
      const o = await k.create(s.w, req, s.meta);
      if (!o.ok) return s.t.refuse(s.at, id, o);
      s.t.applied++;
      if (s.dryRun) s.t.change({ ...s.at, ...req });
      else if (!s.t.bad && o.event) await s.w.appendEvent(o.event);
    },
    changes: (t) => table(k.headers, t.changes.map(k.row as (c: unknown) => Cell[])),
    reads: k.reads,
  };
}

const given = (ids: (string | undefined)[]): string[] =>
  ids.filter((id): id is string => id !== undefined);

const WORKSPACES = creates({
  noun: 'workspace',
  spec: { fields: ['name', 'kind', 'parent', 'id'], required: ['name', 'kind'] },
  schema: z.object({
    name: nameSchema,
    kind: kindSchema,
    parent: opt(idSchema),
    id: opt(idSchema),
  }),
  request: (r, id) => ({ id, name: r.name, kind: r.kind, parentId: r.parent ?? null }),
  create: createWorkspace,
  headers: ['would create', 'name', 'kind', 'parent'],
  row: (q) => [q.id, q.name, q.kind, q.parentId],
  reads: (recs) => ({ apps: [], workspaces: given(recs.flatMap((r) => [r.id, r.parent])) }),
});

const APPS = creates({
  noun: 'app',
  spec: { fields: ['name', 'workspace', 'env', 'id'], required: ['name', 'workspace', 'env'] },
  schema: z.object({ name: nameSchema, workspace: idSchema, env: envSchema, id: opt(idSchema) }),
  request: (r, id) => ({ id, name: r.name, workspaceId: r.workspace, environment: r.env }),
  create: createApp,
  headers: ['would create', 'name', 'workspace', 'environment'],
  row: (q) => [q.id, q.name, q.workspaceId, q.environment],
  reads: (recs) => ({
    apps: given(recs.map((r) => r.id)),
    workspaces: recs.map((r) => r.workspace),
  }),
});

const FLAGS = new Map(Object.entries({ true: true, yes: true, 1: true, false: false, no: false }));
FLAGS.set('0', false);
const csvFlag = z.pipe(
  z.string(),
  z.transform((v: string, ctx): boolean => {
    const found = FLAGS.get(v.trim().toLowerCase());
    if (found !== undefined) return found;
    ctx.issues.push({ code: 'custom', message: 'use one of true, false, yes, no, 1, 0', input: v });
    return z.NEVER;
  }),
);

function scopeRecord(flag: z.ZodMiniType<boolean>) {
  const fields = { app: idSchema, scope: opt(scopeSchema), env: opt(envSchema) };
  const lists = {
    workspaces: opt(idListSchema),
    add: opt(idListSchema),
    remove: opt(idListSchema),
  };
  const meta = { ticket: opt(ticketSchema), reason: opt(reasonSchema), revokeInstalls: opt(flag) };
  const record = z.object({ ...fields, ...lists, ...meta });
  type Rec = z.infer<typeof record>;
  return z.pipe(
    record,
    z.transform((r: Rec, ctx) => {
      // The requests set-scope refuses as usage errors, here reported per record.
      const editsList = r.workspaces !== undefined || r.add !== undefined || r.remove !== undefined;
      if (!editsList && (r.scope === undefined || r.scope === 'CustomWorkspaceAccess')) {
        const message =
          r.scope === undefined
            ? 'a record needs a scope, or workspaces, add or remove'
            : 'CustomWorkspaceAccess needs its list of workspaces';
        ctx.issues.push({ code: 'custom', message, input: r });
        return z.NEVER;
      }
      const request: ScopeRequest = { revokeInstalls: r.revokeInstalls ?? false };
      if (r.scope !== undefined) request.scope = r.scope;
      if (r.workspaces !== undefined) request.workspaces = r.workspaces;
      if (r.add !== undefined) request.add = r.add;
      if (r.remove !== undefined) request.remove = r.remove;
      if (r.env !== undefined) request.environment = r.env;
      return { app: r.app, request, ticket: r.ticket ?? null, reason: r.reason ?? null };
    }),
  );
}
const csvScopeRecord = scopeRecord(csvFlag);
const jsonScopeRecord = scopeRecord(z.boolean());

const SCOPE: Kind<z.infer<typeof csvScopeRecord>> = {
  noun: 'set-scope',
  spec: {
    fields: 'app scope workspaces add remove env ticket reason revokeInstalls'.split(' '),
    required: ['app'],
  },
  idField: 'app',
  schema: (format) => (format === 'csv' ? csvScopeRecord : jsonScopeRecord),
  async decide(s, rec) {
    const { ticket, reason } = rec;
    const meta = ticket === null && reason === null ? s.meta : { ...s.meta, ticket, reason };
    const o = await setScope(s.w, rec.app, rec.request, meta, { write: true });
    if (!o.ok) return s.t.refuse(s.at, rec.app, o);
    const v = o.value;
    if (!v.changed) {
      s.t.unchanged++;
      return;
    }
    s.t.applied++;
    if (s.dryRun) {
      // Who gains and loses is worked out for plans only: too costly for every applied record.
      const { gained, lost } = await audienceChange(s.w, v.before, v.after);
      const change = planChange(rec, v, gained, lost);
      s.plan?.add(change);
      s.t.change(change);
      return;
    }
    if (s.t.bad) return; // the batch will be rolled back, events and all
    if (o.event) await s.w.appendEvent(o.event);
    for (const e of o.revokeEvents ?? []) await s.w.appendEvent(e);
  },
  changes: (t) => planTable(t.changes as PlanChange[]),
  reads: (recs) => ({
    apps: recs.map((r) => r.app),
    workspaces: recs.flatMap((r) => [
      ...(r.request.workspaces ?? []),
      ...(r.request.add ?? []),
      ...(r.request.remove ?? []),
    ]),
  }),
};
