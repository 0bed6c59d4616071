"""Fault injection for the crash-safe zip container (maxrf4u.zipstack).

Real processes are killed with SIGKILL at many moments of a large append, run into a file-size
limit (RLIMIT_FSIZE, the full-disk simulation) or append concurrently; after each fault the file
must open read-only without a byte changing, every earlier entry must read back bit-identical, the
new transaction must be absent or complete, and after the next write (repair) plain zipfile and
plain zarr must open the file.

Byte-exact kill points: the child process wraps `maxrf4u.zipstack._write` (the one function through
which every byte of an append goes) so that it writes the first N bytes of the transaction and then
sends itself SIGKILL. No hook in the library. Time-based kills from the parent add realism.
"""
import inspect, json, os, signal, subprocess, sys, time, zipfile, zlib

import numpy as np
import pytest
import zarr

from maxrf4u.zipstack import ZipAppender, ZipStoreReader, new_zip, read_index, repair
from _helpers import CHILD_PRELUDE, sha, kill_points, kill_loop

N_ENTRIES = 200                       # entries in the appended transaction
ENTRY_SIZE = 256 * 1024               # default run: 200 x 256 KiB = 50 MiB
ENTRY_SIZE_SLOW = 1024 * 1024         # --slow run: 200 x 1 MiB = 200 MiB
RESULTS = {}                          # counts for the closing note, printed at the end
PLAIN = {'refused': 0, 'opened_old_state': 0}   # plain zipfile on un-repaired crashed files


def file_crc(path):
    c = 0
    with open(path, 'rb') as f:
        while b := f.read(16 << 20): c = zlib.crc32(b, c)
    return c


def zarr_entries(arrays, attrs=None):
    "Keys and bytes of a zarr v3 group holding `arrays` (written by zarr into a MemoryStore)."
    store = zarr.storage.MemoryStore()
    g = zarr.open_group(store, mode='w', attributes=attrs or {})
    for name, a in arrays.items():
        g.create_array(name, data=a, chunks=tuple(max(1, s // 3) for s in a.shape))
    return {k: v.to_bytes() for k, v in store._store_dict.items()}


@pytest.fixture(scope='module')
def base(tmp_path_factory):
    "A datastack with two earlier commits (3 datasets); returns (path, {key: sha256}, arrays)."
    d = tmp_path_factory.mktemp('base')
    rng = np.random.default_rng(1)
    arrays = {'maxrf_cube': rng.random((30, 40, 64)).astype('f4'),
              'maxrf_maxspectrum': rng.random(64).astype('f4')}
    path = d / 'scan.datastack'
    with new_zip(path) as za:
        for k, v in zarr_entries(arrays, {'source': 'test'}).items(): za.add(k, v)
    arrays['hotmax_pixels'] = rng.integers(0, 100, (7, 2)).astype('i4')
    more = zarr_entries({'hotmax_pixels': arrays['hotmax_pixels']})
    with ZipAppender(path) as za:
        for k, v in more.items():
            if k != 'zarr.json': za.add(k, v)
    with zipfile.ZipFile(path) as zf:
        hashes = {n: sha(zf.read(n)) for n in zf.namelist()}
    return path, hashes, arrays


def new_entry(i, size):
    "Entry `i` of the appended transaction: `size` bytes of i % 251, the first 8 holding i."
    b = np.full(size, i % 251, np.uint8); b[:8] = np.frombuffer(np.int64(i).tobytes(), np.uint8)
    return b


CHILD = CHILD_PRELUDE + 'import numpy as np\n' + inspect.getsource(new_entry) + r'''
import json, time
import maxrf4u.zipstack as zs
path, n, size, kill_after = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
if kill_after >= 0: arm(kill_after)
with zs.ZipAppender(path) as za:
    print('start', flush=True)
    t0 = time.perf_counter()
    for i in range(n):
        za.add(f'new/c/{i}', new_entry(i, size))
    za.add('new/zarr.json', b'{"zarr_format": 3, "node_type": "group", "attributes": {}}')
    t1 = time.perf_counter()
print(json.dumps(dict(add_s=t1 - t0, total_s=time.perf_counter() - t0)), flush=True)
'''


def child_cmd(path, n, size, kill_after=-1):
    "Command line of a child that appends `n` entries of `size` bytes to `path` (SIGKILL after `kill_after` bytes)."
    return [sys.executable, '-c', CHILD, str(path), str(n), str(size), str(kill_after)]


def run_child(path, n, size, kill_after=-1, timeout=300):
    return subprocess.run(child_cmd(path, n, size, kill_after), capture_output=True, text=True, timeout=timeout)


def check_after_fault(path, base_hashes, n, size, arrays):
    """Verify a file after a fault; return 'absent' or 'complete'. Repairs the file at the end."""
    st0, crc0 = os.stat(path), file_crc(path)
    r = ZipStoreReader(path)
    for k, h in base_hashes.items():           # every earlier entry bit-identical
        assert sha(r.read_range(k)) == h, k
    g = zarr.open_group(r, mode='r')
    for name, a in arrays.items(): assert np.array_equal(g[name][:], a), name
    new = [k for k in r.entries if k.startswith('new/')]
    if new:                                     # complete, with the right bytes
        assert len(new) == n + 1
        for i in (0, n // 2, n - 1):
            assert r.read_range(f'new/c/{i}') == new_entry(i, size).tobytes()
        outcome = 'complete'
    else: outcome = 'absent'
    uncommitted = r.index.uncommitted_bytes
    r.close()
    st1 = os.stat(path)                         # opening read-only changed nothing
    assert (st1.st_size, st1.st_mtime_ns) == (st0.st_size, st0.st_mtime_ns) and file_crc(path) == crc0
    if uncommitted:   # plain zipfile fails before repair, or (tail < 64 KiB) finds the old EOCD
        try:
            with zipfile.ZipFile(path) as zf: names = set(zf.namelist())
            assert names == set(base_hashes), 'plain zipfile saw something other than the committed state'
            PLAIN['opened_old_state'] += 1
        except zipfile.BadZipFile: PLAIN['refused'] += 1
    info = repair(path, verbose=False)
    assert info['removed_bytes'] == uncommitted
    with zipfile.ZipFile(path) as zf:           # after repair plain zipfile and plain zarr open it
        assert zf.testzip() is None
    with zarr.storage.ZipStore(path, mode='r') as zst:
        g = zarr.open_group(zst, mode='r')
        assert np.array_equal(g['maxrf_cube'][:], arrays['maxrf_cube'])
    return outcome, uncommitted


def kill_campaign(base, tmp_path, size, n_points, n_timed):
    path0, hashes, arrays = base
    n = N_ENTRIES
    # one complete run measures the transaction's bytes and duration
    full = tmp_path / 'full.datastack'
    full.write_bytes(path0.read_bytes())
    p = run_child(full, n, size)
    assert p.returncode == 0, p.stderr
    timing = json.loads(p.stdout.splitlines()[-1])
    T = full.stat().st_size - path0.stat().st_size
    assert check_after_fault(full, hashes, n, size, arrays)[0] == 'complete'
    tail = full.read_bytes()[-200:]
    eocd_len = len(tail) - tail.rfind(b'PK\x05\x06')
    points = kill_points(T, n_points, {T - eocd_len - 1, T - eocd_len, T - 5, T - 1, T})   # CD end, before/inside/after EOCD

    def kill_bytes(f, kb):
        p = run_child(f, n, size, kb)
        assert p.returncode == -signal.SIGKILL, (kb, p.returncode, p.stderr)

    def kill_timed(f, j):    # kill -9 from outside, spread over the measured duration
        proc = subprocess.Popen(child_cmd(f, n, size), stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == 'start'
        time.sleep(timing['total_s'] * (j + 0.5) / n_timed)
        proc.send_signal(signal.SIGKILL); proc.wait()

    outcomes = kill_loop(path0, tmp_path, T, points, n_timed, kill_bytes, kill_timed,
                         lambda f, kb, i: check_after_fault(f, hashes, n, size, arrays)[0])
    res = dict(plain_zipfile_before_repair=dict(PLAIN), transaction_bytes=T, entries=n + 1, byte_kill_points=len(points), timed_kills=n_timed,
               outcomes=outcomes, data_lost=0, full_append_s=round(timing['total_s'], 3))
    RESULTS[f'kill_campaign_{size}'] = res
    print(res)
    return res


def test_kill_during_append(base, tmp_path):
    "SIGKILL at >= 20 byte-exact moments of a 200-entry append (+ timed kills): nothing earlier lost."
    res = kill_campaign(base, tmp_path, ENTRY_SIZE, n_points=20, n_timed=4)
    assert res['byte_kill_points'] + res['timed_kills'] >= 24


@pytest.mark.slow
def test_kill_during_append_200MB(base, tmp_path):
    "The same with 200 entries of 1 MiB (200 MiB) and more kill points."
    kill_campaign(base, tmp_path, ENTRY_SIZE_SLOW, n_points=30, n_timed=10)


# ---------------------------------------------------------------- full disk (RLIMIT_FSIZE)

LIMIT_CHILD = r'''
import sys, resource, json
import maxrf4u.zipstack as zs
from maxrf4u.errors import DatastackError
path, limit, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
try:
    if mode == 'append':
        with zs.ZipAppender(path) as za:
            for i in range(40): za.add(f'new/c/{i}', bytes([i]) * 100_000)
    else:
        with zs.new_zip(path, overwrite=(mode == 'overwrite')) as za:
            for i in range(40): za.add(f'new/c/{i}', bytes([i]) * 100_000)
    print(json.dumps({'ok': True}))
except DatastackError as e:
    print(json.dumps({'ok': False, 'type': type(e).__name__, 'msg': str(e)}))
'''


@pytest.mark.parametrize('extra', [0, 1, 50_000, 2_000_000, 4_000_000 + 10, 'cd', 'eocd'])
def test_full_disk_append(base, tmp_path, extra):
    "A file-size limit hit anywhere in an append: clear DatastackError, file byte-identical."
    path0, hashes, arrays = base
    f = tmp_path / 'full.datastack'
    f.write_bytes(path0.read_bytes())
    size0 = f.stat().st_size
    if extra in ('cd', 'eocd'):    # limit inside the central directory / inside the EOCD
        g = tmp_path / 'probe.datastack'; g.write_bytes(f.read_bytes())
        with ZipAppender(g) as za:
            for i in range(40): za.add(f'new/c/{i}', bytes([i]) * 100_000)
            cd_off = za._pos
        end = g.stat().st_size
        limit = cd_off + 100 if extra == 'cd' else end - 3
    else: limit = size0 + extra
    before = f.read_bytes()
    p = subprocess.run([sys.executable, '-c', LIMIT_CHILD, str(f), str(limit), 'append'],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert not res['ok'] and res['type'] == 'DatastackError'
    assert str(f) in res['msg'] and 'unchanged' in res['msg'] and 'larger than allowed' in res['msg'], res['msg']
    assert f.read_bytes() == before
    RESULTS.setdefault('full_disk_cases', 0); RESULTS['full_disk_cases'] += 1


@pytest.mark.parametrize('mode', ['new', 'overwrite'])
def test_full_disk_new_zip(base, tmp_path, mode):
    "A conversion/repack (new_zip) that runs out of space leaves no temp file and the target as it was."
    path0, hashes, arrays = base
    d = tmp_path / 'out'; d.mkdir()
    f = d / 'scan.datastack'
    if mode == 'overwrite': f.write_bytes(path0.read_bytes())
    before = f.read_bytes() if f.exists() else None
    p = subprocess.run([sys.executable, '-c', LIMIT_CHILD, str(f), str(1_000_000), mode],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert not res['ok'] and res['type'] == 'DatastackError', res
    assert (f.read_bytes() if f.exists() else None) == before
    assert os.listdir(d) == (['scan.datastack'] if before else [])


# ---------------------------------------------------------------- killed conversion (new_zip)

NEWZIP_CHILD = CHILD_PRELUDE + r'''
import maxrf4u.zipstack as zs
path, kill_after, overwrite = sys.argv[1], int(sys.argv[2]), sys.argv[3] == '1'
arm(kill_after)
with zs.new_zip(path, overwrite=overwrite) as za:
    za.add('zarr.json', b'{"zarr_format": 3, "node_type": "group", "attributes": {}}')
    for i in range(30): za.add(f'x/c/{i}', bytes([i]) * 200_000)
'''


def test_kill_during_new_zip(base, tmp_path):
    "kill -9 during new_zip: no target (or the old one untouched); the next new_zip removes the temp file."
    path0, hashes, arrays = base
    T = 30 * (30 + 6 + 200_000) + 200     # roughly the bytes written; points spread over it
    for i, kb in enumerate([int(T * k / 8) for k in range(8)]):
        d = tmp_path / f'd{i}'; d.mkdir()
        f = d / 'scan.datastack'
        overwrite = i % 2 == 1
        if overwrite: f.write_bytes(path0.read_bytes())
        before = f.read_bytes() if overwrite else None
        p = subprocess.run([sys.executable, '-c', NEWZIP_CHILD, str(f), str(kb), '1' if overwrite else '0'],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == -signal.SIGKILL, p.stderr
        assert (f.read_bytes() if f.exists() else None) == before
        assert [x for x in os.listdir(d) if x.endswith('.partial')]      # the dead writer's temp file
        with new_zip(d / 'other.datastack') as za: za.add('zarr.json', b'{}')
        assert not [x for x in os.listdir(d) if x.endswith('.partial')]  # cleaned by the next write


# ---------------------------------------------------------------- concurrency

CONC_CHILD = r'''
import sys, time
import maxrf4u.zipstack as zs
path, prefix = sys.argv[1], sys.argv[2]
with zs.ZipAppender(path) as za:
    for i in range(40): za.add(f'{prefix}/c/{i}', bytes([i]) * 500_000)
    time.sleep(0.2)
print('ok')
'''


def test_concurrent_appends_and_reader(base, tmp_path):
    "Two processes append at once: both succeed (lock); a reader opened before reads correctly throughout."
    path0, hashes, arrays = base
    f = tmp_path / 'c.datastack'
    f.write_bytes(path0.read_bytes())
    r = ZipStoreReader(f)
    procs = [subprocess.Popen([sys.executable, '-c', CONC_CHILD, str(f), pre], stdout=subprocess.PIPE, text=True)
             for pre in ('a', 'b')]
    reads = 0
    while any(p.poll() is None for p in procs):
        for k, h in hashes.items(): assert sha(r.read_range(k)) == h
        assert np.array_equal(zarr.open_group(r, mode='r')['maxrf_cube'][:], arrays['maxrf_cube'])
        reads += 1
    assert all(p.wait() == 0 for p in procs)
    for k, h in hashes.items(): assert sha(r.read_range(k)) == h
    r2 = ZipStoreReader(f)
    for pre in ('a', 'b'):
        for i in range(40): assert r2.read_range(f'{pre}/c/{i}') == bytes([i]) * 500_000
    with zipfile.ZipFile(f) as zf: assert zf.testzip() is None
    RESULTS['concurrent_reader_passes'] = reads


# ---------------------------------------------------------------- zip64 (slow)

def zarr_meta(name, shape, chunks, dtype='uint8'):
    "zarr.json of an uncompressed array, written by zarr itself."
    s = zarr.storage.MemoryStore()
    zarr.create_array(s, name=name, shape=shape, chunks=chunks, dtype=dtype, compressors=None, fill_value=0)
    return {k: v.to_bytes() for k, v in s._store_dict.items() if k.endswith('zarr.json')}


@pytest.mark.slow
def test_zip64_many_entries(tmp_path):
    "More than 65,535 entries: zipfile, plain zarr and ZipStoreReader read it."
    n = 70_000
    f = tmp_path / 'many.datastack'
    data = (np.arange(n) % 251).astype('u1')
    with new_zip(f) as za:
        for k, v in zarr_meta('a', (n,), (1,)).items(): za.add(k, v)
        for i in range(n): za.add(f'a/c/{i}', data[i:i + 1].tobytes())
    t0 = time.perf_counter(); r = ZipStoreReader(f); t_open = time.perf_counter() - t0
    assert len(r.entries) == n + 2
    with zipfile.ZipFile(f) as zf:
        assert zf.testzip() is None and len(zf.namelist()) == n + 2
    with zarr.storage.ZipStore(f, mode='r') as zs:
        assert np.array_equal(zarr.open_group(zs, mode='r')['a'][60_000:], data[60_000:])
    assert np.array_equal(zarr.open_group(r, mode='r')['a'][:], data)
    RESULTS['open_70k_entries_s'] = round(t_open, 3)


@pytest.mark.slow
def test_zip64_over_4GiB(tmp_path):
    "An entry over 4 GiB and entries after the 4 GiB offset: zipfile, plain zarr and ZipStoreReader read it."
    f = tmp_path / 'big.datastack'
    big = 4 * 1024**3 + 100 * 1024**2
    piece = bytes(64 << 20)
    small = np.arange(1000, dtype='u1').reshape(10, 100)
    with new_zip(f) as za:
        for k, v in zarr_meta('small', (10, 100), (5, 50)).items(): za.add(k, v)
        za.add('blob', (piece[:min(len(piece), big - i)] for i in range(0, big, len(piece))), size=big)
        for i in range(2):
            for j in range(2): za.add(f'small/c/{i}/{j}', np.ascontiguousarray(small[i*5:(i+1)*5, j*50:(j+1)*50]))
    try:
        r = ZipStoreReader(f)
        assert r.entries['blob'].size == big and r.entries['small/c/1/1'].data_offset > 2**32
        assert r.read_range('blob', big - 10) == bytes(10)
        assert np.array_equal(zarr.open_group(r, mode='r')['small'][:], small)
        with zipfile.ZipFile(f) as zf:
            assert zf.getinfo('blob').file_size == big
            assert zf.testzip() is None
        with zarr.storage.ZipStore(f, mode='r') as zs:
            assert np.array_equal(zarr.open_group(zs, mode='r')['small'][:], small)
        # an append after 4 GiB, then a crash-recovery walk over the >4 GiB entry
        with ZipAppender(f) as za: za.add('after', b'x' * 10)
        za = ZipAppender(f); za.add('tail', b'y' * 1000)
        ix = read_index(f)    # the tail is still uncommitted: recovery path finds 'after'
        assert 'after' in ix.entries and 'tail' not in ix.entries and ix.uncommitted_bytes > 0
        za.close()
    finally:
        f.unlink()
