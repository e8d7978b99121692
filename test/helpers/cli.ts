import { execa, type Options } from 'execa';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// End-to-end helpers: the built binary, run as a real process, on a fresh database per test.

export const BIN = fileURLToPath(new URL('../../bin/ddx-share.js', import.meta.url));
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const ACTOR = 'staff@ddx.example';

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** A fresh folder and a database path inside it; `cleanup()` removes both. */
export function tempDir(prefix = 'ddx-'): { dir: string; db: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return {
    dir,
    db: join(dir, 'ddx.db'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * Runs `ddx-share <args>` with --db and the actor set (unless given), no terminal, NO_COLOR,
 * and returns exit code, stdout and stderr apart. It never throws on a non-zero exit.
 */
export async function cli(
  db: string,
  args: readonly string[],
  opts: { input?: string; env?: Record<string, string | undefined>; actor?: string | null } & Pick<
    Options,
    'cwd' | 'timeout'
  > = {},
): Promise<CliResult> {
  const env: Record<string, string | undefined> = {
    NO_COLOR: '1',
    DDX_SHARE_DB: db,
    DDX_ACTOR: opts.actor === null ? undefined : (opts.actor ?? ACTOR),
    XDG_DATA_HOME: join(db, '..', 'xdg'),
    ...opts.env,
  };
  const r = await execa('node', [BIN, ...args], {
    env,
    extendEnv: false,
    reject: false,
    input: opts.input ?? '',
    cwd: opts.cwd ?? ROOT,
    timeout: opts.timeout ?? 60_000,
    stripFinalNewline: false,
  });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** Runs and parses stdout as JSON (adds --json); fails loudly with stderr when it cannot. */
export async function cliJson<T = any>(
  db: string,
  args: readonly string[],
  opts: Parameters<typeof cli>[2] = {},
): Promise<{ exitCode: number; json: T; stderr: string }> {
  const r = await cli(db, [...args, '--json'], opts);
  try {
    return { exitCode: r.exitCode, json: JSON.parse(r.stdout) as T, stderr: r.stderr };
  } catch {
    throw new Error(`stdout is not JSON (exit ${r.exitCode}):\n${r.stdout}\nstderr:\n${r.stderr}`);
  }
}

/** Parses the JSON error document that --json prints on stderr. */
export function jsonError(stderr: string): { code: string; message: string; rule: string | null } {
  return (JSON.parse(stderr) as { error: { code: string; message: string; rule: string | null } })
    .error;
}
