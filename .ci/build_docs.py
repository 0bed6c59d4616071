#!/usr/bin/env python3
"""Build the documentation site in `_docs/` without Quarto.

    python .ci/build_docs.py            # build _docs/index.html and one page per notebook
    python .ci/build_docs.py --check    # ... and fail unless every page exists and shows its API entries

Steps: nbdev's own notebook processing (`nbdev.serve.proc_nbs`, what `nbdev_docs` runs before
Quarto: front matter, `show_doc` for every exported name, links between pages) writes `_proc/`;
then nbconvert renders each processed notebook, with the outputs kept in it, to HTML, and this
script adds a sidebar linking all pages. Quarto-only markup (attribute braces, fenced divs, cell
options) is translated or removed on the way. On GitHub the deploy workflow uses Quarto instead.
"""
import argparse, base64, html, importlib, json, mimetypes, re, shutil, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIRECTIVE = re.compile(r'^\s*#\|\s*([\w-]+)\s*:?\s*(.*?)\s*$')


def cfg():
    "The [DEFAULT] section of settings.ini."
    from configparser import ConfigParser
    c = ConfigParser(delimiters=['=']); c.read(ROOT / 'settings.ini', encoding='utf-8')
    return c['DEFAULT']


def process_notebooks(n_workers=2):
    "Run nbdev's docs processors over nbs/ into _proc/ (same as the first half of nbdev_docs)."
    from nbdev.serve import proc_nbs
    return Path(proc_nbs(n_workers=n_workers, force=True))


def frontmatter(nb):
    "Front matter dict from the raw YAML cell nbdev puts first."
    import yaml
    for c in nb['cells']:
        src = ''.join(c['source'])
        if c['cell_type'] == 'raw' and src.strip().startswith('---'):
            return yaml.safe_load(src.strip().strip('-')) or {}
    return {}


def clean_md(s):
    "Markdown with the Quarto/pandoc-only syntax removed: attribute braces, fenced divs."
    s = re.sub(r'(\]\([^)]*\))\{[^}]*\}', r'\1', s)           # [text](url){target=...}
    s = re.sub(r'^(#+ .*?)\s*\{[^}]*\}\s*$', r'\1', s, flags=re.M)  # ## Heading {.unnumbered}
    s = re.sub(r'^:::+.*$', '', s, flags=re.M)                 # ::: {.callout} ... :::
    return s


def prepare(nb):
    "Turn nbdev's processed notebook into one nbconvert renders the way Quarto would."
    import nbformat
    fm, cells = frontmatter(nb), []
    title, desc = fm.get('title'), fm.get('description')
    if title:
        head = f"# {title}" + (f"\n\n> {desc}" if desc else '')
        cells.append(nbformat.v4.new_markdown_cell(head, id='mx-title'))
    for c in nb['cells']:
        src = ''.join(c['source'])
        if c['cell_type'] == 'raw': continue
        if c['cell_type'] == 'markdown':
            c['source'] = clean_md(src); cells.append(c); continue
        opts, body = {}, []
        for line in src.splitlines():
            m = DIRECTIVE.match(line)
            if m: opts[m.group(1).lower()] = m.group(2).lower()
            else: body.append(line)
        if opts.get('include') == 'false' or 'hide' in opts: continue
        tags = c.setdefault('metadata', {}).setdefault('tags', [])
        if opts.get('echo') == 'false' or not ''.join(body).strip(): tags.append('remove_input')
        if opts.get('output') == 'false': tags.append('remove_output')
        c['source'] = '\n'.join(body)
        for o in c.get('outputs', []):
            md = o.get('data', {}).get('text/markdown')
            if md is not None: o['data']['text/markdown'] = clean_md(''.join(md))
            if 'text/markdown' in o.get('data', {}) and 'text/html' not in o['data']:
                o['data'].pop('text/plain', None)  # render the markdown, not its repr
        cells.append(c)
    nb['cells'] = cells
    return nb, fm


STYLE = """
<style>
body { margin: 0; }
#mx-nav { position: fixed; top: 0; left: 0; bottom: 0; width: 230px; overflow-y: auto; padding: 18px 14px;
  background: #f6f7f9; border-right: 1px solid #ddd; font: 14px/1.5 system-ui, sans-serif; box-sizing: border-box; }
#mx-nav a { display: block; padding: 3px 6px; color: #24292f; text-decoration: none; border-radius: 4px; }
#mx-nav a:hover { background: #e6e9ee; } #mx-nav a.current { background: #dbe4f3; font-weight: 600; }
#mx-nav .mx-title { font-weight: 700; font-size: 17px; margin-bottom: 10px; }
main.mx-main { margin-left: 250px; max-width: 980px; padding: 10px 20px 60px; }
main.mx-main img { max-width: 100%; }
main.mx-main .jp-RenderedMarkdown pre { background: #f6f8fa; padding: 8px 10px; border-radius: 4px; margin: 0 0 1em; }
</style>
"""


def nav_html(pages, current):
    links = '\n'.join(f'<a href="{f}"{" class=current" if f == current else ""}>{html.escape(t)}</a>'
                      for f, t in pages)
    return f'<nav id="mx-nav"><div class="mx-title">{html.escape(cfg()["lib_name"])}</div>\n{links}</nav>'


def embed_local_images(page, base):
    "Inline <img src='relative.png'> as data URIs so a page is one self-contained file."
    def repl(m):
        src = m.group(2)
        p = base / src
        if re.match(r'^(data:|https?:)', src) or not p.is_file(): return m.group(0)
        mime = mimetypes.guess_type(p.name)[0] or 'image/png'
        return f'{m.group(1)}data:{mime};base64,{base64.b64encode(p.read_bytes()).decode()}{m.group(3)}'
    return re.sub(r'(<img[^>]*?src=")([^"]+)(")', repl, page)


def render(proc, out, nbs):
    "Render every processed notebook in `proc` to `out/*.html`; return [(file, title)] in reading order."
    import nbformat
    from nbconvert import HTMLExporter
    from traitlets.config import Config
    c = Config()
    c.TagRemovePreprocessor.enabled = True
    c.TagRemovePreprocessor.remove_input_tags = {'remove_input'}
    c.TagRemovePreprocessor.remove_all_outputs_tags = {'remove_output'}
    c.HTMLExporter.exclude_input_prompt = True
    c.HTMLExporter.exclude_output_prompt = True
    exporter = HTMLExporter(config=c, template_name='lab')
    srcs = sorted(proc.glob('*.ipynb'), key=lambda p: (p.stem != 'index', p.name))
    docs, pages = [], []
    for p in srcs:
        nb, fm = prepare(nbformat.reads(p.read_text(encoding='utf-8'), as_version=4))  # reads joins multi-line fields
        fname = 'index.html' if p.stem == 'index' else fm.get('output-file', p.stem + '.html')
        docs.append((p, nb, fname)); pages.append((fname, 'Home' if p.stem == 'index' else fm.get('title', p.stem)))
    nb_to_page = {p.name: f for p, _, f in docs}
    host = (cfg().get('doc_host', '') + cfg().get('doc_baseurl', '')).rstrip('/') + '/'
    out.mkdir(parents=True, exist_ok=True)
    for p, nb, fname in docs:
        body, _ = exporter.from_notebook_node(nb)
        body = body.replace(f'href="{host}', 'href="')                         # site links -> local pages
        body = re.sub(r'href="(?:\./)?(?:nbs/)?([\w.-]+\.ipynb)(#[^"]*)?"',
                      lambda m: f'href="{nb_to_page.get(m.group(1), m.group(1))}{m.group(2) or ""}"', body)
        body = re.sub(r'(<h[1-6] id=")([^"]+)(")', lambda m: m.group(1) + m.group(2).lower() + m.group(3), body)
        body = embed_local_images(body, nbs)
        body = body.replace('</head>', STYLE + '</head>', 1)
        body = re.sub(r'(<body[^>]*>)', lambda m: m.group(1) + nav_html(pages, fname) + '<main class="mx-main">', body, count=1)
        body = body.replace('</body>', '</main></body>', 1)
        (out / fname).write_text(body, encoding='utf-8')
    return docs


def check(docs, out):
    "Every page exists, and each module's public names appear as API entries on its notebook's page."
    problems = []
    for p, nb, fname in docs:
        page = out / fname
        if not page.is_file() or page.stat().st_size < 1000: problems.append(f'{page}: missing or empty'); continue
        text = page.read_text(encoding='utf-8')
        for link in sorted(set(re.findall(r'href="([^":#]+\.ipynb)', text))):
            problems.append(f'{page}: link to {link}, which is not a notebook of the docs')
        src = (ROOT / cfg()['nbs_path'] / p.name).read_text(encoding='utf-8')
        m = re.search(r'#\|\s*default_exp\s+([\w.]+)', src)
        if not m: continue
        mod = importlib.import_module(f"{cfg()['lib_path']}.{m.group(1)}")
        for name in getattr(mod, '__all__', []):
            obj = getattr(mod, name, None)  # functions and classes defined here get nbdev's show_doc entries
            if not (callable(obj) and getattr(obj, '__module__', None) == mod.__name__): continue
            if not re.search(rf'<h[2-4][^>]*>\s*{re.escape(name)}\b', text):
                problems.append(f'{page}: no API entry for {name}')
    home = (out / 'index.html')
    if not home.is_file() or '<img' not in home.read_text(encoding='utf-8'):
        problems.append(f'{home}: missing, or shows no image')
    return problems


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--check', action='store_true', help='fail unless every page exists with its API entries')
    ap.add_argument('--n-workers', type=int, default=2)
    a = ap.parse_args(argv)
    import os; os.chdir(ROOT)  # nbdev finds settings.ini from the working folder
    nbs, out = ROOT / cfg()['nbs_path'], ROOT / cfg()['doc_path']
    try: proc = process_notebooks(a.n_workers)
    except Exception as e:
        print(f"docs: nbdev's notebook processing failed: {str(e).splitlines()[0]}\n"
              "  nbdev runs every cell that contains an import (to render show_doc), without the cells before it;\n"
              "  keep imports in cells of their own (nbdev FAQ) so that those cells run on their own.", file=sys.stderr)
        raise
    if out.exists(): shutil.rmtree(out)
    docs = render(proc, out, nbs)
    print(f'Docs: {len(docs)} pages in {out}/ (open {out / "index.html"})')
    if a.check:
        problems = check(docs, out)
        for pr in problems: print('docs check failed:', pr, file=sys.stderr)
        if problems: return 1
        print('Docs check passed: every page exists and shows its API entries.')
    return 0


if __name__ == '__main__': sys.exit(main())
