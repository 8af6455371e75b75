"""The CLI reference hook renders every registered command, whatever commands exist."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import typer

from text2sql_tune.cli import app

HOOK = Path(__file__).resolve().parents[1] / "docs" / "hooks" / "cli_reference.py"


def load_hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cli_reference_hook", HOOK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def registered_paths(command: Any, prefix: str) -> list[str]:
    """Command paths found independently of the hook, through Typer's own objects."""
    paths = [prefix]
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            if not sub.hidden:
                paths += registered_paths(sub, f"{prefix} {name}")
    return paths


def test_reference_mentions_every_registered_command() -> None:
    hook = load_hook()
    text = hook.render_reference()
    expected = registered_paths(typer.main.get_command(app), "text2sql-tune")
    assert len(expected) > 1
    for path in expected:
        assert f"`{path}`" in text, path
        assert f"Usage: {path} " in text, path
    assert sorted(hook.command_paths()) == sorted(expected)


def test_reference_shows_options_and_help_without_ansi_or_boxes() -> None:
    text = load_hook().render_reference()
    assert "\x1b[" not in text
    assert "╭" not in text and "│" not in text
    assert "| `--help` | Show this message and exit. |" in text
    assert "--verbose" in text


def test_new_commands_appear_automatically() -> None:
    hook = load_hook()
    extra = typer.Typer()
    tools = typer.Typer(help="Tools.")

    @extra.command()
    def alpha(count: int = typer.Option(3, help="How <many> | times.")) -> None:
        """Do alpha."""

    @tools.command()
    def beta(path: str = typer.Argument(..., help="A path.")) -> None:
        """Do beta."""

    extra.add_typer(tools, name="tools")
    text = hook.render_reference(typer.main.get_command(extra))
    assert "`text2sql-tune alpha`" in text
    assert "#### `text2sql-tune tools beta`" in text
    assert "Do beta." in text and "| `PATH` | A path. [required] |" in text
    # Pipes cannot break the table; angle brackets are not swallowed as HTML.
    assert "How &lt;many> \\| times." in text


def test_on_page_markdown_replaces_only_the_marker() -> None:
    hook = load_hook()
    page = SimpleNamespace(file=SimpleNamespace(src_uri="cli.md"))
    out = hook.on_page_markdown("# CLI\n\n<!-- cli-reference -->\n", page, {}, None)
    assert "<!-- cli-reference -->" not in out
    assert out.startswith("# CLI\n\n## `text2sql-tune`")
    untouched = "# Other page\n"
    assert hook.on_page_markdown(untouched, page, {}, None) == untouched


def test_cli_page_carries_the_marker() -> None:
    cli_md = HOOK.parents[1] / "cli.md"
    assert "<!-- cli-reference -->" in cli_md.read_text(encoding="utf-8")
