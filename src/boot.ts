import { closeSync, fstatSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';
import type * as Cli from './cli.js';

// What dist/cli.js is. Parsing and compiling the bundle was the largest part of a command's
// start-up, and Node 20 keeps no compile cache of its own, so the bundle (dist/ddx-share.cjs)
// runs as a script compiled from V8's code cache (dist/ddx-share.cache), which the build makes
// by running a few commands. A cache V8 refuses (another Node, other flags) or one made for
// another bundle (known by its size and modification time, since V8 itself checks only the
// length) is ignored: the bundle is then compiled as usual, only slower.

const here = dirname(fileURLToPath(import.meta.url));
const BUNDLE = join(here, 'ddx-share.cjs');
const CACHE = join(here, 'ddx-share.cache');
const NEWLINE = 0x0a;

type CliModule = typeof Cli;
type Wrapped = (
  exports: object,
  require: NodeJS.Require,
  module: { exports: object },
  filename: string,
  dirname: string,
) => void;

let loaded: { cli: CliModule; script: Script } | undefined;

function load(useCache: boolean): { cli: CliModule; script: Script } {
  if (loaded) return loaded;
  let fd: number;
  try {
    fd = openSync(BUNDLE, 'r');
  } catch (err) {
    // Said the way Node says it of a missing module, which is what this is (mid-rebuild, say).
    throw new Error(`Cannot find module '${BUNDLE}': run \`npm run build\`.`, { cause: err });
  }
  let source: string;
  let stamp: string;
  try {
    stamp = stampOf(fstatSync(fd));
    source = readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
  const cachedData = useCache ? cacheFor(stamp) : undefined;
  // The same wrapper Node puts around a CommonJS file.
  const script = new Script(
    `(function (exports, require, module, __filename, __dirname) {${source}\n})`,
    cachedData ? { filename: BUNDLE, cachedData } : { filename: BUNDLE },
  );
  const module = { exports: {} };
  (script.runInThisContext() as Wrapped)(
    module.exports,
    createRequire(BUNDLE),
    module,
    BUNDLE,
    here,
  );
  const cli = module.exports as CliModule;
  cli.setEsmImporter((specifier) => import(specifier));
  loaded = { cli, script };
  return loaded;
}

function stampOf(st: Stats): string {
  return `${st.size}:${st.mtimeMs}`;
}

/** The cache's V8 data if it was made for this very bundle (its size and time on the line). */
function cacheFor(stamp: string): Buffer | undefined {
  let file: Buffer;
  try {
    file = readFileSync(CACHE);
  } catch {
    return undefined;
  }
  const end = file.indexOf(NEWLINE);
  if (end < 0 || file.toString('latin1', 0, end) !== stamp) return undefined;
  return file.subarray(end + 1);
}

export function main(argv: string[]): Promise<number> {
  return load(true).cli.main(argv);
}

/**
 * For the build: compiles the bundle afresh, runs the given commands (their output is the
 * caller's to discard) so the functions they need are compiled too, and writes the cache.
 */
export async function makeCodeCache(commands: string[][]): Promise<void> {
  const { cli, script } = load(false);
  const failed: string[] = [];
  for (const argv of commands) if ((await cli.main(argv)) !== 0) failed.push(argv.join(' '));
  const stamp = Buffer.from(`${stampOf(statSync(BUNDLE))}\n`, 'latin1');
  writeFileSync(CACHE, Buffer.concat([stamp, script.createCachedData()]));
  // Still a usable cache, but of less than it should hold: the build says so.
  if (failed.length > 0) throw new Error(`warm-up commands failed: ${failed.join('; ')}`);
}
