"""Run the loop: the pipeline, running it from a configuration, run folders and iterations.

- :class:`Pipeline`: generate → validate → clean → export → tune → evaluate, resumable; it takes
  the configuration's sections (``Pipeline.from_config``) and the components as objects.
- :func:`run_config` / :func:`arun_config`: build and run a pipeline from a TOML/YAML config.
- :class:`BuildContext`: what the registry's generator, tuner and judge factories are given
  (:mod:`~text2sql_tune.run.components`).
- :class:`RunPaths`: where every file of a run lives.
- :mod:`~text2sql_tune.run.iteration`: the next iteration of the loop from an analysis.
"""

from __future__ import annotations

from .components import BuildContext
from .from_config import abuild_pipeline, arun_config, run_config
from .paths import RunPaths
from .pipeline import Pipeline, PipelineEvent, PipelineResult

__all__ = [
    "BuildContext",
    "Pipeline",
    "PipelineEvent",
    "PipelineResult",
    "RunPaths",
    "abuild_pipeline",
    "arun_config",
    "run_config",
]
