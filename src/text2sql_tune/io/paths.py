"""Refuse to write an output over one of the command's own inputs (or over another output).

``export -i pairs.jsonl -o pairs.jsonl`` would replace the pairs by their training file. Paths
are compared as the same file on disk (``os.path.samefile``: symlinks, hard links, ``./x`` and
``x``) when both exist, else by their resolved absolute form.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping
from pathlib import Path

from ..errors import ConfigurationError

__all__ = ["refuse_overwriting", "same_file"]


def same_file(a: str | Path, b: str | Path) -> bool:
    """True when ``a`` and ``b`` name the same file (existing or not)."""
    a, b = Path(a), Path(b)
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.normcase(a.resolve()) == os.path.normcase(b.resolve())


def refuse_overwriting(
    outputs: Mapping[str, str | Path | None], inputs: Mapping[str, str | Path | None]
) -> None:
    """Raise when an output is one of the inputs, or two outputs are one file.

    Args:
        outputs: What will be written, by the option that names it (``{"--output": path}``);
            ``None`` values are skipped.
        inputs: What is read, by option.

    Raises:
        ConfigurationError: Naming both options and the file; nothing has been written.
    """
    written = [(name, Path(path)) for name, path in outputs.items() if path is not None]
    read = [(name, Path(path)) for name, path in inputs.items() if path is not None]
    for (out_name, out), (in_name, source) in itertools.product(written, read):
        if same_file(out, source):
            raise ConfigurationError(
                f"{out_name} {out} is the same file as {in_name} {source}: writing it would "
                f"destroy that input; choose another {out_name} (nothing was written)"
            )
    for (name_a, a), (name_b, b) in itertools.combinations(written, 2):
        if same_file(a, b):
            raise ConfigurationError(
                f"{name_a} and {name_b} are the same file ({a}): one would overwrite the other; "
                "choose different files (nothing was written)"
            )
