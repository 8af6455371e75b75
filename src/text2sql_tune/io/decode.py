r"""Decode record files and parse their JSON defensively: every fault is one clear ``DataError``.

Record files come from people, spreadsheets and LLMs, so nothing about them is trusted:

* **Encoding.** UTF-8, with or without a byte-order mark (BOM); UTF-16 and UTF-32 when a BOM says
  which. Anything else (Latin-1 bytes, UTF-16 without a BOM) is refused naming the line.
* **JSON limits.** Nesting deeper than :data:`MAX_NESTING` levels (a 100,000-deep array would
  otherwise end in ``RecursionError``, and pydantic cannot write back more than a few hundred
  levels) and integers with more digits than Python converts (4,300 by default) are refused.
* **Lone surrogates.** ``"\ud800"`` is legal JSON but not Unicode: it cannot be written as UTF-8.
  Each one is replaced by U+FFFD (the replacement character) and the file's lines are named in
  one warning, so the rest of the record is kept and every later write works.

Lines are read one at a time (a file is never loaded whole, except ``.json`` arrays), so memory
stays flat however long the file is.
"""

from __future__ import annotations

import codecs
import io
import json
import logging
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from ..errors import DataError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

__all__ = [
    "MAX_NESTING",
    "NotJSONError",
    "SurrogateLog",
    "TOMLDecodeError",
    "detect_encoding",
    "iter_lines",
    "parse_json",
    "parse_toml",
    "read_text",
    "replace_lone_surrogates",
]

logger = logging.getLogger("text2sql_tune")

TOMLDecodeError = tomllib.TOMLDecodeError
"""What :func:`parse_toml` raises for text that is not TOML."""

MAX_NESTING = 100
"""Deepest nesting (objects and arrays inside each other) accepted in one record."""

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: its BOM starts the same way
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE = re.compile("[\ud800-\udfff]")
_FIX_ENCODING = "save it as UTF-8 (or as UTF-16 / UTF-32 with a byte-order mark)"


class NotJSONError(DataError):
    """The text is not JSON at all (as opposed to JSON over a limit); a torn line looks so."""


def detect_encoding(head: bytes) -> tuple[str, int]:
    """The codec a file's first bytes call for, and the length of its byte-order mark.

    Args:
        head: The first (up to four) bytes of the file.

    Returns:
        ``(codec name, BOM length)``; ``("utf-8", 0)`` when there is no BOM.
    """
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return codec, len(bom)
    return "utf-8", 0


def _no_bom_hint(raw: bytes) -> str:
    if b"\x00" in raw:
        return "it has NUL bytes, so it looks like UTF-16 or UTF-32 without a byte-order mark"
    return "it is probably in a legacy encoding such as Latin-1 or Windows-1252"


def iter_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line number, text)`` for each line of ``path``, line endings kept.

    Raises:
        DataError: A line is not valid in the file's encoding (naming the line and column).
    """
    with path.open("rb") as handle:
        codec, bom = detect_encoding(handle.read(4))
        handle.seek(bom)
        if codec == "utf-8":
            yield from _utf8_lines(path, handle)
            return
        # newline="\n": split at LF only (str.splitlines would also split at U+2028 and the
        # like, which JSON allows inside strings).
        reader = io.TextIOWrapper(handle, encoding=codec, errors="strict", newline="\n")
        try:
            yield from enumerate(reader, start=1)
        except UnicodeDecodeError:
            raise DataError(
                f"{path}:{_bad_line(path, codec, bom)}: not valid {codec.upper()} although its "
                f"byte-order mark says so; {_FIX_ENCODING}"
            ) from None


def _utf8_lines(path: Path, handle: IO[bytes]) -> Iterator[tuple[int, str]]:
    for number, raw in enumerate(handle, start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            column = len(raw[: exc.start].decode("utf-8", "replace")) + 1
            raise DataError(
                f"{path}:{number}: not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column "
                f"{column}); {_no_bom_hint(raw)}: {_FIX_ENCODING}"
            ) from None
        if "\x00" in text:
            raise DataError(f"{path}:{number}: {_no_bom_hint(raw)}; {_FIX_ENCODING}")
        yield number, text


def _bad_line(path: Path, codec: str, bom: int) -> int:
    """The line of the first undecodable character (error path only: reads the file whole)."""
    data = path.read_bytes()[bom:]
    try:
        data.decode(codec)
    except UnicodeDecodeError as exc:
        return data[: exc.start].decode(codec, "replace").count("\n") + 1
    return 1  # pragma: no cover - the streaming decoder failed, so the whole one does too


def read_text(path: Path) -> str:
    """The whole text of ``path``, decoded by its byte-order mark (UTF-8 without one).

    Raises:
        DataError: The file cannot be read, or is not valid in its encoding (naming the line).
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from exc
    codec, bom = detect_encoding(data[:4])
    try:
        text = data[bom:].decode(codec)
    except UnicodeDecodeError as exc:
        line = data[bom : bom + exc.start].count(b"\n") + 1
        hint = _no_bom_hint(data) if codec == "utf-8" else "although its byte-order mark says so"
        raise DataError(
            f"{path}:{line}: not valid {codec.upper()}; {hint}: {_FIX_ENCODING}"
        ) from None
    if codec == "utf-8" and "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise DataError(f"{path}:{line}: {_no_bom_hint(data)}; {_FIX_ENCODING}")
    return text


class SurrogateLog:
    """Collects the lines where lone surrogates were replaced, for one warning per file.

    Args:
        path: The file being read.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.places: list[str] = []

    def add(self, where: str) -> None:
        """Note that the record at ``where`` had lone surrogates replaced."""
        self.places.append(where.removeprefix(f"{self.path}:").strip())

    def warn(self) -> None:
        """Log one warning naming the records changed (the first ten), if any."""
        if not self.places:
            return
        shown = ", ".join(self.places[:10]) + (" ..." if len(self.places) > 10 else "")
        logger.warning(
            "%s: %d record(s) held lone surrogates (\\ud800-\\udfff escapes that are not valid "
            "Unicode); each was replaced by U+FFFD, at: %s",
            self.path,
            len(self.places),
            shown,
        )


def parse_json(text: str, where: str, surrogates: SurrogateLog | None = None) -> Any:
    """Parse one JSON document from an untrusted file, within the limits above.

    Args:
        text: The JSON text.
        where: ``file:line`` (or ``file``) for messages.
        surrogates: Where to note a record whose lone surrogates were replaced.

    Raises:
        DataError: Not JSON, nested deeper than :data:`MAX_NESTING`, or a number too long.
    """
    try:
        value = json.loads(text)
    except RecursionError:
        raise DataError(
            f"{where}: nested far too deeply (more than {MAX_NESTING} levels of objects and "
            "arrays are refused)"
        ) from None
    except json.JSONDecodeError as exc:
        raise NotJSONError(f"{where}: not valid JSON: {exc.msg} (column {exc.colno})") from None
    except ValueError as exc:  # int() refuses numbers with too many digits
        limit = sys.get_int_max_str_digits()
        if "digits" not in str(exc):
            raise NotJSONError(f"{where}: not valid JSON: {exc}") from None
        raise DataError(
            f"{where}: a number has more than {limit:,} digits, Python's limit for reading "
            "integers; store it as a string"
        ) from None
    # Only text with many brackets can be deep; counting them is far cheaper than walking.
    if text.count("[") + text.count("{") > MAX_NESTING and _depth(value) > MAX_NESTING:
        raise DataError(
            f"{where}: nested {_depth(value)} levels deep; at most {MAX_NESTING} levels of "
            "objects and arrays are accepted"
        )
    if _SURROGATE_ESCAPE.search(text):
        fixed, changed = _replace_surrogates(value)
        if changed:
            value = fixed
            if surrogates is not None:
                surrogates.add(where)
    return value


def _depth(value: Any) -> int:
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in item)
    return deepest


def replace_lone_surrogates(text: str) -> str:
    """``text`` with each lone surrogate code point replaced by U+FFFD."""
    return _SURROGATE.sub("\ufffd", text)


def _replace_surrogates(value: Any) -> tuple[Any, bool]:
    """A copy of ``value`` without lone surrogates in its strings and keys (depth is bounded)."""
    if isinstance(value, str):
        fixed = replace_lone_surrogates(value)
        return fixed, fixed != value
    if isinstance(value, list):
        items = [_replace_surrogates(item) for item in value]
        return [item for item, _ in items], any(changed for _, changed in items)
    if isinstance(value, dict):
        changed = False
        out: dict[str, Any] = {}
        for key, item in value.items():
            new_key = replace_lone_surrogates(key)
            new_item, item_changed = _replace_surrogates(item)
            changed = changed or item_changed or new_key != key
            out[new_key] = new_item
        return out, changed
    return value, False


def parse_toml(text: str) -> dict[str, Any]:
    """Parse TOML text (``tomllib``, or ``tomli`` before Python 3.11).

    Raises:
        TOMLDecodeError: The text is not valid TOML.
    """
    data: dict[str, Any] = tomllib.loads(text)
    return data
