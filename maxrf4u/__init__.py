__version__ = "0.2.0"

# The published API, importable as `from maxrf4u import raw_to_datastack, DataStack, ...`
from .errors import MaxrfError, RippleError, DatastackError, ReadOnlyError, DatasetNotFoundError
from .ripple import parse_rpl, open_raw
from .preview import make_raw_preview
from .convert import raw_to_datastack
from .storage import (Layers, L, underscorify, tree, append, append_list, repack, max_and_sum_spectra,
                      DataStack)
from .zipstack import repair
from .plots import plot_spectra
