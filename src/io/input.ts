import { z } from 'zod';
import { DdxError } from '../errors.js';
import { ENVIRONMENTS, SCOPES, WORKSPACE_KINDS, type Scope } from '../rules/types.js';

// Everything a person or a file types is checked here, at the edge, before any command runs.

export const ID_RULE = '1 to 64 characters of a-z, 0-9, - and _, starting with a letter or digit';
const ID = /^[a-z0-9][a-z0-9_-]{0,63}$/;

export const idSchema = z.string().refine((v) => ID.test(v), { message: `an id is ${ID_RULE}` });

export const nameSchema = z
  .string()
  .trim()
  .min(1, 'a name cannot be empty')
  .max(200, 'a name is at most 200 characters')
  .refine((v) => !/[\u0000-\u001f\u007f]/.test(v), 'a name cannot hold control characters');

export const ticketSchema = z
  .string()
  .trim()
  .min(1)
  .max(200, 'a ticket reference is at most 200 characters')
  .refine((v) => !/[\u0000-\u001f\u007f]/.test(v), 'a ticket cannot hold control characters');

export const reasonSchema = z
  .string()
  .trim()
  .min(1)
  .max(2000, 'a reason is at most 2000 characters')
  .refine(
    (v) => !/[\u0000-\u0008\u000b-\u001f\u007f]/.test(v),
    'a reason cannot hold control characters',
  );

function oneOf<const T extends readonly string[]>(
  choices: T,
  what: string,
  aliases: Record<string, T[number]> = {},
) {
  return z.string().transform((v, ctx) => {
    const key = v.trim().toLowerCase();
    const found = choices.find((c) => c === key) ?? aliases[key];
    if (found === undefined) {
      ctx.addIssue({ code: 'custom', message: `${what} must be one of ${choices.join(', ')}` });
      return z.NEVER;
    }
    return found as T[number];
  });
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

export const scopeSchema = z.string().transform((v, ctx) => {
  try {
    return parseScope(v);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

/** A list of ids from a flag or a CSV cell: separated by commas, semicolons or spaces. */
export function splitIds(value: string): string[] {
  return value
    .split(/[\s,;]+/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

export const idListSchema = z
  .union([z.string().transform(splitIds), z.array(z.string())])
  .pipe(z.array(idSchema).max(100_000));

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
export function check<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  throw new DdxError('INVALID_INPUT', `Invalid ${what}: ${describeIssues(r.error)}.`);
}

export function describeIssues(error: z.ZodError): string {
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
