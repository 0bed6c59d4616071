#!/usr/bin/env python3
"""Generate README.md from nbs/index.ipynb without Quarto.

    python .ci/make_readme.py           # write README.md
    python .ci/make_readme.py --check   # fail if README.md is not what nbs/index.ipynb gives

nbconvert renders the notebook to Markdown; links and images that are relative to nbs/ (so that
they work in Jupyter and on the docs site) get the `nbs/` prefix so that they work on GitHub too.
As on the docs site, cells marked `#| hide` are left out, other `#|` lines are removed from the
code shown, and `#| output: false` drops a cell's outputs (its code still runs in the tests).
"""
import json, re, subprocess, sys, tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_cells(nb):
    "The cells of notebook dict `nb` as the README shows them: hidden ones dropped, directives removed."
    cells = []
    for c in nb['cells']:
        src = ''.join(c['source'])
        directives = [l.strip() for l in src.splitlines() if l.startswith('#|')]
        if c['cell_type'] == 'code' and any(d.split()[1:2] == ['hide'] for d in directives): continue
        if c['cell_type'] == 'code':
            c['source'] = '\n'.join(l for l in src.splitlines() if not l.startswith('#|'))
            if any(re.match(r'#\|\s*output:\s*false', d) for d in directives): c['outputs'] = []
        cells.append(c)
    return {**nb, 'cells': cells, 'metadata': {**nb.get('metadata', {}), 'language_info': {'name': 'python'}}}  # code blocks as ```python


def readme_text():
    "README.md content rendered from nbs/index.ipynb."
    with tempfile.TemporaryDirectory() as d:
        nb = readme_cells(json.loads((ROOT / 'nbs' / 'index.ipynb').read_text(encoding='utf-8')))
        (Path(d) / 'index.ipynb').write_text(json.dumps(nb), encoding='utf-8')
        subprocess.run([sys.executable, '-m', 'nbconvert', '--to', 'markdown', str(Path(d) / 'index.ipynb'),
                        '--output-dir', d, '--output', 'README'], check=True, capture_output=True)
        if any(p.is_dir() for p in Path(d).iterdir() if p.name != '__pycache__'):
            sys.exit('make_readme: index.ipynb has image outputs; show pictures as files in nbs/images/ instead')
        md = (Path(d) / 'README.md').read_text(encoding='utf-8')
    # relative link or image target (not http:, mailto:, #anchor, or absolute) -> prefixed with nbs/
    md = re.sub(r'(!?\[[^\]]*\]\()(?![a-z]+:|#|/)([^)\s]+)', r'\1nbs/\2', md)
    return '<!-- generated from nbs/index.ipynb by .ci/make_readme.py: edit the notebook, not this file -->\n\n' \
        + md.strip() + '\n'


def main(argv):
    text = readme_text()
    readme = ROOT / 'README.md'
    if '--check' in argv:
        if readme.read_text(encoding='utf-8') != text:
            print('README.md is out of date: run python .ci/make_readme.py', file=sys.stderr)
            return 1
        print('README.md matches nbs/index.ipynb')
        return 0
    readme.write_text(text, encoding='utf-8')
    print(f'Wrote {readme}')
    return 0


if __name__ == '__main__': sys.exit(main(sys.argv[1:]))
