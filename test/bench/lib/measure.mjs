import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

// How a figure is taken: wall time of a whole process, from spawn to exit, as a person at a
// shell would feel it; and the peak resident memory of that process.

const GNU_TIME = '/usr/bin/time';

/** Runs a command to its end; throws with its stderr unless it exits with an accepted code. */
export function timed(cmd, args, opts = {}) {
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
  return { ms, stdout: r.stdout.toString(), stderr: r.stderr.toString(), status: r.status };
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
  const am = runs.a.map((r) => r.ms);
  const bm = runs.b.map((r) => r.ms);
  return {
    runs,
    a: median(am),
    b: median(bm),
    // Per-pair ratios and differences, so a slow moment that hits one pair cancels inside it.
    ratio: median(am.map((x, i) => x / bm[i])),
    delta: median(am.map((x, i) => x - bm[i])),
    spread: [Math.min(...am), Math.max(...am)],
  };
}

export function median(xs) {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
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
