import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The folder of one dialect's migration files. DDX_SHARE_MIGRATIONS points elsewhere, which is
 * how tests exercise edited, missing and extra migrations without touching the real ones.
 */
export function migrationsDir(dialect: 'sqlite' | 'postgres'): string {
  const override = process.env.DDX_SHARE_MIGRATIONS;
  if (override) return join(override, dialect);
  // The bundle lives in dist/ and the sources in src/store/: walk up to the package root.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const candidate = join(dir, 'migrations', dialect);
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new Error(`ddx-share cannot find its migrations/${dialect} folder.`);
}
