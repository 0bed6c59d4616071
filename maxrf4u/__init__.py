"""maxrf4u: convert macro X-ray fluorescence (MA-XRF) scans into crash-safe `.datastack` files and analyse them.

The published API is importable from here (`from maxrf4u import raw_to_datastack, DataStack, ...`).
Each name is imported from its module on first use, so that `import maxrf4u` stays instant.
"""
from .names import __version__

_HOMES = {  # name -> module that defines it
    'MaxrfError': 'errors', 'RippleError': 'errors', 'DatastackError': 'errors', 'ReadOnlyError': 'errors',
    'DatasetNotFoundError': 'errors',
    'Layers': 'names', 'L': 'names', 'underscorify': 'names',
    'parse_rpl': 'ripple', 'open_raw': 'ripple',
    'make_raw_preview': 'preview',
    'raw_to_datastack': 'convert', 'convert_scans': 'convert',
    'tree': 'storage', 'append': 'storage', 'append_list': 'storage', 'repack': 'storage',
    'max_and_sum_spectra': 'storage', 'DataStack': 'storage',
    'repair': 'zipstack',
    'plot_spectra': 'plots',
    'calibrate': 'calibration',
    'compute_hotmax_spectra': 'hotmax', 'compute_hotmax_noise': 'hotmax',
    'identify_elements': 'identify',
    'element_maps': 'maps', 'plot_element_maps': 'maps', 'plot_rgb': 'maps', 'export_element_maps': 'maps',
    'raw_to_element_maps': 'pipeline',
}
__all__ = ['__version__', *_HOMES]

def __getattr__(name):
    if name not in _HOMES: raise AttributeError(f"module 'maxrf4u' has no attribute {name!r}")
    from importlib import import_module
    value = getattr(import_module(f'{__name__}.{_HOMES[name]}'), name)
    globals()[name] = value  # later look-ups are plain attribute reads
    return value

def __dir__(): return sorted({*globals(), *__all__})
