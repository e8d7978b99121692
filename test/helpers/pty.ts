import { execa } from 'execa';

// A real pseudo-terminal for end-to-end tests: a small python3 driver runs a command on a pty,
// has a conversation with it (steps), and returns everything the terminal showed.

// A conversation: wait until the pattern (a regular expression) shows in the output written
// since the last keystrokes, pause a moment, type the keys. Then read until the process ends.
const DRIVER = String.raw`
import fcntl, json, os, pty, re, select, signal, struct, sys, termios, time
spec = json.loads(sys.argv[1])
pid, fd = pty.fork()
if pid == 0:
    os.chdir(spec['cwd'])
    os.execvpe(spec['argv'][0], spec['argv'], spec['env'])
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', 50, 200, 0, 0))
out = b''
def pump(timeout):
    global out
    r, _, _ = select.select([fd], [], [], timeout)
    if not r:
        return True
    try:
        chunk = os.read(fd, 65536)
    except OSError:
        return False
    if not chunk:
        return False
    out += chunk
    return True
def wait_for(pattern, timeout):
    start = len(out)
    rx = re.compile(pattern.encode())
    deadline = time.time() + timeout
    while not rx.search(out, start):
        left = deadline - time.time()
        if left <= 0 or not pump(min(left, 0.1)):
            return bool(rx.search(out, start))
    return True
failed = None
for i, (pattern, keys) in enumerate(spec['steps']):
    if not wait_for(pattern, spec['timeout']):
        failed = {'step': i, 'pattern': pattern}
        break
    time.sleep(0.15)
    os.write(fd, keys.encode())
deadline = time.time() + spec['timeout']
status = None
while time.time() < deadline:
    alive = pump(0.1)
    wpid, st = os.waitpid(pid, os.WNOHANG)
    if wpid != 0:
        status = st
        break
    if not alive:
        time.sleep(0.05)
if status is None:
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    failed = failed or {'step': 'exit', 'pattern': None}
while pump(0.05):
    pass
print(json.dumps({'exitCode': os.waitstatus_to_exitcode(status),
                  'output': out.decode('utf-8', 'replace'), 'failed': failed}))
`;

export interface PtySpec {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  /** Pairs of a pattern to wait for (a regular expression) and the keys to type then. */
  steps: [pattern: string, keys: string][];
  /** Seconds to wait for each pattern, and for the end. */
  timeout: number;
}

export interface Terminal {
  exitCode: number;
  /** Everything the terminal showed, stdout and stderr together, cursor movements and all. */
  output: string;
  failed: { step: number | string; pattern: string | null } | null;
}

export async function onPty(spec: PtySpec): Promise<Terminal> {
  const r = await execa('python3', ['-c', DRIVER, JSON.stringify(spec)], {
    reject: false,
    timeout: 120_000,
  });
  if (r.exitCode !== 0) throw new Error(`the pty driver failed: ${r.stderr}`);
  return JSON.parse(String(r.stdout)) as Terminal;
}
