import { closeSync, fstatSync, openSync, readFileSync, writeFileSync } from 'node:fs';
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

let loaded: { cli: CliModule; script: Script; stamp: string } | undefined;

function load(useCache: boolean): NonNullable<typeof loaded> {
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
  const script = compileBundle(source, BUNDLE, cachedData);
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
  loaded = { cli, script, stamp };
  return loaded;
}

/** The bundle as a script: the same wrapper Node puts around a CommonJS file. */
export function compileBundle(source: string, filename: string, cachedData?: Buffer): Script {
  return new Script(
    `(function (exports, require, module, __filename, __dirname) {${source}\n})`,
    cachedData ? { filename, cachedData } : { filename },
  );
}

/** What the cache's first line says of the bundle it was made for. */
export function stampOf(st: Stats): string {
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
  const { cli, script, stamp } = load(false);
  const failed: string[] = [];
  for (const argv of commands) if ((await cli.main(argv)) !== 0) failed.push(argv.join(' '));
  const head = Buffer.from(`${stamp}\n`, 'latin1');
  writeFileSync(CACHE, Buffer.concat([head, script.createCachedData()]));
  // Still a usable cache, but of less than it should hold: the build says so.
  if (failed.length > 0) throw new Error(`warm-up commands failed: ${failed.join('; ')}`);
}
