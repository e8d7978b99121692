// Bundles the CLI into dist/: one entry plus a chunk per lazily imported command, so start-up
// parses only what the command asked for needs. Native and optional backends stay external.
import { build } from 'esbuild';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
mkdirSync(new URL('../dist', import.meta.url));

await build({
  entryPoints: { cli: 'src/cli.ts' },
  outdir: 'dist',
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
writeFileSync(
  new URL('../dist/version.js', import.meta.url),
  `export const VERSION = ${JSON.stringify(pkg.version)};\n`,
);
