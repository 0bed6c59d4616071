#!/usr/bin/env python3
"""Build the documentation site in `_docs/` without Quarto.

    python .ci/build_docs.py            # build _docs/index.html and one page per notebook
    python .ci/build_docs.py --check    # ... and fail unless every page exists and shows its API entries,
                                        # and no page shows a machine path, a traceback, a progress bar
                                        # saved as stderr or an image without alternative text

Steps: nbdev's own notebook processing (`nbdev.serve.proc_nbs`, what `nbdev_docs` runs before
Quarto: front matter, `show_doc` for every exported name, links between pages) writes `_proc/`;
then nbconvert renders each processed notebook, with the outputs kept in it, to HTML, and this
script adds a sidebar linking all pages. Quarto-only markup (attribute braces, fenced divs, cell
options) is translated or removed on the way; a code cell's `#| fig-alt: text` becomes the alternative
text of the figures it draws (as in Quarto). On GitHub the deploy workflow uses Quarto instead.
"""
import argparse, base64, html, importlib, mimetypes, re, shutil, sys
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
            if m: opts[m.group(1).lower()] = m.group(2) if m.group(1).lower() == 'fig-alt' else m.group(2).lower()
            else: body.append(line)
        if opts.get('include') == 'false' or 'hide' in opts: continue
        tags = c.setdefault('metadata', {}).setdefault('tags', [])
        if opts.get('echo') == 'false' or not ''.join(body).strip(): tags.append('remove_input')
        if opts.get('output') == 'false': tags.append('remove_output')
        c['source'] = '\n'.join(body)
        for o in c.get('outputs', []):
            png = o.get('data', {}).get('image/png')
            if png and opts.get('fig-alt'):   # nbconvert has no alt text for figures: render the image as HTML
                src = ''.join(png).replace('\n', '')
                o['data'] = {'text/html': f'<img src="data:image/png;base64,{src}" alt="{html.escape(opts["fig-alt"])}">'}
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
/* long code lines wrap instead of running off the page */
main.mx-main .jp-InputArea-editor pre, main.mx-main .highlight pre, main.mx-main .jp-OutputArea-output pre { white-space: pre-wrap; word-break: break-word; }
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


# What a reader must never see on a page: paths of the machine that ran the notebook (temporary folders
# made by tempfile.mkdtemp, pytest, multiprocessing, dask; the work tree), and Python tracebacks.
MACHINE_PATH = re.compile(r"""/tmp/tmp[\w-]*                          # tempfile.mkdtemp() default names
                             | /tmp/(?:pytest-of-|pymp-|dask-scratch)[\w.-]*
                             | /tmp/[\w.-]*?[-_.](?=[a-z_]*[0-9_])[a-z0-9_]{8}\b  # mkdtemp(prefix=...): prefix + 8 random
                             | /work/[\w.-]*""", re.X)
TRACEBACK = re.compile(r'Traceback \(most recent call last\)')
ANSI_RED = re.compile(r'\x1b\[(?:[0-9;]*;)?(?:31|91|41)m')                  # red text or background
ANSI = re.compile(r'\x1b\[[0-9;]*[A-Za-z]')
PROGRESS_BAR = re.compile(r'\d+%\||\[\d+:\d\d<|[\d.]+\s*(?:it|[kMG]?B)/s\]')   # tqdm: " 45%|####", "[00:02<00:12", "15.5kB/s]"
EMPTY_ALT = re.compile(r'!\[\s*\]\(|<img(?![^>]*\balt="[^"]*\w)[^>]*>', re.I)    # ![](...), <img> without (non-empty) alt
CODE_FIGURE_ALT = 'alt="No description has been provided for this image"'    # what nbconvert gives figures of code


def excerpt(text, start, end, width=60):
    "What a reader sees around text[start:end] of a page: one line, without tags and ANSI codes."
    s = re.sub(r'^[^<]*?>|<[^>]*$', '', text[max(0, start - 10 * width):end + 10 * width])   # cut tags at the edges
    s = ' '.join(html.unescape(re.sub(r'<[^>]*>', ' ', ANSI.sub('', s))).split())
    key = ' '.join(html.unescape(re.sub(r'<[^>]*>', ' ', text[start:end])).split())
    i = max(s.find(key), 0)
    return s[max(0, i - width):i + len(key) + width]


def page_text(page):
    "The page's HTML without embedded data (data: URIs), scripts and styles: what may show machine paths."
    t = re.sub(r'<(script|style)\b.*?</\1>', '', page, flags=re.S | re.I)
    return re.sub(r'data:[\w/+.-]+;base64,[A-Za-z0-9+/=\s]+', 'data:...', t)


def shown_outputs(nb):
    "(name of the cell, its outputs) of every code cell whose outputs the page shows (not tagged remove_output)."
    for c in nb['cells']:
        if c['cell_type'] == 'code' and c.get('outputs') and 'remove_output' not in c.get('metadata', {}).get('tags', []):
            src = ''.join(c['source']).strip().splitlines()
            yield (f'cell starting {src[0][:50]!r}' if src else 'a cell'), c['outputs']


def hygiene_problems(fname, page, nb, most=3):
    """What a page must not show, each with an excerpt: machine paths, tracebacks, progress bars and red
    (error) text saved as stderr output, images without alternative text. At most `most` of each kind."""
    found, text = [], page_text(page)
    for m in MACHINE_PATH.finditer(text):
        found.append(f'machine path {m.group(0)!r}: "...{excerpt(text, m.start(), m.end())}..."')
    for m in TRACEBACK.finditer(text):
        found.append(f'Python traceback: "...{excerpt(text, m.start(), m.end(), 100)}..."')
    for cell, outputs in shown_outputs(nb):
        for o in outputs:
            if o.get('output_type') == 'error':
                found.append(f'error output in {cell}: {o.get("ename")}: {str(o.get("evalue"))[:120]}')
        stderr = ''.join(''.join(o.get('text', '')) for o in outputs if o.get('output_type') == 'stream' and o.get('name') == 'stderr')
        if PROGRESS_BAR.search(stderr):
            bars = [x.strip() for x in re.split(r'[\r\n]', ANSI.sub('', stderr)) if PROGRESS_BAR.search(x)]
            found.append(f'progress bar saved as stderr output in {cell}: {bars[-1][:100]!r} '
                         '(run it with verbose=False, or clear that output)')
        if ANSI_RED.search(stderr):
            found.append(f'red (error) text on stderr in {cell}: {ANSI.sub("", stderr).strip()[:120]!r}')
    for m in EMPTY_ALT.finditer(page):
        if CODE_FIGURE_ALT not in m.group(0):
            tag = re.sub(r'base64,[^"]*', 'base64,...', m.group(0))
            found.append(f'image without alternative text: {tag[:120]}')
    kinds = {}
    for f in dict.fromkeys(found): kinds.setdefault(' '.join(f.split(' ', 2)[:2]), []).append(f)
    return [f'{fname}: {f}' for fs in kinds.values() for f in fs[:most]] + \
           [f'{fname}: ... and {len(fs) - most} more of the kind "{k}"' for k, fs in kinds.items() if len(fs) > most]


def code_figures_without_alt(page):
    "How many figures drawn by code have no alternative text (no `#| fig-alt:` in their cell)."
    return page.count(CODE_FIGURE_ALT)


def check(docs, out):
    """Every page exists, each module's public names appear as API entries on its notebook's page, and no page
    shows what a reader must not see (see `hygiene_problems`)."""
    problems = []
    for p, nb, fname in docs:
        page = out / fname
        if not page.is_file() or page.stat().st_size < 1000: problems.append(f'{page}: missing or empty'); continue
        text = page.read_text(encoding='utf-8')
        problems += hygiene_problems(fname, text, nb)
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
        figs = {f: n for _, _, f in docs if (n := code_figures_without_alt((out / f).read_text(encoding='utf-8')))}
        if figs: print('note: figures drawn by code without alternative text (add `#| fig-alt: ...` to their cell): ' +
                       ', '.join(f'{f} {n}' for f, n in figs.items()))
        for pr in problems: print('docs check failed:', pr, file=sys.stderr)
        if problems: return 1
        print('Docs check passed: every page exists and shows its API entries; no machine paths, tracebacks, '
              'stderr progress bars or images without alternative text.')
    return 0


if __name__ == '__main__': sys.exit(main())
