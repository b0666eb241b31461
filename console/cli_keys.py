"""`packline keys`: every key of every screen with the id a `[keys]` table remaps it by."""

from __future__ import annotations

import click


@click.command("keys")
@click.option("--json", "as_json", is_flag=True)
def keys_cmd(as_json: bool) -> None:
    """List the console's keys and their binding ids (for `[keys]` in the config file)."""
    from console.app import PacklineApp, keyed, remappable
    from console.cli import emit

    rows = [
        {"where": cls.__name__, "key": item.key, "id": item.id, "does": item.description}
        for cls, item in remappable((PacklineApp, *keyed()))
    ]
    if as_json:
        emit(rows)
        return
    for row in rows:
        click.echo(f"{row['id']:<28} {row['key']:<14} {row['does']}  ({row['where']})")
