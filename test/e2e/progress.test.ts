// The progress line of a bulk file: shown on stderr when stderr is a terminal and the work has
// taken over a second, erased at the end, never on stdout and never without a terminal. The
// records arrive through a pipe with a pause in the middle, so "over a second" does not depend
// on how fast this machine is.
import { execa } from 'execa';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ACTOR, BIN, ROOT, tempDir } from '../helpers/cli.js';
import { onPty } from '../helpers/pty.js';

const t = tempDir('ddx-progress-');
afterAll(() => t.cleanup());

const FIRST = 600;
const TOTAL = 1200;

// Writes FIRST records, waits 1.2 s, then writes the rest.
const PRODUCER = `
const line = (i) => JSON.stringify({ name: 'W ' + i, kind: 'organizational' }) + '\\n';
const part = (a, b) => Array.from({ length: b - a }, (_, k) => line(a + k)).join('');
process.stdout.write(part(0, ${FIRST}));
setTimeout(() => process.stdout.write(part(${FIRST}, ${TOTAL})), 1200);
`;

const quote = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;

/** The shell pipeline: the slow producer into a bulk workspace create on the given file. */
function pipeline(db: string): string {
  const producer = join(t.dir, 'producer.cjs');
  writeFileSync(producer, PRODUCER);
  return (
    `node ${quote(producer)} | node ${quote(BIN)} --db ${quote(db)} workspace create ` +
    '--file - --format ndjson --json'
  );
}

describe('the progress line of a bulk file', () => {
  it('shows on a terminal once the work passes a second, and is erased at the end', async () => {
    const out = join(t.dir, 'out.json');
    const script = `${pipeline(t.db)} > ${quote(out)}`;
    const env = { PATH: process.env.PATH ?? '', DDX_ACTOR: ACTOR };
    const pty = await onPty({ argv: ['sh', '-c', script], env, cwd: ROOT, steps: [], timeout: 60 });
    expect(pty.failed).toBeNull();
    expect(pty.exitCode).toBe(0);
    const terminal = pty.output;
    // Ticks come every 256 records; 768 is the first read after the pause.
    expect(terminal).toContain('\rworkspace records: 768 records read…');
    expect(terminal.endsWith('\r\u001b[K')).toBe(true);
    const result = JSON.parse(readFileSync(out, 'utf8')) as { applied: number };
    expect(result.applied).toBe(TOTAL);
  });

  it('never shows without a terminal, however long the work takes', async () => {
    const r = await execa('sh', ['-c', pipeline(join(t.dir, 'quiet.db'))], {
      env: { PATH: process.env.PATH ?? '', DDX_ACTOR: ACTOR },
      extendEnv: false,
      cwd: ROOT,
      reject: false,
    });
    expect([r.exitCode, r.stderr]).toEqual([0, '']);
    expect((JSON.parse(String(r.stdout)) as { applied: number }).applied).toBe(TOTAL);
  });
});
