"""Files: crash-safe writes and single-writer locks, record files, checkpoints.

- :mod:`~text2sql_tune.io.files`: atomic whole-file writes and ``.lock`` files.
- :mod:`~text2sql_tune.io.records`: read and write record files (JSONL, JSON arrays, TSV, CSV).
- :mod:`~text2sql_tune.io.decode`: decode untrusted bytes and JSON into one clear ``DataError``.
- :mod:`~text2sql_tune.io.checkpoints`: what the append-only checkpoints have in common.
- :mod:`~text2sql_tune.io.paths`: refuse to write an output over one of the command's inputs.
"""

import lazy_loader

# The names are listed once, in __init__.pyi; importing them lazily keeps ``--help`` light.
__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
