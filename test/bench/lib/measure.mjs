import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

// How a figure is taken: wall time of a whole process, from spawn to exit, as a person at a
// shell would feel it; and the peak resident memory of that process.

const GNU_TIME = '/usr/bin/time';
// BENCH_CPU=1 also reads each run's CPU time (user + system) through GNU time: on a machine
// busy with other work it says more than wall time, at the price of one more exec per run.
const CPU = process.env.BENCH_CPU === '1' && existsSync(GNU_TIME);
const CPU_FILE = join(tmpdir(), `ddx-bench-cpu-${process.pid}.txt`);

/**
 * Runs a command to its end; throws with its stderr unless it exits with an accepted code.
 * Returns wall ms (and CPU ms with BENCH_CPU=1), stdout and stderr.
 */
export function timed(cmd, args, opts = {}) {
  if (CPU) [cmd, args] = [GNU_TIME, ['-f', '%U %S', '-o', CPU_FILE, cmd, ...args]];
  const t0 = performance.now();
  const r = spawnSync(cmd, args, {
    env: opts.env,
    cwd: opts.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 512 * 2 ** 20,
  });
  const ms = performance.now() - t0;
  if (r.error) throw r.error;
  if (opts.ok !== 'any' && !(opts.ok ?? [0]).includes(r.status)) {
    throw new Error(`${[cmd, ...args].join(' ')} exited ${r.status}:\n${r.stderr}`);
  }
  let cpuMs = null;
  if (CPU) {
    const [user, sys] = readFileSync(CPU_FILE, 'utf8').trim().split('\n').at(-1).split(' ');
    cpuMs = (Number(user) + Number(sys)) * 1000;
  }
  return { ms, cpuMs, stdout: r.stdout.toString(), stderr: r.stderr.toString(), status: r.status };
}

/**
 * Interleaved A/B pairs. Which side runs first alternates, so drift, cache warming and the
 * other engineers' load hit both alike; `prepare` runs untimed before every run of a side
 * (fresh database copies). Warm-up pairs fill the page cache and are thrown away.
 */
export async function pairs({ n, warmup = 1, a, b, prepare = () => {} }) {
  const runs = { a: [], b: [] };
  const one = async (side, i) => {
    await prepare(side, i);
    return (side === 'a' ? a : b)(i);
  };
  for (let i = 0; i < warmup; i++) {
    await one('a', -1 - i);
    await one('b', -1 - i);
  }
  for (let i = 0; i < n; i++) {
    const order = i % 2 === 0 ? ['a', 'b'] : ['b', 'a'];
    for (const side of order) runs[side].push(await one(side, i));
  }
  return {
    runs,
    ...compare(runs, 'ms'),
    cpu: runs.a[0]?.cpuMs == null ? null : compare(runs, 'cpuMs'),
  };
}

function compare(runs, key) {
  const am = runs.a.map((r) => r[key]);
  const bm = runs.b.map((r) => r[key]);
  // Per-pair ratios and differences, so a slow moment that hits one pair cancels inside it;
  // their quartiles show how noisy the pairs were.
  const ratios = am.map((x, i) => x / bm[i]);
  const deltas = am.map((x, i) => x - bm[i]);
  return {
    a: median(am),
    b: median(bm),
    ratio: median(ratios),
    delta: median(deltas),
    ratioIqr: [quantile(ratios, 0.25), quantile(ratios, 0.75)],
    deltaIqr: [quantile(deltas, 0.25), quantile(deltas, 0.75)],
  };
}

export const median = (xs) => quantile(xs, 0.5);

/** Linear interpolation between the closest ranks. */
export function quantile(xs, q) {
  const s = [...xs].sort((x, y) => x - y);
  const at = (s.length - 1) * q;
  const lo = Math.floor(at);
  return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (at - lo);
}

/** How peak memory is read: GNU time's %M (the kernel's ru_maxrss), else polling /proc. */
export function rssMethod() {
  const asked = process.env.BENCH_RSS;
  if (asked === 'proc' || (!asked && !existsSync(GNU_TIME))) return 'proc';
  return 'time';
}

/**
 * Runs a command with its stdout piped back here, counting lines (as `| wc -l` would), and
 * returns its wall time, peak RSS in KiB and (with GNU time) CPU time, which a busy machine
 * inflates less than wall time. With GNU time the peak is exact (wait4's
 * ru_maxrss of the node process); polling /proc/<pid>/status VmHWM every 2 ms is a lower bound
 * that can miss only a peak in the last 2 ms.
 */
export function peak(cmd, args, opts = {}) {
  const method = rssMethod();
  const out = `${opts.scratch}/rss-${process.pid}.txt`;
  const [file, argv] =
    method === 'time' ? [GNU_TIME, ['-f', '%M %U %S', '-o', out, cmd, ...args]] : [cmd, args];
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(file, argv, { env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let lines = 0;
    let hwm = 0;
    let cpuMs = null;
    let stderr = '';
    child.stdout.on('data', (b) => {
      for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) lines++;
    });
    child.stderr.on('data', (b) => (stderr = (stderr + b).slice(-4000)));
    const poll =
      method === 'proc'
        ? setInterval(() => {
            try {
              const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
              if (m) hwm = Math.max(hwm, Number(m[1]));
            } catch {
              // gone between two polls
            }
          }, 2)
        : undefined;
    child.on('error', reject);
    child.on('close', (status) => {
      const ms = performance.now() - t0;
      clearInterval(poll);
      if (method === 'time') {
        const [kib, user, sys] = readFileSync(out, 'utf8').trim().split('\n').at(-1).split(' ');
        hwm = Number(kib);
        cpuMs = (Number(user) + Number(sys)) * 1000;
        rmSync(out, { force: true });
      }
      if (!(opts.ok ?? [0]).includes(status)) {
        reject(new Error(`${[cmd, ...args].join(' ')} exited ${status}:\n${stderr}`));
      } else resolve({ ms, cpuMs, peakKiB: hwm, lines, method, stderr });
    });
  });
}
