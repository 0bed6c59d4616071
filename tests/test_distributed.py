"""Everything that reads or writes a `.datastack` works unchanged with a dask.distributed client active
(issue 5, "Beyond one machine"): a LocalCluster with 2 worker processes against the default scheduler.

Computations on `DataStack.read(..., compute=False)`, `max_and_sum_spectra`, `append` of a dask array,
and `raw_to_datastack` (which must write a byte-for-byte identical cube).
"""
from pathlib import Path

import numpy as np
import pytest

distributed = pytest.importorskip('distributed', reason='dask.distributed is not installed: pip install distributed')
import dask.array as da

from maxrf4u.convert import raw_to_datastack
from maxrf4u.storage import DataStack, append, max_and_sum_spectra
from maxrf4u.synthetic import write_synthetic_scan
from _helpers import entry_hashes as stored   # sha256 of every stored entry but the root zarr.json (creation time)


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    "A scan, its conversion and expected results, all made with the default (local) scheduler."
    d = tmp_path_factory.mktemp('dist')
    raw, rpl = write_synthetic_scan(d / 'scan.raw', 70, 90, 256, workers=1)
    ds_file = Path(raw_to_datastack(raw, rpl, d / 'local.datastack', verbose=False, shard=32))
    extra = da.from_array(np.random.default_rng(5).random((200, 150, 4)), chunks=(48, 64, 4))  # irregular vs. 64: rechunked
    local_append = d / 'local_append.datastack'
    local_append.write_bytes(ds_file.read_bytes())
    append(extra, 'maps_extra', local_append)
    with DataStack(ds_file) as ds:
        x = ds.read('maxrf_cube', compute=False)
        expect = dict(sum=x.sum(axis=(0, 1), dtype='f8').compute(),
                      mapped=x.map_blocks(lambda b: (b * 2 + 1).astype('f4')).max(axis=-1).compute(),
                      cube=ds.read('maxrf_cube'))
    return dict(dir=d, raw=raw, rpl=rpl, ds=ds_file, extra=extra, local_append=local_append,
                expect=expect, spectra=max_and_sum_spectra(ds_file))


@pytest.fixture(scope='module')
def client(tmp_path_factory):
    import dask
    from distributed import Client, LocalCluster
    # the scratch folders of scheduler and workers go to pytest's temporary folder (dask's default, a
    # dask-scratch-space folder in TMPDIR, is never removed)
    with dask.config.set({'temporary-directory': str(tmp_path_factory.mktemp('dask'))}), \
         LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as cluster, \
         Client(cluster) as c:
        yield c


def test_reads_on_worker_processes(files, client):
    "Sum over pixels and a map computed on the cluster equal the local results exactly."
    with DataStack(files['ds']) as ds, distributed.get_task_stream(client) as ts:
        x = ds.read('maxrf_cube', compute=False)
        fut = client.compute(x.sum(axis=(0, 1), dtype='f8'))          # explicitly on the cluster
        np.testing.assert_array_equal(fut.result(), files['expect']['sum'])
        got = x.map_blocks(lambda b: (b * 2 + 1).astype('f4')).max(axis=-1).compute()   # default: the client
        np.testing.assert_array_equal(got, files['expect']['mapped'])
        np.testing.assert_array_equal(x.compute(), files['expect']['cube'])
    # the reads really ran in the worker processes (both of them)
    assert {t['worker'] for t in ts.data} == set(client.scheduler_info()['workers'])


def test_max_and_sum_spectra_distributed(files, client):
    "max_and_sum_spectra with the client active equals the local result bit for bit."
    sp = max_and_sum_spectra(files['ds'])
    np.testing.assert_array_equal(sp.max, files['spectra'].max)
    np.testing.assert_array_equal(sp.sum, files['spectra'].sum)


def test_append_dask_distributed(files, client, tmp_path):
    "append of a dask array computed by the cluster: same stored bytes and values as with the default scheduler."
    f = tmp_path / 'dist_append.datastack'
    f.write_bytes(files['ds'].read_bytes())
    append(files['extra'], 'maps_extra', f)
    a, b = stored(f), stored(files['local_append'])
    # dataset metadata holds a creation time; chunks and other datasets must be identical
    meta = 'maps_extra/zarr.json'
    assert {k: v for k, v in a.items() if k != meta} == {k: v for k, v in b.items() if k != meta}
    with DataStack(f) as ds, DataStack(files['local_append']) as dl:
        np.testing.assert_array_equal(ds.read('maps_extra'), dl.read('maps_extra'))
        np.testing.assert_array_equal(ds.read('maps_extra'), files['extra'].compute(scheduler='sync'))


def test_conversion_with_client(files, client, tmp_path):
    "raw_to_datastack with a client active writes the same datasets and the same stored chunk bytes."
    out = raw_to_datastack(files['raw'], files['rpl'], tmp_path / 'dist.datastack', verbose=False, shard=32)
    assert stored(out) == stored(files['ds'])
    with DataStack(out) as ds, DataStack(files['ds']) as dl:
        assert ds.datapath_list == dl.datapath_list
        for n in ds.datapath_list: np.testing.assert_array_equal(ds.read(n), dl.read(n))
        a, b = dict(ds.attrs), dict(dl.attrs)
        a.pop('created_utc'); b.pop('created_utc')
        assert a == b
