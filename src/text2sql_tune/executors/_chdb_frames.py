"""The frames the chDB engine process and its parent exchange: a JSON header and raw bytes.

Standard library only: the engine process (:mod:`._chdb_worker`) imports this module as a
top-level script neighbour, the parent (:mod:`._chdb_process`) as part of the package.
"""

from __future__ import annotations

import json
import struct
from typing import IO, Any

__all__ = ["encode_frame", "read_frame"]

_HEADER = struct.Struct(">II")


def encode_frame(header: dict[str, Any], payload: bytes = b"") -> bytes:
    """One frame: the sizes, the JSON header, the payload."""
    data = json.dumps(header).encode()
    return _HEADER.pack(len(data), len(payload)) + data + payload


def read_frame(stream: IO[bytes]) -> tuple[dict[str, Any], bytes] | None:
    """The next frame, or ``None`` at the end of the stream."""
    head = _read_exactly(stream, _HEADER.size)
    if head is None:
        return None
    header_size, payload_size = _HEADER.unpack(head)
    header = _read_exactly(stream, header_size)
    payload = _read_exactly(stream, payload_size)
    if header is None or payload is None:
        return None
    return json.loads(header), payload


def _read_exactly(stream: IO[bytes], size: int) -> bytes | None:
    chunks: list[bytes] = []
    while size:
        chunk = stream.read(size)
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)
