"""What the long-running commands share: LLM options, wait lines, early-stop messages.

The LLM options bound retries, waits and deadlines and set the outage stop. Their defaults are
those of the ``[llm]`` section of a run's configuration (:class:`~text2sql_tune.config.LLMConfig`),
which match :class:`~text2sql_tune.llm.OpenAIChatClient`'s (a test checks it); importing this
module imports neither httpx nor pydantic, so ``--help`` stays fast.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Annotated, Any

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
    "CallTimeoutOption",
    "MaxFailuresOption",
    "MaxRetriesOption",
    "MaxWaitOption",
    "TimeoutOption",
    "client_options",
    "reporting_stops",
    "retry_printer",
    "settings",
]

DEFAULTS = LLM_DEFAULTS
"""The default settings (``[llm]`` of a configuration without one)."""

# Waits shorter than this are not printed (they show in the retry count); all are logged.
_PRINT_WAITS_FROM_S = 1.0

MaxRetriesOption = Annotated[
    int,
    typer.Option(
        "--max-retries",
        min=0,
        help="Retries per LLM call after a 429, 5xx, timeout or unreadable answer.",
    ),
]
MaxWaitOption = Annotated[
    float,
    typer.Option(
        "--max-wait",
        min=0.0,
        help="Longest wait (s) honoured from a Retry-After header; longer ones are capped.",
    ),
]
TimeoutOption = Annotated[
    float,
    typer.Option(
        "--timeout",
        min=0.001,
        help="Longest one HTTP attempt may take in all (s), a slow trickle included.",
    ),
]
CallTimeoutOption = Annotated[
    float,
    typer.Option(
        "--call-timeout",
        min=0.001,
        help="Longest one LLM call may take with all its retries and waits (s).",
    ),
]
MaxFailuresOption = Annotated[
    int,
    typer.Option(
        "--max-failures",
        min=1,
        help="Calls in a row without an answer (provider down) before the run stops, exit 4.",
    ),
]


def settings(
    max_retries: int, max_wait: float, timeout: float, call_timeout: float, max_failures: int
) -> LLMConfig:
    """The ``[llm]`` section the LLM options of a command describe."""
    from ..config import LLMConfig

    return LLMConfig(
        max_retries=max_retries,
        max_wait_s=max_wait,
        timeout_s=timeout,
        call_timeout_s=call_timeout,
        max_failures=max_failures,
    )


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
