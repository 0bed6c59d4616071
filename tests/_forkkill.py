"""Helper for the fault-injection tests: run an operation in a child process and SIGKILL it.

Starting a fresh Python that imports numpy, zarr and dask takes more than a second, so a long-lived
"zygote" process imports everything once and forks one child per kill point. Each child is a real
process that dies by SIGKILL, like `kill -9` from a user:

- byte-exact: the child wraps `maxrf4u.zipstack._write` (the one function through which every byte of
  a datastack write goes) so that it writes the first `kill_after` bytes and then sends itself SIGKILL;
- time-based: the test sends SIGKILL to the child's pid after a delay.

Each child runs in its own process group; after it died, the zygote counts the processes still alive
in that group (e.g. conversion workers left behind), then kills that group (only processes the test
started) so nothing leaks between kill points.
"""
import json, os, select, signal, subprocess, sys, time

ZYGOTE = r'''
import os, sys, json, signal, time, traceback, threading
import numpy, zarr, dask, dask.array
import maxrf4u.zipstack as zs, maxrf4u.storage, maxrf4u.convert, maxrf4u.synthetic, maxrf4u.parallel
# numcodecs makes its Blosc lock, a named semaphore, on first use; a child killed while making it would leave
# /dev/shm/sem.mp-* behind (the CI leak check counts them). Give it the thread lock the library's workers use.
maxrf4u.parallel._blosc_thread_lock()
assert threading.active_count() == 1, 'zygote must not run threads before fork'

sys.path.insert(0, sys.argv[1])  # the tests folder
from _killpoint import arm

def alive_in_group(pgid, cmds=None):
    n = 0
    for p in os.listdir('/proc'):
        if not p.isdigit(): continue
        try:
            with open(f'/proc/{p}/stat') as f: st = f.read().rsplit(')', 1)[1].split()
        except OSError: continue
        if int(st[2]) == pgid and st[0] != 'Z':
            n += 1
            if cmds is not None:
                try: cmds.append(open(f'/proc/{p}/cmdline').read().replace('\0', ' ')[:200])
                except OSError: pass
    return n

out = sys.stdout
for line in sys.stdin:
    job = json.loads(line)
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setpgid(0, 0)
            fd = os.open(job['log'], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd, 1); os.dup2(fd, 2)
            sys.stdout = open(1, 'w', buffering=1, closefd=False); sys.stderr = open(2, 'w', buffering=1, closefd=False)
            if job['kill_after'] >= 0: arm(job['kill_after'])
            exec(job['code'], {'args': job['args'], '__name__': '__forkkill__'})
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush(); sys.stderr.flush()
            os._exit(code)
    try: os.setpgid(pid, pid)
    except OSError: pass
    out.write(json.dumps({'pid': pid}) + '\n'); out.flush()
    _, status = os.waitpid(pid, 0)
    dt = time.perf_counter() - t0
    # processes of the dead child still alive after a grace period (e.g. worker processes)
    deadline, left = time.time() + job.get('grace', 3.0), 0
    while (left := alive_in_group(pid)) and time.time() < deadline: time.sleep(0.05)
    cmds = []
    if left: alive_in_group(pid, cmds)
    try: os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError: pass
    out.write(json.dumps({'pid': pid, 'signal': os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
                          'exit': os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
                          'seconds': dt, 'lingering': left, 'lingering_cmd': cmds}) + '\n'); out.flush()
'''


class Zygote:
    "A process that has imported maxrf4u and forks a child per job; see the module docstring."
    def __init__(self, logdir):
        self.logdir, self.n = str(logdir), 0
        self.proc = subprocess.Popen([sys.executable, '-c', ZYGOTE, os.path.dirname(os.path.abspath(__file__))], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)

    def _read(self, timeout):
        r, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not r: raise TimeoutError(f'child did not finish within {timeout} s')
        line = self.proc.stdout.readline()
        if not line: raise RuntimeError(f'zygote died (exit {self.proc.poll()})')
        return json.loads(line)

    def run(self, code, args, kill_after=-1, kill_at_s=None, timeout=180, grace=3.0):
        """Run `code` (with `args` dict in scope) in a forked child; SIGKILL it after `kill_after` bytes
        written or `kill_at_s` seconds. Returns dict(pid, signal, exit, seconds, lingering, log)."""
        self.n += 1
        log = os.path.join(self.logdir, f'child{self.n}.log')
        self.proc.stdin.write(json.dumps({'code': code, 'args': args, 'kill_after': kill_after,
                                          'log': log, 'grace': grace}) + '\n')
        self.proc.stdin.flush()
        pid = self._read(timeout)['pid']
        if kill_at_s is not None:
            time.sleep(kill_at_s)
            try: os.kill(pid, signal.SIGKILL)
            except ProcessLookupError: pass
        res = self._read(timeout)
        res['log'] = open(log).read() if os.path.exists(log) else ''
        return res

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try: self.proc.wait(10)
            except subprocess.TimeoutExpired: self.proc.kill(); self.proc.wait()

    def __enter__(self): return self
    def __exit__(self, *exc): self.close()
