"""Run the loop: the pipeline, running it from a configuration, run folders and iterations.

- :class:`Pipeline`: generate → validate → clean → export → tune → evaluate, resumable.
- :func:`run_config` / :func:`arun_config`: build and run a pipeline from a TOML/YAML config.
- :class:`RunPaths`: where every file of a run lives.
- :mod:`~text2sql_tune.run.iteration`: the next iteration of the loop from an analysis.
"""

from __future__ import annotations

from .from_config import abuild_pipeline, arun_config, run_config
from .paths import RunPaths
from .pipeline import Pipeline, PipelineEvent, PipelineResult

__all__ = [
    "Pipeline",
    "PipelineEvent",
    "PipelineResult",
    "RunPaths",
    "abuild_pipeline",
    "arun_config",
    "run_config",
]
