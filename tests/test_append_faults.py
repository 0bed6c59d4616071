"""Fault injection for the storage API: `append`, `append_list`, `repack` (issue 6).

A child process (forked from a zygote that imported maxrf4u once, see `_forkkill.py`) appends a
multi-MB dask array streamed in many chunks, or a large ragged list, or repacks, and is killed with
SIGKILL after exactly N bytes (wrapper around `maxrf4u.zipstack._write`) or after a delay. After each
kill: `DataStack(path, mode='r')` opens the file without changing a byte, every earlier dataset reads
back bit-identical (sha256 of the arrays), the new dataset is absent or complete, and the next write
cleans up. Plus the read-only guarantee and bad inputs not already covered by nbs/10_storage.ipynb.
"""
import os, signal, zipfile
from pathlib import Path

import numpy as np
import dask.array as da
import pytest
import zarr

from maxrf4u.errors import DatastackError, DatasetNotFoundError, ReadOnlyError
from maxrf4u.storage import DataStack, append, append_list, repack, tree, max_and_sum_spectra
from _forkkill import Zygote
from _helpers import sha, fingerprint, partials, kill_points, kill_loop

RESULTS = {}


def arr_sha(a): a = np.asarray(a); return sha(a.dtype.str.encode() + str(a.shape).encode() + np.ascontiguousarray(a).tobytes())


def dataset_hashes(path):
    "sha256 of every dataset read through DataStack(mode='r')."
    with DataStack(path, mode='r') as ds:
        return {n: arr_sha(ds.read(n, latest=False)) for n in ds.datapath_list}


BIG = dict(shape=(384, 384, 16), chunks=(32, 32, 16), seed=7)      # 18.9 MB float64, 144 dask chunks
RAGGED = dict(rows=8_000, seed=3)


def big_array():
    return np.random.default_rng(BIG['seed']).random(BIG['shape'])


def ragged_list():
    rng = np.random.default_rng(RAGGED['seed'])
    return [rng.integers(0, 10**9, rng.integers(0, 12)).tolist() for _ in range(RAGGED['rows'])]


APPEND = r'''
import numpy as np, dask.array as da
from maxrf4u.storage import append
x = da.from_array(np.random.default_rng(args['seed']).random(tuple(args['shape'])), chunks=tuple(args['chunks']))
print('computing', flush=True)
append(x, 'maps_new', args['path'], verbose=False)
'''

APPEND_LIST = r'''
import numpy as np
from maxrf4u.storage import append_list
rng = np.random.default_rng(args['seed'])
rows = [rng.integers(0, 10**9, rng.integers(0, 12)).tolist() for _ in range(args['rows'])]
append_list(rows, 'hotmax_pixels', args['path'])
'''

REPACK = r'''
from maxrf4u.storage import repack
repack(args['path'], overwrite=args['overwrite'])
'''


@pytest.fixture(scope='module')
def base(tmp_path_factory):
    "A datastack with several earlier datasets (and two versions of one); returns (path, dataset hashes)."
    d = tmp_path_factory.mktemp('base')
    p = d / 'scan.datastack'
    s = zarr.storage.ZipStore(p, mode='w'); zarr.open_group(s, mode='w', attributes={'source': 'test'}); s.close()
    rng = np.random.default_rng(1)
    append(rng.random((40, 50, 64)).astype('f4'), 'maxrf_cube', p)
    append(rng.random(64).astype('f4'), 'maxrf_maxspectrum', p)
    append(da.from_array(rng.integers(0, 1000, (300, 200)), chunks=(64, 64)), 'maps_imvis', p)
    append(rng.random((50, 3)) > 0.5, 'mask', p)
    append_list([[1, 2, 3], [], [4]], 'hotmax_pixels', p)
    append_list([[5], [6, 7]], 'hotmax_pixels', p)          # a second version: hotmax_pixels_
    return p, dataset_hashes(p)


@pytest.fixture(scope='module')
def zygote(tmp_path_factory):
    with Zygote(tmp_path_factory.mktemp('logs')) as z: yield z


def measure(zygote, base, tmp_path, code, args):
    "Run `code` to completion on a copy of the base file; return (bytes it appended, seconds, hashes after)."
    path0, _ = base
    f = tmp_path / 'measure.datastack'
    f.write_bytes(path0.read_bytes())
    res = zygote.run(code, {**args, 'path': str(f)})
    assert res['exit'] == 0, res['log']
    out = f.stat().st_size - path0.stat().st_size, res['seconds'], dataset_hashes(f)
    f.unlink()
    return out


def check_after_kill(path, before, complete_hashes, new_name, next_write=True):
    "Verify the file after a kill; return 'absent' or 'complete'."
    fp = fingerprint(path)
    got = dataset_hashes(path)                               # opens with mode='r'
    assert fingerprint(path) == fp, 'DataStack(mode="r") changed the file'
    for n, h in before.items(): assert got.get(n) == h, f'earlier dataset {n} changed'
    extra = set(got) - set(before)
    if not extra: outcome = 'absent'
    else:
        assert extra == {new_name}, extra
        assert got[new_name] == complete_hashes[new_name], 'new dataset present but not complete'
        outcome = 'complete'
    if not next_write: return outcome
    # the next write cleans up the interrupted tail and works
    name = append(np.arange(5), 'after_crash', path)
    after = dataset_hashes(path)
    for n, h in got.items(): assert after[n] == h
    assert after[name] == arr_sha(np.arange(5))
    with zipfile.ZipFile(path) as zf: assert zf.testzip() is None
    return outcome


def campaign(zygote, base, tmp_path, code, args, new_name, n_points, n_timed):
    path0, before = base
    T, secs, complete = measure(zygote, base, tmp_path, code, args)
    assert new_name in complete
    points = kill_points(T, n_points, {T - 23, T - 22, T - 1, T})

    def kill_bytes(f, kb):
        res = zygote.run(code, {**args, 'path': str(f)}, kill_after=kb, grace=0)
        assert res['signal'] == signal.SIGKILL, (kb, res)

    def kill_timed(f, j): zygote.run(code, {**args, 'path': str(f)}, kill_at_s=secs * (j + 0.5) / n_timed, grace=0)

    def check(f, kb, i):   # the next write is tried after a third of the byte kills and after every timed one
        return check_after_kill(f, before, complete, new_name, next_write=kb is None or i % 3 == 0 or kb >= T - 23)

    outcomes = kill_loop(path0, tmp_path, T, points, n_timed, kill_bytes, kill_timed, check)
    return dict(transaction_bytes=T, byte_kill_points=len(points), timed_kills=n_timed, outcomes=outcomes, data_lost=0)


def test_kill_during_append(zygote, base, tmp_path):
    "SIGKILL at >= 20 moments of an append of an 18.9 MB dask array (144 chunks): nothing earlier lost."
    c = campaign(zygote, base, tmp_path, APPEND, BIG, 'maps_new', n_points=20, n_timed=3)
    RESULTS['append'] = c; print(c)
    assert c['byte_kill_points'] >= 20


def test_kill_during_append_list(zygote, base, tmp_path):
    "SIGKILL at >= 20 moments of append_list of a 8,000-row ragged list (a new version of an existing name)."
    c = campaign(zygote, base, tmp_path, APPEND_LIST, RAGGED, 'hotmax_pixels__', n_points=20, n_timed=2)
    RESULTS['append_list'] = c; print(c)
    assert c['byte_kill_points'] >= 20


@pytest.mark.slow
def test_kill_during_append_many(zygote, base, tmp_path):
    "50 byte-exact + 10 timed kill points of the large append."
    RESULTS['append_slow'] = campaign(zygote, base, tmp_path, APPEND, BIG, 'maps_new', n_points=50, n_timed=10)


@pytest.mark.parametrize('overwrite', [True, False])
def test_kill_during_repack(zygote, base, tmp_path, overwrite):
    "An interrupted repack leaves the original untouched (and no *_repacked file); the next repack cleans up."
    path0, before = base
    d = tmp_path / 'rp'; d.mkdir()
    f = d / 'scan.datastack'
    f.write_bytes(path0.read_bytes())
    fp = fingerprint(f)
    ref = d / 'ref.datastack'; ref.write_bytes(path0.read_bytes())
    out = repack(ref, overwrite=True)
    T, expected = Path(out).stat().st_size, dataset_hashes(out)
    ref.unlink()
    points = kill_points(T, 10, {T - 1, T})
    for kb in points:
        res = zygote.run(REPACK, {'path': str(f), 'overwrite': overwrite}, kill_after=kb, grace=0)
        assert res['signal'] == signal.SIGKILL, (kb, res)
        assert fingerprint(f) == fp, f'original changed by a repack killed at byte {kb}'
        assert dataset_hashes(f) == before
        assert sorted(os.listdir(d)) == sorted(['scan.datastack'] + partials(d)) and len(partials(d)) == 1
    out = repack(f, overwrite=overwrite)
    assert partials(d) == [] and dataset_hashes(out) == expected
    RESULTS[f'repack_overwrite={overwrite}'] = dict(byte_kill_points=len(points), data_lost=0)


# ---------------------------------------------------------------- read-only guarantee

def test_read_only_never_changes_the_file(base, tmp_path, capsys):
    "Open mode='r', read everything (datasets, lists, attrs, spectra, maps, tree, repr), close: bytes and mtime unchanged."
    path0, before = base
    f = tmp_path / 'ro.datastack'
    f.write_bytes(path0.read_bytes())
    os.utime(f, ns=(1_000_000_000, 1_000_000_000))       # a known old mtime (and atime)
    fp = fingerprint(f)
    ds = DataStack(f, mode='r', verbose=True)
    for n in ds.datapath_list:
        ds.read(n, latest=False); ds.read(n, latest=False, compute=False).sum().compute(); ds.dataset_attrs(n, latest=False)
    ds.read_list('hotmax_pixels'); ds.attrs; repr(ds); ds._repr_html_(); ds.tree()
    ds.spectrum(3, 4, size=3); ds.channel_map(0, 10); ds.maxrf_cube
    ds.close()
    tree(f, show_arrays=True)
    max_and_sum_spectra(f)
    assert fingerprint(f) == fp


def test_read_only_on_crashed_file(zygote, base, tmp_path):
    "A file left mid-append: mode='r' reads the committed state and changes no byte (mtime too)."
    path0, before = base
    f = tmp_path / 'crashed.datastack'
    f.write_bytes(path0.read_bytes())
    res = zygote.run(APPEND, {**BIG, 'path': str(f)}, kill_after=5_000_000, grace=0)
    assert res['signal'] == signal.SIGKILL
    assert f.stat().st_size > path0.stat().st_size            # an uncommitted tail is there
    fp = fingerprint(f)
    with DataStack(f, mode='r') as ds:
        assert {n: arr_sha(ds.read(n, latest=False)) for n in ds.datapath_list} == before
    max_and_sum_spectra(f)
    assert fingerprint(f) == fp


# ---------------------------------------------------------------- bad inputs (not in nbs/10_storage.ipynb)

def _bad_inputs(p, tmp):
    "(description, call, expected exception type, file that must be named and unchanged)."
    missing = tmp / 'missing.datastack'
    empty = tmp / 'empty.datastack'; empty.write_bytes(b'')
    folder = tmp / 'folder.datastack'; folder.mkdir(exist_ok=True)
    badjson = tmp / 'badjson.datastack'
    with zipfile.ZipFile(badjson, 'w') as z: z.writestr('zarr.json', b'{not json'); z.writestr('a/zarr.json', b'[]')
    closed = DataStack(p); closed.close()
    return [
        ('attrs not JSON-serialisable', lambda: append(np.ones(2), 'x', p, attrs={'f': object()}), DatastackError, p),
        ('dask complex array', lambda: append(da.ones(4, dtype=complex), 'x', p), DatastackError, p),
        ('dask object array', lambda: append(da.from_array(np.array(['a', 1], dtype=object), chunks=1), 'x', p), DatastackError, p),
        ('dask 0-d array', lambda: append(da.from_array(np.array(3.0)), 'x', p), DatastackError, p),
        ('datetime64 array', lambda: append(np.array(['2024-01-01'], dtype='M8[D]'), 'x', p), DatastackError, p),
        ('structured array', lambda: append(np.zeros(3, dtype=[('a', 'i4'), ('b', 'f4')]), 'x', p), DatastackError, p),
        ('bytes array', lambda: append(np.array([b'ab']), 'x', p), DatastackError, p),
        ('name zarr.json', lambda: append(np.ones(2), 'zarr.json', p), DatastackError, p),
        ("name '..'", lambda: append(np.ones(2), '..', p), DatastackError, p),
        ('name bytes', lambda: append(np.ones(2), b'x', p), DatastackError, p),
        ('append_list float padding', lambda: append_list([[1]], 'x', p, nan=1.5), DatastackError, p),
        ('append_list value > int64', lambda: append_list([[2**70]], 'x', p), DatastackError, p),
        ('append_list numpy 2-d row item', lambda: append_list([[np.array([1, 2])]], 'x', p), DatastackError, p),
        ('append_list numpy float', lambda: append_list([[np.float64(1.0)]], 'x', p), DatastackError, p),
        ('append_list dict', lambda: append_list({'a': [1]}, 'x', p), DatastackError, p),
        ('append_list None', lambda: append_list(None, 'x', p), DatastackError, p),
        ('read_list missing', lambda: DataStack(p).read_list('nothing'), DatasetNotFoundError, p),
        ('dataset_attrs missing', lambda: DataStack(p).dataset_attrs('nothing'), DatasetNotFoundError, p),
        ('spectrum missing dataset', lambda: DataStack(p).spectrum(0, 0, datapath='nothing'), DatasetNotFoundError, p),
        ('channel_map missing dataset', lambda: DataStack(p).channel_map(0, 1, datapath='nothing'), DatasetNotFoundError, p),
        ('max_and_sum_spectra missing', lambda: max_and_sum_spectra(p, 'nothing'), DatasetNotFoundError, p),
        ('read on closed DataStack', lambda: closed.read('maxrf_cube'), DatastackError, p),
        ('read_list of a float dataset', lambda: DataStack(p).read_list('maxrf_cube'), DatastackError, p),
        ('repack select not a list', lambda: repack(p, select=5), DatastackError, p),
        ('repack select with bad name', lambda: repack(p, select=['a/b']), DatastackError, p),
        ('read-only append of dask', lambda: DataStack(p).append(da.ones(3), 'x'), ReadOnlyError, p),
        ('append_list missing file', lambda: append_list([[1]], 'x', missing), FileNotFoundError, missing),
        ('repack missing file', lambda: repack(missing), FileNotFoundError, missing),
        ('tree missing file', lambda: tree(missing), FileNotFoundError, missing),
        ('max_and_sum_spectra missing file', lambda: max_and_sum_spectra(missing), FileNotFoundError, missing),
        ('empty file: DataStack', lambda: DataStack(empty), DatastackError, empty),
        ('empty file: append', lambda: append(np.ones(2), 'x', empty), DatastackError, empty),
        ('folder as datastack: DataStack', lambda: DataStack(folder), (DatastackError, FileNotFoundError, IsADirectoryError), folder),
        ('folder as datastack: append', lambda: append(np.ones(2), 'x', folder), (DatastackError, FileNotFoundError, IsADirectoryError), folder),
        ('zip with broken zarr.json: DataStack', lambda: DataStack(badjson), DatastackError, badjson),
        ('zip with broken zarr.json: append', lambda: append(np.ones(2), 'x', badjson), DatastackError, badjson),
    ]


def _state(path):
    path = Path(path)
    if path.is_dir(): return sorted(os.listdir(path))
    return fingerprint(path)


def test_bad_inputs(base, tmp_path):
    "Each bad input: the documented exception type, a message naming the file, the file byte-identical."
    path0, before = base
    p = tmp_path / 'bad.datastack'
    p.write_bytes(path0.read_bytes())
    cases = _bad_inputs(p, tmp_path)
    failures = []
    for desc, call, exc, f in cases:
        st = _state(f)
        listing = sorted(os.listdir(tmp_path))
        try:
            call(); failures.append(f'{desc}: no error')
        except exc as e:
            if f.name not in str(e): failures.append(f'{desc}: message does not name {f.name}: {str(e)!r}')
        except Exception as e:
            failures.append(f'{desc}: {type(e).__name__}: {e} (expected {exc})')
        if _state(f) != st: failures.append(f'{desc}: file changed')
        if sorted(os.listdir(tmp_path)) != listing: failures.append(f'{desc}: files in folder changed')
    assert dataset_hashes(p) == before
    RESULTS['bad_inputs_tried'] = len(cases)
    RESULTS['bad_inputs_failing'] = len(failures)
    print(f'{len(cases)} bad inputs tried, {len(failures)} failing')
    assert not failures, '\n'.join(failures)
