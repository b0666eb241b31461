"""docs/commands.md names every command the CLI has (it is the list DESIGN.md §4 grew into)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click

from console.cli import cli

DOCS = Path(__file__).resolve().parents[2] / "docs" / "commands.md"


def commands(group: click.Group, path: tuple[str, ...] = ("packline",)) -> Iterator[str]:
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))
        else:
            yield " ".join((*path, name))


def test_every_command_is_in_the_command_list() -> None:
    listed = DOCS.read_text()
    found = list(commands(cli))
    assert len(found) > 60
    missing = [name for name in found if f"`{name}" not in listed]
    assert not missing, f"docs/commands.md does not list: {missing}"
