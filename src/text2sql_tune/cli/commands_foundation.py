"""Foundation commands: ``demo-db`` and ``sql``."""

from __future__ import annotations
