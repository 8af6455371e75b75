"""The keyword settings ``Pipeline`` took in 0.1, mapped onto the configuration sections."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..config import PipelineConfig

__all__ = ["SECTIONS", "legacy_config"]

_SETTINGS: dict[str, tuple[str, str]] = {
    "run_dir": ("run", "dir"),
    "concurrency": ("run", "concurrency"),
    "parent": ("run", "parent"),
    "n": ("generate", "n"),
    "min_rows": ("clean", "min_rows"),
    "max_rows": ("clean", "max_rows"),
    "near_dup_threshold": ("clean", "near_dup_threshold"),
    "export_formats": ("export", "formats"),
    "validation_fraction": ("export", "validation_fraction"),
    "split_seed": ("export", "seed"),
    "wait_for_tuning": ("tune", "wait"),
    "poll_interval_s": ("tune", "poll_interval_s"),
    "html_report": ("evaluate", "html"),
    "max_consecutive_failures": ("llm", "max_failures"),
}
"""The keyword settings of 0.1 -> (section, field); they still work, with a warning, until 0.3."""

SECTIONS = ("run", "generate", "clean", "export", "tune", "evaluate", "llm")


def legacy_config(config: PipelineConfig, settings: Mapping[str, Any]) -> PipelineConfig:
    """``config`` with the 0.1 keyword settings applied (their values are taken as given)."""
    unknown = sorted(set(settings) - set(_SETTINGS))
    if unknown:
        raise TypeError(f"Pipeline() got unexpected keyword arguments: {', '.join(unknown)}")
    moved = ", ".join(f"{k} -> {'.'.join(_SETTINGS[k])}" for k in settings)
    warnings.warn(
        f"Pipeline keyword settings are deprecated (removed in 0.3); pass the config sections "
        f"instead: {moved}",
        DeprecationWarning,
        stacklevel=3,
    )
    updates: dict[str, dict[str, Any]] = {}
    if "run_dir" in settings and "n" not in settings:
        updates["generate"] = {"n": 0}  # the 0.1 default: generate only when n is given
    for key, value in settings.items():
        section, name = _SETTINGS[key]
        updates.setdefault(section, {})[name] = Path(value) if key == "run_dir" else value
    return config.model_copy(
        update={
            section: getattr(config, section).model_copy(update=values)
            for section, values in updates.items()
        }
    )
