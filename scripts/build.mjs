// Builds dist/: the CLI as one CommonJS bundle (ddx-share.cjs), the V8 code cache it starts
// from (ddx-share.cache), and the small ES module that runs it (cli.js, what bin/ loads). Native
// and optional backends stay external. The whole is built beside dist/ and swapped in, so a
// command running during a rebuild still finds one.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8'));
const out = `${root}dist`;
const next = `${out}.next-${process.pid}`;

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  legalComments: 'none',
  // Less text to compile; names are kept so a --verbose stack still reads.
  // DDX_BUILD_PLAIN=1 leaves the text readable, for CPU profiles with real line numbers.
  minify: process.env.DDX_BUILD_PLAIN !== '1',
  keepNames: true,
  logLevel: 'warning',
};

// The CLI, one CommonJS file: what dist/cli.js runs from V8's code cache (src/boot.ts). The
// commands imported on demand stay unevaluated until they run.
await build({
  ...common,
  entryPoints: [`${root}src/cli.ts`],
  outfile: `${next}/ddx-share.cjs`,
  format: 'cjs',
  packages: 'bundle',
  external: ['pg', 'pg-native', '@inquirer/*'],
  define: { __DDX_SHARE_VERSION__: JSON.stringify(pkg.version), 'import.meta.url': '__ddxUrl' },
  banner: { js: "var __ddxUrl = require('node:url').pathToFileURL(__filename).href;" },
});
// The entry bin/ loads: it runs the bundle.
await build({
  ...common,
  entryPoints: [`${root}src/boot.ts`],
  outfile: `${next}/cli.js`,
  format: 'esm',
});
writeFileSync(`${next}/version.js`, `export const VERSION = ${JSON.stringify(pkg.version)};\n`);
makeCodeCache();

/**
 * Runs everyday commands on a scratch database in a child process, then saves V8's code for
 * the bundle with what they compiled. Without the cache the CLI works the same, only slower to
 * start, so a failure here is a warning.
 */
function makeCodeCache() {
  const scratch = mkdtempSync(join(tmpdir(), 'ddx-share-build-'));
  const db = ['--db', join(scratch, 'warm.db'), '--actor', 'build@example.com', '--json'];
  const commands = [
    [...db, 'workspace', 'create', 'Warm', '--kind', 'organizational'],
    [...db, 'app', 'create', 'Warm App', '--workspace', 'warm', '--env', 'production'],
    [...db, 'set-scope', 'warm-app', 'all'],
    [...db, 'list'],
    [...db, 'explain', 'warm-app', '--workspace', 'warm'],
  ];
  const entry = JSON.stringify(pathToFileURL(`${next}/cli.js`).href);
  const code =
    `const { makeCodeCache } = await import(${entry});` +
    `await makeCodeCache(${JSON.stringify(commands)});`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], {
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
  });
  rmSync(scratch, { recursive: true, force: true });
  if (!existsSync(`${next}/ddx-share.cache`)) {
    console.warn(`build: no code cache, start-up will be slower: ${r.stderr || r.error}`);
  } else if (r.status !== 0) {
    console.warn(`build: the code cache may cover less than it should: ${r.stderr}`);
  }
}

const old = `${out}.old-${process.pid}`;
if (existsSync(out)) renameSync(out, old);
renameSync(next, out);
rmSync(old, { recursive: true, force: true });
