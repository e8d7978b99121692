import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';
import { DdxError } from '../errors.js';
import { ENVIRONMENTS, SCOPES, WORKSPACE_KINDS, type Scope } from '../rules/types.js';

// Everything a person or a file types is checked here, at the edge, before any command runs.
// zod/mini keeps start-up small (the full zod bundle costs several times more to load); its
// English messages are loaded explicitly.
z.config(en());

export const ID_RULE = '1 to 64 characters of a-z, 0-9, - and _, starting with a letter or digit';
const ID = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/** A value as it may be quoted in a message: short, and with nothing a terminal acts on. */
function shown(v: string): string {
  const clipped = v.length > 40 ? `${v.slice(0, 40)}...` : v;
  return JSON.stringify(clipped);
}

/** A string that passes `ok`, or an issue that quotes the offending value. */
function checked(ok: (v: string) => boolean, message: (v: string) => string) {
  return z.pipe(
    z.string(),
    z.transform((v: string, ctx) => {
      if (ok(v)) return v;
      ctx.issues.push({ code: 'custom', message: message(v), input: v });
      return z.NEVER;
    }),
  );
}

export const idSchema = checked(
  (v) => ID.test(v),
  (v) => `${shown(v)} is not an id: an id is ${ID_RULE}`,
);

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function text(what: string, max: number, forbidden: RegExp) {
  return z.string().check(
    z.trim(),
    z.minLength(1, `${what} cannot be empty`),
    z.maxLength(max, `${what} is at most ${max} characters`),
    z.refine((v) => !forbidden.test(v), `${what} cannot hold control characters`),
    // A lone surrogate cannot be stored as UTF-8; it would come back as something else.
    z.refine((v) => !LONE_SURROGATE.test(v), `${what} holds a broken character (a lone surrogate)`),
  );
}

export const nameSchema = text('a name', 200, /[\u0000-\u001f\u007f]/);
export const ticketSchema = text('a ticket reference', 200, /[\u0000-\u001f\u007f]/);
// A reason may run over several lines; other control characters are refused.
export const reasonSchema = text('a reason', 2000, /[\u0000-\u0008\u000b-\u001f\u007f]/);

function oneOf<const T extends readonly string[]>(
  choices: T,
  what: string,
  aliases: Record<string, T[number]> = {},
) {
  return z.pipe(
    z.string(),
    z.transform((v: string, ctx): T[number] => {
      const key = v.trim().toLowerCase();
      const found = choices.find((c) => c === key) ?? aliases[key];
      if (found === undefined) {
        const message = `${what} must be one of ${choices.join(', ')}`;
        ctx.issues.push({ code: 'custom', message, input: v });
        return z.NEVER;
      }
      return found as T[number];
    }),
  );
}

export const envSchema = oneOf(ENVIRONMENTS, 'the environment', {
  dev: 'development',
  prod: 'production',
});
export const kindSchema = oneOf(WORKSPACE_KINDS, 'the workspace kind', { org: 'organizational' });

const SCOPE_SPELLINGS = new Map<string, Scope>();
const SHORT: Record<Scope, string> = {
  CurrentWorkspaceOnly: 'current',
  AllChildWorkspaces: 'children',
  AllWorkspaces: 'all',
  CustomWorkspaceAccess: 'custom',
};
for (const s of SCOPES) {
  SCOPE_SPELLINGS.set(s.toLowerCase(), s);
  SCOPE_SPELLINGS.set(s.replace(/([a-z])([A-Z])/g, '$1-$2').toLowerCase(), s);
  SCOPE_SPELLINGS.set(SHORT[s], s);
}

/** A scope in any accepted spelling, or a usage error that lists them and suggests the nearest. */
export function parseScope(value: string): Scope {
  const found = SCOPE_SPELLINGS.get(value.trim().toLowerCase());
  if (found) return found;
  const near = nearest(value.trim().toLowerCase(), [...SCOPE_SPELLINGS.keys()]);
  const hint = near ? `Did you mean ${SCOPE_SPELLINGS.get(near)} (${near})?` : undefined;
  throw new DdxError(
    'USAGE',
    `Unknown scope "${value}": use one of ${SCOPES.map((s) => `${s} (${SHORT[s]})`).join(', ')}.`,
    hint ? { hint } : {},
  );
}

export const scopeSchema = z.pipe(
  z.string(),
  z.transform((v: string, ctx): Scope => {
    try {
      return parseScope(v);
    } catch (err) {
      ctx.issues.push({ code: 'custom', message: (err as Error).message, input: v });
      return z.NEVER;
    }
  }),
);

/** A list of ids from a flag or a CSV cell: separated by commas, semicolons or spaces. */
export function splitIds(value: string): string[] {
  return value
    .split(/[\s,;]+/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

export const idListSchema = z.pipe(
  z.union([z.pipe(z.string(), z.transform(splitIds)), z.array(z.string())]),
  z.array(idSchema).check(z.maxLength(100_000, 'a list holds at most 100,000 workspaces')),
);

export function nearest(value: string, choices: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of choices) {
    const d = distance(value, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(value.length / 3)) ? best : undefined;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}

/** Checks a value with a schema, turning the first problem into a usage error naming what. */
export function check<T>(schema: z.ZodMiniType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  throw new DdxError('INVALID_INPUT', `Invalid ${what}: ${describeIssues(r.error)}.`);
}

export function describeIssues(error: { issues: readonly z.core.$ZodIssue[] }): string {
  return error.issues
    .map((i) => (i.path.length > 0 ? `${i.path.join('.')}: ${i.message}` : i.message))
    .join('; ');
}

/** An id made from a name: lower case, runs of other characters turned into one dash. */
export function slugify(name: string, fallback: string): string {
  const slug = name
    .normalize('NFKD')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 56)
    .replace(/-+$/, '');
  return slug || fallback;
}
