"Property tests: ragged lists of integers survive append_list -> read_list exactly; bad ones are refused."
import zarr, pytest
from hypothesis import given, settings, strategies as st, HealthCheck
from maxrf4u.storage import append_list, DataStack
from maxrf4u.errors import DatastackError

I64 = st.integers(-2**63, 2**63 - 1)

@pytest.fixture(scope='module')
def datastack(tmp_path_factory):
    "An empty datastack (a zip holding only the root zarr group) in pytest's temporary folder."
    p = tmp_path_factory.mktemp('props') / 'props.datastack'
    s = zarr.storage.ZipStore(p, mode='w'); zarr.open_group(s, mode='w'); s.close()
    return p

@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(nan=I64, rows=st.lists(st.lists(I64, max_size=6), max_size=6))
def test_round_trip(datastack, nan, rows):
    rows = [[v for v in r if v != nan] for r in rows]  # the padding value itself is refused (tested below)
    name = append_list(rows, 'ragged', datastack, nan=nan)
    with DataStack(datastack) as ds:
        back = ds.read_list(name, latest=False)
    assert back == rows and all(type(v) is int for r in back for v in r)

@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(st.one_of(I64, st.floats(), st.booleans(), st.lists(I64, max_size=2), st.text(max_size=2)),
                              max_size=4), min_size=1, max_size=4))
def test_bad_values_refused_and_file_unchanged(datastack, rows):
    ok = all(isinstance(v, int) and not isinstance(v, bool) and v != -9999 for r in rows for v in r)
    before = datastack.read_bytes()
    if ok:
        assert append_list(rows, 'mixed', datastack).startswith('mixed')
    else:
        with pytest.raises(DatastackError, match='props.datastack'):
            append_list(rows, 'mixed', datastack)
        assert datastack.read_bytes() == before
