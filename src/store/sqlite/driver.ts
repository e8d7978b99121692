import type BetterSqlite3 from 'better-sqlite3';
import { createRequire } from 'node:module';

// better-sqlite3 is CommonJS with a native addon, and a CLI called in loops feels every
// millisecond of loading it: it is required on first use (help and usage errors never pay),
// through require() rather than import (which would scan its source for export names), and its
// addon is loaded from where the build puts it, sparing the `bindings` package's search.
const require = createRequire(import.meta.url);
let loaded: { Database: typeof BetterSqlite3; addon: string | undefined } | undefined;

function load(): NonNullable<typeof loaded> {
  if (loaded) return loaded;
  const Database = require('better-sqlite3') as typeof BetterSqlite3;
  let addon: string | undefined;
  try {
    addon = require.resolve('better-sqlite3/build/Release/better_sqlite3.node');
  } catch {
    addon = undefined; // an unusual install: let better-sqlite3 find its addon itself
  }
  loaded = { Database, addon };
  return loaded;
}

export function openSqlite(path: string, opts: BetterSqlite3.Options = {}): Database {
  const { Database, addon } = load();
  return new Database(path, addon ? { ...opts, nativeBinding: addon } : opts);
}

export type Database = BetterSqlite3.Database;
