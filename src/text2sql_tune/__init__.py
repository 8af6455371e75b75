"""text2sql_tune: turn your own database into an accurate text-to-SQL model.

The loop: generate question/SQL pairs with an LLM, validate them on the database, clean them,
format them for tuning, tune a model (Lamini, OpenAI, locally or your own), and evaluate it on a
golden set. The names exported here are listed once, in ``__init__.pyi``; they are imported on
first use, so ``import text2sql_tune`` and the CLI's ``--help`` stay fast.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import warnings
from collections.abc import Sequence
from typing import Any

import lazy_loader

__version__ = "0.1.0"

_lazy_getattr, _lazy_dir, _lazy_all = lazy_loader.attach_stub(__name__, __file__)
__all__ = [*_lazy_all, "__version__"]

# Names that were importable from the package root until 0.1 and now live only in their package.
# They still resolve here, with a DeprecationWarning, for one release.
_MOVED_NAMES: dict[str, str] = {
    **dict.fromkeys(("Analysis", "GenerationTarget"), "analysis"),
    **dict.fromkeys(("DatasetStats", "dataset_stats"), "analysis.dataset_stats"),
    **dict.fromkeys(("abuild_demo_database",), "demo"),
    **dict.fromkeys(
        ("ProviderOutageError", "ProviderUnavailableError", "UnknownFunctionError"), "errors"
    ),
    **dict.fromkeys(("alint_golden", "GoldenLintReport"), "evaluate"),
    **dict.fromkeys(("MatchRules",), "evaluate.judges"),
    **dict.fromkeys(
        (
            "ExportResult",
            "hf_messages_records",
            "lamini_records",
            "openai_chat_records",
            "split_train_validation",
        ),
        "exports",
    ),
    **dict.fromkeys(
        (
            "DuplicateQuestionFilter",
            "DuplicateSQLFilter",
            "FilterReport",
            "LeakageFilter",
            "NearDuplicateQuestionFilter",
            "RowCountFilter",
            "SQLLengthFilter",
            "SafetyFilter",
            "ValidSQLFilter",
            "avalidate_pairs",
        ),
        "filters",
    ),
    **dict.fromkeys(("GenerationSummary", "agenerate_to_file"), "generators"),
    **dict.fromkeys(("JsonlAppender", "iter_pairs"), "io"),
    **dict.fromkeys(
        ("ChatResponse", "PriceTable", "ToolCall", "resolve_openai_credentials"), "llm"
    ),
    **dict.fromkeys(("CheckpointedModel", "SelfReflectionModel"), "models"),
    **dict.fromkeys(("EvalSummary", "ResultPreview", "Usage", "ValidationInfo"), "records"),
    **dict.fromkeys(("compare_runs", "load_report"), "reporting"),
    **dict.fromkeys(("PipelineEvent",), "run"),
    **dict.fromkeys(("strip_format_clause",), "safety"),
    **dict.fromkeys(("extract_sql", "normalize_question", "normalize_sql"), "sql"),
}

# Modules that moved in 0.2 (old dotted path -> new one). ``import text2sql_tune.evaluation``
# still works, with a DeprecationWarning, for one release. ``text2sql_tune.models`` is not here:
# it is now the text-to-SQL models package, and answers the old record names itself.
_MOVED_MODULES: dict[str, str] = {
    "analysis.models": "analysis.results",
    "datasets": "io.records",
    "eval_inputs": "evaluate.inputs",
    "evaluation": "evaluate.evaluator",
    "golden_lint": "evaluate.golden_lint",
    "iteration": "run.iteration",
    "judges": "evaluate.judges",
    "loss_curve": "reporting.loss_curve",
    "normalize": "sql.normalize",
    "pipeline": "run.pipeline",
    "pipeline_factory": "run.from_config",
    "retrieval": "models.retrieval",
    "run_paths": "run.paths",
    "significance": "reporting.significance",
    "sql_extract": "sql.extract",
    "sql_profile": "sql.profile",
    "stats": "analysis.dataset_stats",
    "text2sql_models": "models",
    "tuners.local_job": "tuners.local.job",
    "tuners.local_recall": "tuners.local.recall",
    "tuners.local_runtime": "tuners.local.runtime",
    "tuners.local_train": "tuners.local.sft",
    "validation": "filters.validation",
}


def __getattr__(name: str) -> Any:
    try:
        return _lazy_getattr(name)
    except AttributeError:
        package = _MOVED_NAMES.get(name)
        if package is None:
            raise
    warnings.warn(
        f"text2sql_tune.{name} is deprecated: import it from text2sql_tune.{package} "
        "(the top-level name goes in 0.3)",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(importlib.import_module(f"{__name__}.{package}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def _new_location(fullname: str) -> str | None:
    prefix = f"{__name__}."
    if not fullname.startswith(prefix):
        return None
    parts = fullname[len(prefix) :].split(".")
    for n in range(len(parts), 0, -1):
        moved = _MOVED_MODULES.get(".".join(parts[:n]))
        if moved is not None:
            return ".".join((__name__, moved, *parts[n:]))
    return None


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Resolves the module paths of 0.1 to their new homes, with a DeprecationWarning."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if _new_location(fullname) is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        new = _new_location(spec.name)
        assert new is not None  # find_spec only answers for moved names
        warnings.warn(
            f"{spec.name} moved to {new}; the old path goes in 0.3",
            DeprecationWarning,
            stacklevel=2,
        )
        return importlib.import_module(new)

    def exec_module(self, module: types.ModuleType) -> None:
        """The module is the new one, already executed."""


if not any(isinstance(finder, _MovedModuleFinder) for finder in sys.meta_path):
    sys.meta_path.insert(0, _MovedModuleFinder())
