"""Every way a user can start Python runs conversion, preview, repack and the synthetic-scan writer with
worker processes: a plain script without a main guard, `python -c`, `python - < script`, IPython,
a Jupyter kernel, a thread, and a dask.distributed worker process (daemonic)."""
import os, sys, subprocess, textwrap, threading
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent

# no `if __name__ == '__main__':` guard, on purpose: users' scripts rarely have one
SCRIPT = textwrap.dedent('''
    import os
    from maxrf4u import raw_to_datastack, make_raw_preview, repack
    from maxrf4u.synthetic import write_synthetic_scan
    d = os.environ['WAYS_IN_DIR']
    raw, rpl = write_synthetic_scan(os.path.join(d, 'scan.raw'), 40, 50, 4096, workers=2)  # 4 blocks: 2 workers
    make_raw_preview(raw, rpl, workers=2)
    out = raw_to_datastack(raw, rpl, workers=2, verbose=False, shard=16, inner=(8, 16))
    repack(out)
    print('WAYS-IN-OK', flush=True)
''')


def _env(d):
    return {**os.environ, 'WAYS_IN_DIR': str(d), 'PYTHONPATH': os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')]),
            'MPLBACKEND': 'Agg'}


def _check(d, stdout):
    assert 'WAYS-IN-OK' in stdout, stdout
    for name in ('scan.raw', 'scan.rpl', 'scan.raw_preview.png', 'scan.datastack'): assert (d / name).stat().st_size > 0, name
    from maxrf4u.storage import DataStack
    with DataStack(d / 'scan.datastack') as ds: assert ds.read('maxrf_cube', compute=False).shape == (40, 50, 4096)


def _run(args, d, **kw):
    p = subprocess.run(args, capture_output=True, text=True, env=_env(d), timeout=300, **kw)
    assert p.returncode == 0, p.stderr[-3000:]
    return p.stdout


def test_unguarded_script(tmp_path):
    f = tmp_path / 'convert_all.py'; f.write_text(SCRIPT)
    _check(tmp_path, _run([sys.executable, str(f)], tmp_path))


def test_python_c(tmp_path):
    _check(tmp_path, _run([sys.executable, '-c', SCRIPT], tmp_path))


def test_python_stdin(tmp_path):
    _check(tmp_path, _run([sys.executable, '-'], tmp_path, input=SCRIPT))


def test_ipython(tmp_path):
    pytest.importorskip('IPython')
    _check(tmp_path, _run([sys.executable, '-m', 'IPython', '--no-banner', '-c', SCRIPT], tmp_path))


def test_jupyter_kernel(tmp_path):
    "The script as the one cell of a notebook, run by a real Jupyter kernel (nbclient + ipykernel)."
    nbformat, nbclient = pytest.importorskip('nbformat'), pytest.importorskip('nbclient')
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(SCRIPT)])
    old = dict(os.environ)
    os.environ.update(_env(tmp_path))  # the kernel inherits this process's environment
    try: nbclient.NotebookClient(nb, timeout=300, kernel_name='python3', resources={'metadata': {'path': str(tmp_path)}}).execute()
    finally: os.environ.clear(); os.environ.update(old)
    out = ''.join(o.get('text', '') for o in nb.cells[0].outputs if o.get('output_type') == 'stream')
    _check(tmp_path, out)


def test_thread(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv('WAYS_IN_DIR', str(tmp_path))
    errors = []
    def run():
        try: exec(SCRIPT, {'__name__': 'not_main'})
        except BaseException as e: errors.append(e)
    t = threading.Thread(target=run); t.start(); t.join(300)
    assert not errors, errors
    _check(tmp_path, capsys.readouterr().out)


def _on_worker(d):
    "Runs inside a dask.distributed worker process (daemonic)."
    import multiprocessing, io, contextlib
    os.environ['WAYS_IN_DIR'] = d
    out = io.StringIO()
    with contextlib.redirect_stdout(out): exec(SCRIPT, {'__name__': 'not_main'})
    return multiprocessing.current_process().daemon, out.getvalue()


def test_dask_worker(tmp_path):
    distributed = pytest.importorskip('distributed')
    import logging
    import dask
    with dask.config.set({'temporary-directory': str(tmp_path)}), \
         distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=logging.CRITICAL) as cl, distributed.Client(cl) as client:
        daemonic, out = client.submit(_on_worker, str(tmp_path), pure=False).result(timeout=300)
    assert daemonic, 'the dask worker was expected to be a daemonic process'
    _check(tmp_path, out)
