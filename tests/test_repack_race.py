"""`repack` replacing a file while another process appends to it in a loop: every dataset that `append`
returned is in the final file, with its data (issue: the snapshot was taken before the lock)."""
import os, sys, subprocess, textwrap, time
from pathlib import Path
import numpy as np
from maxrf4u.storage import DataStack, append, repack
from maxrf4u.convert import raw_to_datastack
from maxrf4u.synthetic import write_synthetic_scan

ROOT = Path(__file__).resolve().parent.parent
APPENDER = textwrap.dedent('''
    import sys, numpy as np
    from maxrf4u.storage import append
    path, n = sys.argv[1], int(sys.argv[2])
    for k in range(n):
        name = append(np.full(16, k, 'i4'), f'item{k:04d}', path)
        print(name, k, flush=True)
''')


def test_appends_survive_concurrent_repacks(tmp_path):
    raw, rpl = write_synthetic_scan(tmp_path / 's.raw', 20, 24, 128, workers=1)
    path = raw_to_datastack(raw, rpl, verbose=False, shard=16, inner=(8, 16), workers=1)
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')])}
    p = subprocess.Popen([sys.executable, '-c', APPENDER, path, '150'], stdout=subprocess.PIPE, text=True, env=env)
    repacks = 0
    while p.poll() is None:
        repack(path); repacks += 1
    out, _ = p.communicate()
    assert p.returncode == 0
    written = [line.split() for line in out.splitlines()]
    assert len(written) == 150 and repacks >= 5, (len(written), repacks)
    with DataStack(path) as ds:
        for name, k in written:
            base = name.rstrip('_')   # a repack renames a version to its base name
            assert base in ds.datapath_list, f'{name} was appended, then lost ({repacks} repacks)'
            assert (ds.read(base) == int(k)).all()
