"""Test-only kill point: make this process SIGKILL itself after writing exactly N bytes of a datastack."""
import os, signal
import maxrf4u.zipstack as zs


def arm(kill_after):
    "Wrap `zipstack._write`, which every byte of a datastack write goes through: write the first `kill_after` bytes, then SIGKILL."
    real, state = zs._write, {'n': 0}
    def _write(fd, data, pos):
        mv = memoryview(data)
        if mv.ndim != 1 or mv.format not in 'Bbc': mv = mv.cast('B')
        if state['n'] + len(mv) >= kill_after:
            real(fd, mv[:kill_after - state['n']], pos)
            os.kill(os.getpid(), signal.SIGKILL)
        state['n'] += len(mv)
        return real(fd, data, pos)
    zs._write = _write
