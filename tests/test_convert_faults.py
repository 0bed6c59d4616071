"""Fault injection for the conversion `raw_to_datastack` (issue 6, "Conversion" guarantee).

A conversion of a small synthetic scan (96 x 80 pixels x 1024 channels, 2 x 2 shards) is killed with
SIGKILL at many moments (byte-exact through a `zipstack._write` wrapper, and time-based from outside),
fails with an exception half-way (raw file truncated after the header check, simulated Ctrl-C), or runs
into a file-size limit (RLIMIT_FSIZE, the full-disk simulation). After each fault: no file at the target
path (or the previous file byte-identical in the overwrite case); the next conversion in the folder
removes the dead writer's `.partial` temp file and writes a correct file.
"""
import json, os, re, signal, subprocess, sys, time
from pathlib import Path

import numpy as np
import pytest

from maxrf4u.convert import raw_to_datastack
from maxrf4u.errors import DatastackError, RippleError, MaxrfError
from maxrf4u.storage import DataStack
from maxrf4u.synthetic import write_synthetic_scan
from _forkkill import Zygote
from _helpers import sha, fingerprint, partials, entry_hashes

H, W, C = 96, 80, 1024
RESULTS = {}


def content(path):
    """What a conversion wrote: sha256 of every stored entry except the root zarr.json (it holds the
    creation time), and of every dataset as read back through DataStack."""
    entries = entry_hashes(path)
    with DataStack(path, mode='r') as ds:
        arrays = {n: sha(np.ascontiguousarray(ds.read(n, latest=False)).tobytes()) for n in ds.datapath_list}
    return entries, arrays


def partial_pid(name): return int(re.match(r'^\..+\.(\d+)\.[0-9a-f]{8}\.partial$', name).group(1))


@pytest.fixture(scope='module')
def scan(tmp_path_factory):
    "A synthetic scan and its correct conversion: (raw, rpl, reference datastack, content, size)."
    d = tmp_path_factory.mktemp('scan')
    raw, rpl = write_synthetic_scan(d / 'scan.raw', H, W, C, workers=1)
    ref = Path(raw_to_datastack(raw, rpl, d / 'reference.datastack', verbose=False))
    return raw, rpl, ref, content(ref), ref.stat().st_size


@pytest.fixture(scope='module')
def zygote(tmp_path_factory):
    with Zygote(tmp_path_factory.mktemp('logs')) as z: yield z


CONVERT = r'''
from maxrf4u.convert import raw_to_datastack
print('start', flush=True)
raw_to_datastack(args['raw'], args['rpl'], args['target'], verbose=False, overwrite=args['overwrite'])
'''


def kill_campaign(scan, zygote, folder, overwrite, n_points, n_timed):
    "Kill conversions into `folder` at spread byte counts and times; check target and temp files after each."
    raw, rpl, ref, ref_content, T = scan
    folder.mkdir()
    target = folder / 'scan.datastack'
    if overwrite: target.write_bytes(ref.read_bytes())   # an earlier conversion that must survive
    before = fingerprint(target)
    args = dict(raw=str(raw), rpl=str(rpl), target=str(target), overwrite=overwrite)
    # one complete run in the zygote measures the duration (for the time-based kills)
    full = zygote.run(CONVERT, {**args, 'target': str(folder / 'full.datastack'), 'overwrite': False})
    assert full['exit'] == 0, full['log']
    assert content(folder / 'full.datastack') == ref_content
    (folder / 'full.datastack').unlink()
    tail = ref.read_bytes()[-200:]
    eocd_len = len(tail) - tail.rfind(b'PK\x05\x06')
    # the root zarr.json holds run-dependent values (time, timings), so the size may differ by a few bytes
    # between runs: the last points stay 100 bytes before the end (the central directory is longer)
    edges = {T - 100 - eocd_len, T - 100} if n_points >= 20 else {T - 100}
    points = sorted({int(T * k / n_points) for k in range(n_points)} | edges)
    counts = dict(byte_kill_points=0, timed_kills=0, target_changed=0)
    prev_pid = None
    for kb in points:
        res = zygote.run(CONVERT, args, kill_after=kb, grace=0)
        assert res['signal'] == signal.SIGKILL, (kb, res)
        assert fingerprint(target) == before, f'target changed after kill at byte {kb} of {T}'
        left = partials(folder)
        # exactly one temp file: this child's; the previous dead writer's was removed by this conversion
        assert [partial_pid(x) for x in left] == [res['pid']], (kb, left, res['pid'], prev_pid)
        prev_pid = res['pid']
        counts['byte_kill_points'] += 1
    for j in range(n_timed):   # kill -9 from outside at moments spread over the measured duration
        res = zygote.run(CONVERT, args, kill_at_s=0.7 * full['seconds'] * (j + 0.5) / n_timed, grace=0)
        if res['exit'] == 0:    # the run finished before the kill (timing on a shared machine): not a fault
            counts['timed_too_late'] = counts.get('timed_too_late', 0) + 1
            assert content(target)[1] == ref_content[1]
            if overwrite: target.write_bytes(ref.read_bytes()); before = fingerprint(target)
            else: target.unlink()
            continue
        assert res['signal'] == signal.SIGKILL, res
        assert fingerprint(target) == before
        assert set(map(partial_pid, partials(folder))) <= {res['pid'], prev_pid}
        prev_pid = res['pid'] if partials(folder) else prev_pid
        counts['timed_kills'] += 1
    # the next conversion in the folder cleans up and writes a correct file
    out = raw_to_datastack(raw, rpl, target, verbose=False, overwrite=overwrite)
    assert partials(folder) == [] and sorted(os.listdir(folder)) == ['scan.datastack']
    assert content(out) == ref_content
    counts.update(data_lost=0, transaction_bytes=T)
    return counts


def test_kill_during_conversion(scan, zygote, tmp_path):
    "SIGKILL at >= 20 byte-exact moments of a conversion and a few timed ones: no target, temp file cleaned next time."
    c = kill_campaign(scan, zygote, tmp_path / 'new', overwrite=False, n_points=20, n_timed=3)
    RESULTS['kill_new_target'] = c
    print(c)
    assert c['byte_kill_points'] >= 20


def test_kill_during_overwrite(scan, zygote, tmp_path):
    "The same with overwrite=True onto an existing datastack: it stays byte-identical (same mtime)."
    c = kill_campaign(scan, zygote, tmp_path / 'overwrite', overwrite=True, n_points=3, n_timed=1)
    RESULTS['kill_overwrite'] = c
    print(c)


@pytest.mark.slow
def test_kill_during_conversion_many(scan, zygote, tmp_path):
    "More kill points: 50 byte-exact + 10 timed (new target) and 30 + 5 (overwrite)."
    RESULTS['kill_new_target_slow'] = kill_campaign(scan, zygote, tmp_path / 'new', False, n_points=50, n_timed=10)
    RESULTS['kill_overwrite_slow'] = kill_campaign(scan, zygote, tmp_path / 'ow', True, n_points=30, n_timed=5)


def test_no_workers_left_after_kill(scan, zygote, tmp_path):
    "After kill -9 of the converting process mid-way, its worker processes end by themselves (no leak)."
    raw, rpl, ref, ref_content, T = scan
    (tmp_path / 'w').mkdir()
    args = dict(raw=str(raw), rpl=str(rpl), target=str(tmp_path / 'w' / 'x.datastack'), overwrite=False)
    res = zygote.run(CONVERT, args, kill_after=T // 2, grace=5.0)
    assert res['signal'] == signal.SIGKILL
    RESULTS['workers_left_5s_after_kill'] = res['lingering']
    assert res['lingering'] == 0, (f"{res['lingering']} processes of the killed conversion still alive 5 s later: "
                                   f"{res['lingering_cmd']}")


# ---------------------------------------------------------------- exceptions mid-conversion

def test_raw_truncated_after_header_check(scan, tmp_path, monkeypatch):
    "The .raw shrinks after it was opened (header check passed): clear RippleError, nothing at the target."
    raw0, rpl0, ref, ref_content, T = scan
    raw, rpl = tmp_path / 'cut.raw', tmp_path / 'cut.rpl'
    raw.write_bytes(raw0.read_bytes()); rpl.write_bytes(rpl0.read_bytes())
    import maxrf4u.convert as conv
    real = conv.open_raw
    def open_then_truncate(*a, **k):
        cube = real(*a, **k)
        os.truncate(raw, raw.stat().st_size // 3)    # the tiles of the lower rows are gone
        return cube
    monkeypatch.setattr(conv, 'open_raw', open_then_truncate)
    target = tmp_path / 'cut.datastack'
    with pytest.raises(RippleError) as e:
        raw_to_datastack(raw, rpl, target, verbose=False)
    assert 'cut.raw' in str(e.value) and 'truncated' in str(e.value), str(e.value)
    assert not target.exists() and partials(tmp_path) == []


def test_keyboard_interrupt_mid_conversion(scan, tmp_path, monkeypatch):
    "Ctrl-C after the first shards were written: KeyboardInterrupt propagates, nothing at the target, no temp file."
    raw, rpl, ref, ref_content, T = scan
    import tqdm.auto
    real_tqdm = tqdm.auto.tqdm
    class InterruptingBar(real_tqdm):
        seen = 0     # our own count: a disabled tqdm (verbose=False) does not count
        def update(self, n=1):
            super().update(n)
            InterruptingBar.seen += 1
            if InterruptingBar.seen >= 2: raise KeyboardInterrupt   # after two shards were written
    monkeypatch.setattr(tqdm.auto, 'tqdm', InterruptingBar)
    d = tmp_path / 'ki'; d.mkdir()
    t0 = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        raw_to_datastack(raw, rpl, d / 'scan.datastack', verbose=False)
    assert time.perf_counter() - t0 < 30
    assert os.listdir(d) == []


def test_failure_after_all_shards(scan, tmp_path, monkeypatch):
    "An exception after every shard was written, before the commit: nothing at the target (overwrite: old file kept)."
    raw, rpl, ref, ref_content, T = scan
    import maxrf4u.convert as conv
    def boom(*a, **k): raise MemoryError('simulated failure while writing the spectra')
    monkeypatch.setattr(conv, 'zarr_entries', boom)
    d = tmp_path / 'late'; d.mkdir()
    with pytest.raises(MemoryError):
        raw_to_datastack(raw, rpl, d / 'scan.datastack', verbose=False)
    assert os.listdir(d) == []
    (d / 'scan.datastack').write_bytes(ref.read_bytes())
    before = fingerprint(d / 'scan.datastack')
    with pytest.raises(MemoryError):
        raw_to_datastack(raw, rpl, d / 'scan.datastack', verbose=False, overwrite=True)
    assert fingerprint(d / 'scan.datastack') == before and os.listdir(d) == ['scan.datastack']


# ---------------------------------------------------------------- full disk (RLIMIT_FSIZE)

LIMIT_CHILD = r'''
import sys, resource, json
from maxrf4u.convert import raw_to_datastack
from maxrf4u.errors import DatastackError
raw, rpl, target, limit, overwrite = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5] == '1'
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
try:
    raw_to_datastack(raw, rpl, target, verbose=False, overwrite=overwrite)
    print(json.dumps({'ok': True}))
except Exception as e:
    print(json.dumps({'ok': False, 'type': type(e).__name__, 'mro': [c.__name__ for c in type(e).__mro__], 'msg': str(e)}))
'''


@pytest.mark.parametrize('limit,overwrite', [(0.005, False), (0.3, False), (0.97, True), (0.9999, False)])
def test_full_disk_conversion(scan, tmp_path, limit, overwrite):
    "A file-size limit hit during the conversion: clear DatastackError naming the target, target absent/unchanged."
    raw, rpl, ref, ref_content, T = scan
    d = tmp_path / 'fs'; d.mkdir()
    target = d / 'scan.datastack'
    if overwrite: target.write_bytes(ref.read_bytes()[:T // 2])   # a smaller file, so the limit allows it
    before = fingerprint(target)
    lim = int(T * limit)   # >= 100 kB: with less, multiprocessing cannot even create its semaphores in /dev/shm
    p = subprocess.run([sys.executable, '-c', LIMIT_CHILD, str(raw), str(rpl), str(target), str(lim), '1' if overwrite else '0'],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout.splitlines()[-1])
    assert not res['ok'] and 'DatastackError' in res['mro'], res
    assert str(target) in res['msg'] and 'larger than allowed' in res['msg'], res['msg']
    assert fingerprint(target) == before
    assert partials(d) == []
    RESULTS['full_disk_cases'] = RESULTS.get('full_disk_cases', 0) + 1


# ---------------------------------------------------------------- existing target, bad input

def test_existing_target_without_overwrite(scan, tmp_path):
    "FileExistsError that says what is in the existing file; the file is unchanged."
    raw, rpl, ref, ref_content, T = scan
    target = tmp_path / 'scan.datastack'
    target.write_bytes(ref.read_bytes())
    before = fingerprint(target)
    with pytest.raises(FileExistsError) as e:
        raw_to_datastack(raw, rpl, target, verbose=False)
    msg = str(e.value)
    assert str(target) in msg and 'maxrf_cube' in msg and 'overwrite=True' in msg, msg
    assert fingerprint(target) == before and partials(tmp_path) == []
    other = tmp_path / 'notes.datastack'
    other.write_text('my notes, not a datastack')
    with pytest.raises(FileExistsError) as e:
        raw_to_datastack(raw, rpl, other, verbose=False)
    assert 'not a readable datastack' in str(e.value), str(e.value)
    assert other.read_text() == 'my notes, not a datastack'


def _bad_conversions(tmp, raw, rpl):
    "(description, call, expected exception, words in message) for bad conversion inputs."
    short = tmp / 'short.raw'; short.write_bytes(raw.read_bytes()[:1000])
    (tmp / 'short.rpl').write_bytes(rpl.read_bytes())
    badrpl = tmp / 'bad.rpl'; badrpl.write_text(rpl.read_text().replace('depth', 'dpeth', 1))
    garbage = tmp / 'garbage.rpl'; garbage.write_bytes(os.urandom(300))
    folder_missing = tmp / 'no_such_folder' / 'x.datastack'
    return [
        ('missing raw', lambda t: raw_to_datastack(tmp / 'missing.raw', rpl, t, verbose=False), FileNotFoundError, ['missing.raw']),
        ('missing rpl', lambda t: raw_to_datastack(raw, tmp / 'missing.rpl', t, verbose=False), FileNotFoundError, ['missing.rpl']),
        ('raw shorter than header', lambda t: raw_to_datastack(short, tmp / 'short.rpl', t, verbose=False), RippleError, ['short.raw']),
        ('rpl missing a key', lambda t: raw_to_datastack(raw, badrpl, t, verbose=False), RippleError, ['bad.rpl']),
        ('rpl binary garbage', lambda t: raw_to_datastack(raw, garbage, t, verbose=False), RippleError, ['garbage.rpl']),
        ('negative sigma', lambda t: raw_to_datastack(raw, rpl, t, verbose=False, sigma=-1), DatastackError, ['sigma']),
        ('raw is a folder', lambda t: raw_to_datastack(tmp, rpl, t, verbose=False), (MaxrfError, OSError), [tmp.name]),
        ('target folder missing', lambda t: raw_to_datastack(raw, rpl, folder_missing, verbose=False), FileNotFoundError, ['no_such_folder']),
    ]


def test_bad_conversion_inputs(scan, tmp_path):
    "Each bad input raises the documented type naming the file; nothing is written at the target, no temp file."
    raw, rpl, ref, ref_content, T = scan
    failures = []
    cases = _bad_conversions(tmp_path, raw, rpl)
    for desc, call, exc, words in cases:
        target = tmp_path / 'out.datastack'
        listing = sorted(os.listdir(tmp_path))
        try:
            call(target)
            failures.append(f'{desc}: no error')
        except exc as e:
            if not all(w in str(e) for w in words): failures.append(f'{desc}: message {str(e)!r} lacks {words}')
        except Exception as e:
            failures.append(f'{desc}: {type(e).__name__} {e} (expected {exc})')
        if sorted(os.listdir(tmp_path)) != listing: failures.append(f'{desc}: files changed {sorted(os.listdir(tmp_path))}')
    RESULTS['bad_conversion_inputs'] = len(cases)
    assert not failures, failures
