"""MkDocs hook: render the ``text2sql-tune`` command reference from the CLI itself.

A page containing the marker ``<!-- cli-reference -->`` gets it replaced with the usage, help text
and options of every command and subcommand of the Typer app, walked recursively, so a command
added to the CLI shows up in the docs at the next build with no edit to any page. The text comes
from the click objects Typer builds (``typer.main.get_command``), rendered as plain markdown: no
rich boxes, no ANSI colours.

Enabled in ``mkdocs.yml``::

    hooks:
      - docs/hooks/cli_reference.py
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from typing import Any

# Typer (>= 0.29) ships its own copy of click, so the objects below are typed loosely and handled
# by what they offer (``list_commands`` for groups, ``param_type_name`` for parameters).
Command = Any
Context = Any

MARKER = "<!-- cli-reference -->"
PROG_NAME = "text2sql-tune"

_NO_REWRAP = re.compile(r"^\s*\x08\s*$", re.MULTILINE)  # click's "\b" no-rewrap marker lines


def root_command() -> Command:
    """Return the click command behind the ``text2sql-tune`` Typer app."""
    import typer

    from text2sql_tune.cli import app

    return typer.main.get_command(app)


def iter_commands(command: Command, ctx: Context) -> Iterator[tuple[Command, Context]]:
    """Yield ``command`` and every visible subcommand below it, depth first, in CLI order."""
    yield command, ctx
    if not _is_group(command):
        return
    for name in command.list_commands(ctx):
        sub = command.get_command(ctx, name)
        if sub is None or sub.hidden:
            continue
        yield from iter_commands(sub, sub.context_class(sub, info_name=name, parent=ctx))


def _is_group(command: Command) -> bool:
    return callable(getattr(command, "list_commands", None))


def _help_text(command: Command) -> str:
    text = inspect.cleandoc(command.help or "")
    text = _NO_REWRAP.sub("", text)
    return _escape_angles(text.strip())


def _escape_angles(text: str) -> str:
    """Escape ``<`` outside code spans so that ``<file>`` in help text is not read as HTML."""
    parts = re.split(r"(`[^`]*`)", text)
    return "".join(p if p.startswith("`") else p.replace("<", "&lt;") for p in parts)


def _cell(text: str) -> str:
    """Make ``text`` safe inside a markdown table cell."""
    return _escape_angles(" ".join(text.split()).replace("|", "\\|"))


def _code_cell(text: str) -> str:
    # A pipe inside a code span would still split the table row: show choices with a slash.
    return "`" + " ".join(text.split()).replace("|", " / ") + "`"


def render_command(command: Command, ctx: Context, level: int) -> str:
    """Render one command as markdown: heading, usage, help text, arguments and options."""
    path = ctx.command_path
    pieces = " ".join(command.collect_usage_pieces(ctx))
    pieces = re.sub(r"\{(\w+)\}", lambda m: m.group(1).upper(), pieces)  # Typer's {job} -> JOB
    lines = [f"{'#' * level} `{path}`", "", "```text", f"Usage: {path} {pieces}".rstrip(), "```"]
    help_text = _help_text(command)
    if help_text:
        lines += ["", help_text]
    arguments: list[tuple[str, str]] = []
    options: list[tuple[str, str]] = []
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if param.param_type_name == "argument":
            name = (param.name or "").upper() + ("..." if param.nargs == -1 else "")
            help_ = record[1] if record is not None else getattr(param, "help", None) or ""
            arguments.append((name, help_))
        elif record is not None:
            options.append(record)
    for title, rows in (("Arguments", arguments), ("Options", options)):
        if not rows:
            continue
        lines += ["", f"**{title}**", "", "| Name | Description |", "| --- | --- |"]
        lines += [f"| {_code_cell(name)} | {_cell(desc) or ' '} |" for name, desc in rows]
    if _is_group(command):
        subs = [
            (name, sub)
            for name in command.list_commands(ctx)
            if (sub := command.get_command(ctx, name)) is not None and not sub.hidden
        ]
        if subs:
            lines += ["", "**Commands**", "", "| Command | Summary |", "| --- | --- |"]
            lines += [
                f"| `{name}` | {_cell(sub.get_short_help_str(limit=200))} |" for name, sub in subs
            ]
    return "\n".join(lines)


def render_reference(command: Command | None = None, *, level: int = 2) -> str:
    """Render the whole CLI (every command and subcommand) as one markdown fragment.

    Args:
        command: The root command; default the ``text2sql-tune`` app.
        level: Heading level of the root command; subcommands go one level deeper per group.
    """
    root = command or root_command()
    root_ctx = root.context_class(root, info_name=PROG_NAME)
    sections = []
    for cmd, ctx in iter_commands(root, root_ctx):
        depth = 0
        parent = ctx.parent
        while parent is not None:
            depth += 1
            parent = parent.parent
        sections.append(render_command(cmd, ctx, min(level + depth, 6)))
    return "\n\n".join(sections) + "\n"


def command_paths(command: Command | None = None) -> list[str]:
    """Return the full path of every command, e.g. ``"text2sql-tune evaluate"``."""
    root = command or root_command()
    root_ctx = root.context_class(root, info_name=PROG_NAME)
    return [ctx.command_path for _, ctx in iter_commands(root, root_ctx)]


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """MkDocs event: replace the marker with the generated reference."""
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, render_reference())
