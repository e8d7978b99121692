// Bundles the CLI into dist/: the everyday commands in one entry, a chunk for each command that
// is imported only when it runs. Native and optional backends stay external. The bundle is
// built beside dist/ and swapped in, so a command running during a rebuild still finds one.
import { build } from 'esbuild';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8'));
const out = `${root}dist`;
const next = `${out}.next-${process.pid}`;

await build({
  entryPoints: { cli: `${root}src/cli.ts` },
  outdir: next,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'bundle',
  external: ['better-sqlite3', 'pg', 'pg-native', '@inquirer/*'],
  define: { __DDX_SHARE_VERSION__: JSON.stringify(pkg.version) },
  banner: {
    // Bundled CommonJS dependencies still call require(); give them one.
    js: "import { createRequire as __ddxRequire } from 'node:module'; const require = __ddxRequire(import.meta.url);",
  },
  legalComments: 'none',
  // Less text to compile at every start; names are kept so a --verbose stack still reads.
  minify: true,
  keepNames: true,
  logLevel: 'warning',
});
writeFileSync(`${next}/version.js`, `export const VERSION = ${JSON.stringify(pkg.version)};\n`);

const old = `${out}.old-${process.pid}`;
if (existsSync(out)) renameSync(out, old);
renameSync(next, out);
rmSync(old, { recursive: true, force: true });
