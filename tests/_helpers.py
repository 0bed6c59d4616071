"""Helpers shared by the test suites: hashes and fingerprints of files, the temporary files a writer
leaves, and the loop of a kill campaign (kill a writer at many byte counts and moments, check the file
after each kill)."""
import hashlib, os
from pathlib import Path

TESTS = str(Path(__file__).resolve().parent)
# first lines of a child-process script: import the test-only kill point (see _killpoint.py)
CHILD_PRELUDE = f"import sys; sys.path.insert(0, {TESTS!r})\nfrom _killpoint import arm\n"


def sha(b):
    "sha256 of bytes, as hex."
    return hashlib.sha256(b).hexdigest()


def fingerprint(path):
    "Bytes hash, size and mtime of `path` (None if absent)."
    p = Path(path)
    if not p.exists(): return None
    st = p.stat()
    return sha(p.read_bytes()), st.st_size, st.st_mtime_ns


def partials(folder):
    "Names of the temporary `.partial` files of datastack writers in `folder`."
    return sorted(x for x in os.listdir(folder) if x.endswith('.partial'))


def entry_hashes(path, skip=('zarr.json',)):
    "sha256 of every stored entry of a datastack except `skip` (the root zarr.json holds the creation time)."
    from maxrf4u.zipstack import ZipStoreReader
    r = ZipStoreReader(path)
    try: return {k: sha(r.read_range(k)) for k in r.entries if k not in skip}
    finally: r.close()


def kill_points(T, n_points, edges=()):
    "`n_points` byte counts spread over a transaction of `T` bytes, plus the `edges` (moments near its end)."
    return sorted({int(T * k / n_points) for k in range(n_points)} | set(edges))


def kill_loop(base_file, folder, T, points, n_timed, kill_bytes, kill_timed, check):
    """For each byte count `kb` in `points`, then `n_timed` times: copy `base_file` into `folder`, run a writer
    on the copy that is killed there (`kill_bytes(file, kb)`, `kill_timed(file, j)`), and verify the copy with
    `check(file, kb, i)` (kb is None for timed kills), which returns 'absent' or 'complete'. A byte kill must
    leave the transaction of `T` bytes complete exactly when it came after its last byte.
    Returns the count of each outcome."""
    outcomes = {'absent': 0, 'complete': 0}
    runs = [(f'k{i}', i, kb) for i, kb in enumerate(points)] + [(f't{j}', j, None) for j in range(n_timed)]
    for name, i, kb in runs:
        f = Path(folder) / f'{name}.datastack'
        f.write_bytes(Path(base_file).read_bytes())
        if kb is None: kill_timed(f, i)
        else: kill_bytes(f, kb)
        out = check(f, kb, i)
        if kb is not None: assert out == ('complete' if kb >= T else 'absent'), (kb, T, out)
        outcomes[out] += 1
        f.unlink()
    return outcomes
