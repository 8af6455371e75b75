"""What the long-running commands share: LLM options, wait lines, early-stop messages.

The LLM options bound retries, waits and deadlines and set the outage stop. Their defaults are
those of the ``[llm]`` section of a run's configuration (:class:`~text2sql_tune.config.LLMConfig`),
which match :class:`~text2sql_tune.llm.OpenAIChatClient`'s (a test checks it); importing this
module imports neither httpx nor pydantic, so ``--help`` stays fast.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, cast

import typer
from rich.console import Console
from rich.progress import Progress

from .._defaults import LLM_DEFAULTS
from ..errors import ProviderOutageError

if TYPE_CHECKING:
    from ..config import LLMConfig
    from ..llm import RetryEvent

__all__ = [
    "DEFAULTS",
    "FROM_OPTIONS",
    "client_options",
    "reporting_stops",
    "retry_printer",
    "with_llm_options",
    "with_llm_overrides",
]

DEFAULTS = LLM_DEFAULTS
"""The default settings (``[llm]`` of a configuration without one)."""

# Waits shorter than this are not printed (they show in the retry count); all are logged.
_PRINT_WAITS_FROM_S = 1.0

_F = TypeVar("_F", bound=Callable[..., Any])

# [llm] setting -> (flag, least value): the LLM options, in the order they are shown
_FLAGS: dict[str, tuple[str, float]] = {
    "max_retries": ("--max-retries", 0),
    "max_wait_s": ("--max-wait", 0.0),
    "timeout_s": ("--timeout", 0.001),
    "call_timeout_s": ("--call-timeout", 0.001),
    "max_failures": ("--max-failures", 1),
}
_HELP = {
    "max_retries": "Retries per LLM call after a 429, 5xx, timeout or unreadable answer.",
    "max_wait_s": "Longest wait (s) honoured from a Retry-After header; longer ones are capped.",
    "timeout_s": "Longest one HTTP attempt may take in all (s), a slow trickle included.",
    "call_timeout_s": "Longest one LLM call may take with all its retries and waits (s).",
    "max_failures": "Calls in a row without an answer (provider down) before the run stops, "
    "exit 4.",
}


def _parameter(key: str, overrides: bool) -> inspect.Parameter:
    """The command parameter of the option for ``[llm]`` setting ``key``."""
    flag, least = _FLAGS[key]
    default = getattr(DEFAULTS, key)
    help = f"Overrides [llm] {key}." if overrides else _HELP[key]
    kind: Any = type(default) | None if overrides else type(default)
    return inspect.Parameter(
        flag.removeprefix("--").replace("-", "_"),
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        default=None if overrides else default,
        annotation=Annotated[kind, typer.Option(flag, min=least, help=help)],
    )


def _with_options(overrides: bool) -> Callable[[_F], _F]:
    def expand(command: _F) -> _F:
        signature = inspect.signature(command)
        params = [
            # Annotations are text (postponed): evaluate them as ``eval_str=True`` would.
            p.replace(annotation=eval(p.annotation, command.__globals__))
            if isinstance(p.annotation, str)
            else p
            for p in signature.parameters.values()
            if p.name != "llm"
        ]
        where = list(signature.parameters).index("llm")
        options = [_parameter(key, overrides) for key in _FLAGS]
        names = {option.name: key for option, key in zip(options, _FLAGS, strict=True)}

        @functools.wraps(command)
        def run(**kwargs: Any) -> Any:
            given = {key: kwargs.pop(name) for name, key in names.items()}
            if overrides:
                return command(**kwargs, llm={k: v for k, v in given.items() if v is not None})
            from ..config import LLMConfig

            return command(**kwargs, llm=LLMConfig(**given))

        expanded = signature.replace(parameters=[*params[:where], *options, *params[where:]])
        run.__signature__ = expanded  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in expanded.parameters.values()}
        return cast(_F, run)

    return expand


FROM_OPTIONS: Any = None
"""The default of a command's ``llm`` parameter (the options always give it a value)."""

with_llm_options = _with_options(overrides=False)
"""Give a command the LLM options in place of its ``llm`` parameter, which gets their
:class:`~text2sql_tune.config.LLMConfig`."""

with_llm_overrides = _with_options(overrides=True)
"""Give a command options overriding ``[llm]`` settings in place of its ``llm`` parameter,
which gets the settings given, ``{key: value}``."""


def client_options(settings: LLMConfig, console: Console, *, quiet: bool = False) -> dict[str, Any]:
    """Keyword arguments for a command's chat clients; ``on_retry`` prints on ``console``."""
    return {**settings.client_options(), "on_retry": retry_printer(console, quiet=quiet)}


def retry_printer(console: Console, *, quiet: bool = False) -> Callable[[RetryEvent], None]:
    """An ``on_retry`` callback printing one line per wait of a second or more on ``console``.

    The line names the provider and model, the status, the wait and the next attempt, e.g.
    ``openai gpt-4o: HTTP 429 (Rate limit reached); waiting 12.0 s (Retry-After) before attempt
    3 of 7``. Rich prints it above any live progress bar.
    """

    def show(event: RetryEvent) -> None:
        if not quiet and event.wait_s >= _PRINT_WAITS_FROM_S:
            console.print(event.describe(), style="yellow", highlight=False, soft_wrap=True)

    return show


@contextlib.contextmanager
def reporting_stops(
    progress: Progress, console: Console, saved: Callable[[], str]
) -> Iterator[None]:
    """Say what is saved when a run stops early: on Ctrl-C (then exit 130) or an outage (exit 4).

    Args:
        progress: The live display, stopped first so the message stands on its own line.
        console: Where the message goes (stderr).
        saved: Says what is saved now, e.g. ``"12 records are saved in raw.jsonl"`` (or that
            nothing is; it never names a file that was not written).
    """
    try:
        yield
    except KeyboardInterrupt:
        progress.stop()
        console.print(
            f"[yellow]interrupted:[/] {saved()}; run the same command again to continue.",
            highlight=False,
        )
        raise typer.Exit(130) from None
    except ProviderOutageError:
        progress.stop()
        console.print(
            f"[yellow]stopped:[/] the provider is not answering; {saved()}. Run the same command "
            "again once it is reachable: nothing saved is asked again.",
            highlight=False,
        )
        raise
