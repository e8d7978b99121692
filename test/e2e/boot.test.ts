import { execa } from 'execa';
import { cpSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compileBundle, stampOf } from '../../src/boot.js';
import { ACTOR, ROOT, tempDir } from '../helpers/cli.js';

// The built CLI starts from V8's code cache. These check that the build leaves one V8 takes for
// this very bundle, and that a stale or damaged cache only costs speed, never a command.

const DIST = join(ROOT, 'dist');
const t = tempDir('ddx-boot-');
afterAll(() => t.cleanup());

/** A private copy of the package (times kept, node_modules linked) to damage at will. */
function copyPackage(name: string): string {
  const dir = join(t.dir, name);
  for (const part of ['bin', 'dist', 'migrations', 'package.json']) {
    cpSync(join(ROOT, part), join(dir, part), { recursive: true, preserveTimestamps: true });
  }
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

async function listIn(dir: string): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const r = await execa('node', [join(dir, 'bin', 'ddx-share.js'), 'list', '--json'], {
    env: { DDX_SHARE_DB: join(dir, 'ddx.db'), DDX_ACTOR: ACTOR, NO_COLOR: '1' },
    extendEnv: false,
    reject: false,
  });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

describe('the code cache', () => {
  it('is made for the bundle beside it, and V8 accepts it', () => {
    const bundle = join(DIST, 'ddx-share.cjs');
    const file = readFileSync(join(DIST, 'ddx-share.cache'));
    const end = file.indexOf(0x0a);
    expect(file.toString('latin1', 0, end)).toBe(stampOf(statSync(bundle)));
    const source = readFileSync(bundle, 'utf8');
    const script = compileBundle(source, bundle, file.subarray(end + 1));
    expect(script.cachedDataRejected).toBe(false);
  });

  it('is ignored for a bundle edited after the build: the edit is what runs', async () => {
    // V8 checks only a cached script's length, so an edit of the same length would run the old
    // code from a cache that is not checked against the bundle's size and time.
    const dir = copyPackage('edited');
    const bundle = join(dir, 'dist', 'ddx-share.cjs');
    const before = readFileSync(bundle, 'utf8');
    const after = before.replace('Govern who can see', 'GOVERN WHO CAN SEE');
    expect(after.length).toBe(before.length);
    expect(after).not.toBe(before);
    writeFileSync(bundle, after);
    const r = await execa('node', [join(dir, 'bin', 'ddx-share.js'), '--help'], { reject: false });
    expect(r.exitCode).toBe(0);
    expect(String(r.stdout)).toContain('GOVERN WHO CAN SEE');
  });

  it('that is damaged but stamped right is refused by V8, and the command runs', async () => {
    const dir = copyPackage('damaged');
    const cache = join(dir, 'dist', 'ddx-share.cache');
    const file = readFileSync(cache);
    const end = file.indexOf(0x0a);
    writeFileSync(cache, Buffer.concat([file.subarray(0, end + 1), Buffer.alloc(4096, 0x5a)]));
    const r = await listIn(dir);
    expect(r.stderr).toBe('');
    expect([r.exitCode, r.stdout]).toEqual([0, '[]']);
  });

  it('that is missing only costs time', async () => {
    const dir = copyPackage('missing');
    writeFileSync(join(dir, 'dist', 'ddx-share.cache'), '');
    const r = await listIn(dir);
    expect([r.exitCode, r.stdout, r.stderr]).toEqual([0, '[]', '']);
  });
});
