import { compareGuards } from '../guards.js';
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import type { MigrationFile } from '../migrations.js';
import type { Finding } from '../store.js';

// The guards a database should have are exactly those its migrations create: they are built in
// a scratch schema inside a transaction that is rolled back (which drops the schema with
// everything in it), and the catalog's account of both schemas is compared, so nothing here
// restates the schema.

/**
 * Triggers (with whether they are enabled), the guards' functions, constraints, indexes and
 * tables' columns, by name, as text. Run with the schema first on the search_path, so names in
 * it print unqualified.
 */
const CATALOG = `
SELECT 'trigger ' || t.tgname AS name,
  pg_get_triggerdef(t.oid) || CASE t.tgenabled WHEN 'D' THEN ' (disabled)' ELSE '' END AS def
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND NOT t.tgisinternal
UNION ALL
SELECT 'function ' || p.proname,
  p.prosrc || ' ' || p.provolatile::text || ' ' || p.prosecdef::text || ' '
    || pg_get_function_result(p.oid)
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = $1
UNION ALL
SELECT 'constraint ' || c.relname || '.' || k.conname, pg_get_constraintdef(k.oid)
FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1
UNION ALL
SELECT 'index ' || i.relname, pg_get_indexdef(i.oid)
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_namespace n ON n.oid = i.relnamespace
WHERE n.nspname = $1
UNION ALL
SELECT 'table ' || c.relname, string_agg(
  a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
    || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
    || coalesce(' COLLATE ' || co.collname, ''),
  ', ' ORDER BY a.attnum)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_collation co ON co.oid = a.attcollation AND co.collname <> 'default'
WHERE n.nspname = $1 AND c.relkind = 'r'
GROUP BY c.relname`;

async function catalog(client: pg.ClientBase, schema: string): Promise<Map<string, string>> {
  const rows = await client.query<{ name: string; def: string }>(CATALOG, [schema]);
  // Table names in definitions are always schema-qualified; drop the schema so the two agree.
  const qualified = new RegExp(`(?<![\\w"])"?${schema.replace(/\W/g, '\\$&')}"?\\.`, 'g');
  return new Map(rows.rows.map((r) => [r.name, r.def.replace(qualified, '')]));
}

export async function guardFindings(
  client: pg.ClientBase,
  files: readonly MigrationFile[],
): Promise<Finding[]> {
  const [{ schema }] = (await client.query<{ schema: string }>('SELECT current_schema() AS schema'))
    .rows as [{ schema: string }];
  const have = await catalog(client, schema);
  const scratch = `ddx_guard_check_${randomBytes(6).toString('hex')}`;
  let want: Map<string, string>;
  await client.query('BEGIN');
  try {
    await client.query(`CREATE SCHEMA ${scratch}`);
    await client.query(`SET LOCAL search_path = ${scratch}`);
    for (const f of files) await client.query(f.sql);
    want = await catalog(client, scratch);
  } finally {
    await client.query('ROLLBACK');
  }
  return compareGuards(want, have);
}
