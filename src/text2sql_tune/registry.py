"""One registry of component names: what ``generator = "openai"`` or ``--judge llm`` builds.

Six kinds of component are named in configuration files and on the command line:

=========  =============================================  =====================================
kind       built-in names                                 the registered factory is called as
=========  =============================================  =====================================
executor   ``chdb``, ``clickhouse``, ``clickhouses``      ``factory(url, **options)``; the name
           (URL schemes, without ``://``)                 is the URL scheme
generator  ``template``, ``openai``                       ``factory(context)`` (may be async)
filter     ``sql_length``, ``safety``, ``valid_sql``,     ``factory(**options)``: the cleaning
           ``row_count``, ``duplicate_question``,         settings it names (``min_rows``, ...)
           ``duplicate_sql``, ``near_duplicate``,         and its ``[clean.filter_options.X]``
           ``leakage`` (the default chain, in order)
tuner      ``lamini``, ``openai``, ``local``              ``factory(context)``
model      ``retrieval``, ``lamini``, ``openai``,         ``factory(name, schema, *, train,
           ``zero-shot``, ``few-shot``, ``local``         client_options, chat_client)``
judge      ``execution``, ``llm``, ``cascade``            ``factory(context)``
=========  =============================================  =====================================

``context`` is a :class:`~text2sql_tune.run.components.BuildContext`. The built-in components are
registered the way a plugin's are, as ``"module:attribute"`` references that are imported on
first use, so importing the package or asking the CLI for ``--help`` loads none of them.

Plugins: a distribution declares an entry point in the group ``text2sql_tune.plugins``; it names
a module that registers its components when imported (or a function, called with the
:class:`Registry`). Entry points are loaded once, the first time a name is looked up; a plugin
that fails to load is skipped with a :class:`PluginWarning` naming it::

    # pyproject.toml of the plugin
    [project.entry-points."text2sql_tune.plugins"]
    short_questions = "t2s_short.plugin"

    # t2s_short/plugin.py
    from text2sql_tune import registry

    @registry.register("filter", "short_question")
    class ShortQuestionFilter: ...

Example:
    >>> from text2sql_tune import registry
    >>> "row_count" in registry.names("filter")
    True
    >>> registry.get("filter", "row_count")(max_rows=50).max_rows
    50
"""

from __future__ import annotations

import importlib
import logging
import warnings
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from .errors import ConfigurationError

if TYPE_CHECKING:
    from .interfaces import DatasetFilter, Judge, QAGenerator, SQLExecutor, Text2SQLModel, Tuner
    from .run.components import BuildContext

    ExecutorFactory = Callable[..., SQLExecutor]
    GeneratorFactory = Callable[[BuildContext], QAGenerator | Awaitable[QAGenerator]]
    FilterFactory = Callable[..., DatasetFilter]
    TunerFactory = Callable[[BuildContext], Tuner]
    ModelFactory = Callable[..., Text2SQLModel]
    JudgeFactory = Callable[[BuildContext], Judge]

__all__ = [
    "BUILTINS",
    "ENTRY_POINT_GROUP",
    "KINDS",
    "Kind",
    "PluginWarning",
    "Registry",
    "builtin_names",
    "check",
    "default_registry",
    "get",
    "load_plugins",
    "names",
    "register",
]

logger = logging.getLogger("text2sql_tune")

Kind = Literal["executor", "generator", "filter", "tuner", "model", "judge"]
KINDS: tuple[Kind, ...] = ("executor", "generator", "filter", "tuner", "model", "judge")
ENTRY_POINT_GROUP = "text2sql_tune.plugins"

_F = TypeVar("_F", bound=Callable[..., Any])

_FILTERS = "text2sql_tune.filters"
_COMPONENTS = "text2sql_tune.run.components"
_MODELS = "text2sql_tune.models.spec"

BUILTINS: Mapping[Kind, Mapping[str, str]] = {
    "executor": {
        "chdb": "text2sql_tune.executors:open_chdb_url",
        "clickhouse": "text2sql_tune.executors.clickhouse:ClickHouseExecutor",
        "clickhouses": "text2sql_tune.executors.clickhouse:ClickHouseExecutor",
    },
    "generator": {
        "template": f"{_COMPONENTS}:template_generator",
        "openai": f"{_COMPONENTS}:openai_generator",
    },
    # In the order of the default cleaning chain (filters.chain.DEFAULT_FILTERS).
    "filter": {
        "sql_length": f"{_FILTERS}.chain:sql_length_filter",
        "safety": f"{_FILTERS}.safety:SafetyFilter",
        "valid_sql": f"{_FILTERS}.validity:ValidSQLFilter",
        "row_count": f"{_FILTERS}.rows:RowCountFilter",
        "duplicate_question": f"{_FILTERS}.dedupe:DuplicateQuestionFilter",
        "duplicate_sql": f"{_FILTERS}.dedupe:DuplicateSQLFilter",
        "near_duplicate": f"{_FILTERS}.chain:near_duplicate_filter",
        "leakage": f"{_FILTERS}.leakage:LeakageFilter",
    },
    "tuner": {
        "lamini": f"{_COMPONENTS}:lamini_tuner",
        "openai": f"{_COMPONENTS}:openai_tuner",
        "local": f"{_COMPONENTS}:local_tuner",
    },
    "model": {
        "retrieval": f"{_MODELS}:retrieval_model",
        "lamini": f"{_MODELS}:lamini_model",
        "openai": f"{_MODELS}:openai_model",
        "zero-shot": f"{_MODELS}:zero_shot_model",
        "few-shot": f"{_MODELS}:few_shot_model",
        "local": f"{_MODELS}:local_model",
    },
    "judge": {
        "execution": f"{_COMPONENTS}:execution_judge",
        "llm": f"{_COMPONENTS}:llm_judge",
        "cascade": f"{_COMPONENTS}:cascade_judge",
    },
}
"""The built-in components of each kind, as lazy ``"module:attribute"`` references."""

BUILTIN_SOURCE = "built-in"


class PluginWarning(UserWarning):
    """A plugin could not be loaded (it is skipped; the message names it)."""


@dataclass
class _Entry:
    target: Any  # the factory, or a "module:attribute" reference not imported yet
    source: str  # "built-in", the plugin's entry point name, or "registered"


def _normalize(name: str) -> str:
    return name.strip().lower()


def _resolve(reference: str) -> Any:
    module_name, _, attribute = reference.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in attribute.split(".") if attribute else ():
        target = getattr(target, part)
    return target


class Registry:
    """Names to factories, per kind; built-ins first, then what plugins register.

    Args:
        builtins: Kind -> name -> ``"module:attribute"`` reference (imported on first use).
        group: Entry-point group whose plugins are loaded on the first lookup (``None``: none).
    """

    def __init__(
        self,
        builtins: Mapping[Kind, Mapping[str, str]] | None = None,
        *,
        group: str | None = ENTRY_POINT_GROUP,
    ) -> None:
        self.group = group
        self._entries: dict[str, dict[str, _Entry]] = {kind: {} for kind in KINDS}
        self._builtins: dict[str, tuple[str, ...]] = {kind: () for kind in KINDS}
        for kind, table in (builtins or {}).items():
            self._builtins[kind] = tuple(table)
            for name, reference in table.items():
                self._entries[kind][name] = _Entry(reference, BUILTIN_SOURCE)
        self._plugins_loaded = group is None
        self._loading: str | None = None
        self.plugins: dict[str, str] = {}
        """Plugins loaded: entry point name -> its value (``module`` or ``module:function``)."""

    @overload
    def register(self, kind: Kind, name: str) -> Callable[[_F], _F]: ...

    @overload
    def register(self, kind: Kind, name: str, target: _F, *, replace: bool = False) -> _F: ...

    @overload
    def register(self, kind: Kind, name: str, target: str, *, replace: bool = False) -> str: ...

    def register(self, kind: Kind, name: str, target: Any = None, *, replace: bool = False) -> Any:
        """Register a factory (a class or a function) under ``name``; usable as a decorator.

        Args:
            kind: One of :data:`KINDS`.
            name: The name configuration files and the CLI use (case-insensitive); for an
                executor, the URL scheme without ``://``.
            target: The factory, or a ``"module:attribute"`` reference imported on first use.
                Without it, ``register`` returns a decorator.
            replace: Allow replacing a name already registered (a built-in included).

        Raises:
            ValueError: Unknown kind, an empty name, or a name already taken (without
                ``replace``).
        """
        if target is None:

            def decorator(factory: _F) -> _F:
                self.register(kind, name, factory, replace=replace)
                return factory

            return decorator
        entries = self._kind(kind)
        key = _normalize(name)
        if not key:
            raise ValueError(f"a {kind} needs a name")
        if key in entries and not replace:
            raise ValueError(
                f"{kind} {key!r} is already registered ({entries[key].source}); "
                "pass replace=True to replace it"
            )
        entries[key] = _Entry(target, self._loading or "registered")
        return target

    def unregister(self, kind: Kind, name: str) -> None:
        """Remove a name (a built-in included); unknown names are ignored."""
        self._kind(kind).pop(_normalize(name), None)

    @overload
    def get(self, kind: Literal["executor"], name: str) -> ExecutorFactory: ...
    @overload
    def get(self, kind: Literal["generator"], name: str) -> GeneratorFactory: ...
    @overload
    def get(self, kind: Literal["filter"], name: str) -> FilterFactory: ...
    @overload
    def get(self, kind: Literal["tuner"], name: str) -> TunerFactory: ...
    @overload
    def get(self, kind: Literal["model"], name: str) -> ModelFactory: ...
    @overload
    def get(self, kind: Literal["judge"], name: str) -> JudgeFactory: ...

    def get(self, kind: Kind, name: str) -> Any:
        """The factory registered under ``name`` (imported now if it was a reference).

        Raises:
            ConfigurationError: No such name (the message lists the available ones), or its
                module cannot be imported.
        """
        key = self.check(kind, name)
        entry = self._entries[kind][key]
        if isinstance(entry.target, str):
            try:
                entry.target = _resolve(entry.target)
            except ConfigurationError:
                raise
            except (ImportError, AttributeError) as exc:
                raise ConfigurationError(
                    f"{kind} {key!r} ({entry.source}) cannot be loaded from {entry.target}: {exc}"
                ) from exc
        return entry.target

    def names(self, kind: Kind) -> list[str]:
        """Every name of ``kind``: built-ins first, in their order, then plugins' and others'."""
        self.load_plugins()
        return list(self._kind(kind))

    def builtin_names(self, kind: Kind) -> tuple[str, ...]:
        """The built-in names of ``kind`` (loads no plugin: for help texts)."""
        self._kind(kind)
        return self._builtins[kind]

    def source(self, kind: Kind, name: str) -> str:
        """Where a name comes from: ``built-in``, the plugin's name, or ``registered``."""
        return self._entries[kind][self.check(kind, name)].source

    def check(self, kind: Kind, name: str, *, also: Iterable[str] = ()) -> str:
        """Return ``name`` normalized (stripped, lower case) when it is registered or in ``also``.

        Args:
            kind: The kind.
            name: The name to check.
            also: More accepted names that are not components (e.g. ``"none"``).

        Raises:
            ConfigurationError: Unknown name; the message lists every accepted one.
        """
        entries = self._kind(kind)
        self.load_plugins()  # a plugin may also replace a built-in: load before any lookup
        key = _normalize(name)
        extra = [_normalize(n) for n in also]
        if key in extra or key in entries:
            return key
        available = ", ".join([*entries, *extra]) or "none registered"
        raise ConfigurationError(f"unknown {kind} {name!r}; available: {available}")

    def load_plugins(self) -> None:
        """Load the entry-point plugins once (later calls do nothing).

        A plugin that raises while loading or registering is skipped with a
        :class:`PluginWarning` naming it; the others still load.
        """
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        from importlib.metadata import entry_points

        assert self.group is not None
        for point in entry_points(group=self.group):
            self._loading = point.name
            try:
                loaded = point.load()
                if callable(loaded) and not isinstance(loaded, ModuleType | type):
                    loaded(self)
            except Exception as exc:  # a broken plugin must not break the others
                warnings.warn(
                    f"text2sql_tune plugin {point.name!r} ({point.value}) could not be loaded "
                    f"and is skipped: {type(exc).__name__}: {exc}",
                    PluginWarning,
                    stacklevel=3,
                )
            else:
                self.plugins[point.name] = point.value
                logger.info("loaded plugin %s (%s)", point.name, point.value)
            finally:
                self._loading = None

    def _kind(self, kind: str) -> dict[str, _Entry]:
        try:
            return self._entries[kind]
        except KeyError:
            raise ValueError(f"unknown kind {kind!r}; kinds: {', '.join(KINDS)}") from None


default_registry = Registry(BUILTINS)
"""The registry configuration files, the CLI and the factories below use."""

register = default_registry.register
get = default_registry.get
names = default_registry.names
builtin_names = default_registry.builtin_names
check = default_registry.check
load_plugins = default_registry.load_plugins
