"""Package set-up read from settings.ini (nbdev's single source of project facts)."""
from configparser import ConfigParser
import shlex
import setuptools

cfg = ConfigParser(delimiters=['='])
cfg.read('settings.ini', encoding='utf-8')
cfg = cfg['DEFAULT']

# SPDX license expression: current setuptools deprecates license classifiers in favour of it.
licenses = {'apache2': 'Apache-2.0'}
statuses = ['Planning', 'Pre-Alpha', 'Alpha', 'Beta', 'Production/Stable', 'Mature', 'Inactive']
lic = licenses[cfg['license']]
requirements = shlex.split(cfg.get('requirements', ''))
dev_requirements = shlex.split(cfg.get('dev_requirements', ''))
extras = {name: shlex.split(cfg.get(f'{name}_requirements', '')) for name in ('xarray', 'hyperspy', 'pymca')}
scripts = [s.strip() for s in cfg.get('console_scripts', '').split() if s.strip()]

setuptools.setup(
    name=cfg['lib_name'],
    version=cfg['version'],
    description=cfg['description'],
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    author=cfg['author'],
    author_email=cfg['author_email'],
    url=cfg['git_url'],
    license=lic,
    classifiers=[
        # trove classifier numbers start at 1 (1 - Planning ... 3 - Alpha ... 7 - Inactive)
        'Development Status :: ' + cfg['status'] + ' - ' + statuses[int(cfg['status']) - 1],
        'Intended Audience :: Science/Research',
        'Natural Language :: ' + cfg['language'],
        'Programming Language :: Python :: 3',
    ],
    packages=setuptools.find_packages(include=['maxrf4u', 'maxrf4u.*']),
    include_package_data=True,
    install_requires=requirements,
    extras_require={'dev': dev_requirements, **extras},
    python_requires='>=' + cfg['min_python'],
    zip_safe=False,
    entry_points={'console_scripts': scripts, 'nbdev': [f"{cfg['lib_path']}={cfg['lib_path']}._modidx:d"]},
)
