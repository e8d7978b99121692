import BetterSqlite3 from 'better-sqlite3';
import { createRequire } from 'node:module';

// better-sqlite3's JavaScript is bundled with the CLI (and so comes from the code cache); its
// native addon is loaded when the first database opens, from where npm built it, sparing the
// `bindings` package's search of a dozen paths.
let addon: string | null | undefined;

function addonPath(): string | null {
  if (addon !== undefined) return addon;
  try {
    addon = createRequire(import.meta.url).resolve(
      'better-sqlite3/build/Release/better_sqlite3.node',
    );
  } catch {
    addon = null; // an unusual install: let better-sqlite3 find its addon itself
  }
  return addon;
}

export function openSqlite(path: string, opts: BetterSqlite3.Options = {}): Database {
  const found = addonPath();
  return new BetterSqlite3(path, found ? { ...opts, nativeBinding: found } : opts);
}

export type Database = BetterSqlite3.Database;
