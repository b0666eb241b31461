"""The app shell: keys (help, remapping), command palette, themes, where it opens."""

from __future__ import annotations

from textual.command import CommandList, CommandPalette

from console.app import DARK, LIGHT, PacklineApp, binding_ids, keyed
from screens.help import HelpScreen
from screens.order import OrderScreen
from screens.queue import QueueScreen
from services.container import Services
from services.settings import load_settings
from tests.screens.helpers import screen_text, settle, wait_for


def palette_top(app: PacklineApp) -> str:
    """The hit Enter would run: the highlighted one of the command palette."""
    if not isinstance(app.screen, CommandPalette):
        return ""
    hits = app.screen.query_one(CommandList)
    if hits.highlighted is None or not hits.option_count:
        return ""
    return str(hits.get_option_at_index(hits.highlighted).prompt)


async def test_question_mark_lists_every_key_of_the_screen(shop: Services) -> None:
    app = PacklineApp(shop)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        await settle(pilot)
        text = screen_text(app)
        for key, what in [
            ("/", "Search"),
            ("space", "Select"),
            ("q", "Quit"),
            ("^p", "Palette"),
            ("⏎", "Open"),
            ("home", "First"),  # hidden from the footer, listed here
            ("O", "Reverse sort"),
        ]:
            assert any(key in line and what in line for line in text.splitlines()), (key, what)
        assert "queue.search" in text  # the id to remap it by
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, QueueScreen)


async def test_keys_are_remapped_by_binding_id(shop: Services, tmp_path: object) -> None:
    config = tmp_path / "config.toml"  # type: ignore[operator]
    config.write_text('[keys]\n"queue.search" = "ctrl+f"\n"queue.bogus" = "x"\n')
    settings = load_settings(config, db=shop.settings.db)
    assert settings.keys == {"queue.search": "ctrl+f", "queue.bogus": "x"}
    app = PacklineApp(shop, keymap=settings.keys)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        assert "Unknown binding ids in [keys]: queue.bogus" in screen_text(app)
        keys = {key: active.binding.action for key, active in app.screen.active_bindings.items()}
        assert keys.get("ctrl+f") == "search" and "slash" not in keys
        await pilot.press("slash")
        await settle(pilot)
        assert not app.screen.query_one("#search").has_focus
        await pilot.press("ctrl+f")
        await settle(pilot)
        assert app.screen.query_one("#search").has_focus


def test_every_binding_has_an_id_and_ids_are_unique_per_class() -> None:
    for cls in (PacklineApp, *keyed()):
        ids = [b.id for b in cls.BINDINGS if hasattr(b, "id") and b.show]  # type: ignore[union-attr]
        assert None not in ids, cls
    assert {"queue.search", "order.set_status", "status.save_email", "app.help"} <= binding_ids(
        (PacklineApp, *keyed())
    )


async def test_palette_jumps_to_an_order_by_number_or_name(shop: Services) -> None:
    row = (await shop.orders.page(limit=5)).rows[3]
    app = PacklineApp(shop)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p", *str(row.number))
        await wait_for(pilot, lambda: palette_top(app).startswith(f"Open order #{row.number}"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, OrderScreen))
        await settle(pilot)
        assert app.screen.ref == row.number
        await pilot.press("escape")
        await settle(pilot)
        last_name = row.customer.name.split()[-1]
        await pilot.press("ctrl+p", *last_name.lower())
        await wait_for(pilot, lambda: f"Open order #{row.number}" in screen_text(app))


async def test_palette_runs_the_screens_actions(shop: Services) -> None:
    app = PacklineApp(shop)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p", *"reverse sort")
        await wait_for(pilot, lambda: palette_top(app).startswith("Reverse sort"))
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, QueueScreen)
        assert screen.flt.descending is False


async def test_light_and_dark_themes(shop: Services) -> None:
    app = PacklineApp(shop)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.theme == DARK
        await pilot.press("ctrl+t")
        assert app.theme == LIGHT
        await pilot.press("ctrl+t")
        assert app.theme == DARK


async def test_opens_on_one_order_and_pack_says_why_it_cannot(shop: Services) -> None:
    app = PacklineApp(shop, order="#1005")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, OrderScreen)
        assert "Order #1005" in screen_text(app)
        await pilot.press("escape")  # the queue is underneath
        await settle(pilot)
        assert isinstance(app.screen, QueueScreen)
    app = PacklineApp(shop, pack="1005")
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, OrderScreen)
        await wait_for(pilot, lambda: "cannot be packed" in screen_text(app))


def test_stylesheets_ship_with_the_package() -> None:
    """CSS is found by absolute path inside the styles package, which pyproject ships."""
    import tomllib
    from pathlib import Path

    import styles

    root = Path(__file__).resolve().parents[2]
    data = tomllib.loads((root / "pyproject.toml").read_text())
    assert "*.tcss" in data["tool"]["setuptools"]["package-data"]["styles"]
    for cls in (PacklineApp, *keyed()):
        css = getattr(cls, "CSS_PATH", None)
        if css is None:
            continue
        path = Path(str(css))
        assert path.is_absolute() and path.exists(), cls
        assert path.parent == Path(styles.__file__).resolve().parent, cls
        assert path.suffix == ".tcss"


async def test_the_queue_frame_paints_before_the_services_and_held_keys_reach_the_queue(
    shop: Services,
) -> None:
    """Start-up paints first, loads behind; "/" typed while loading opens the search."""
    import asyncio

    from screens.starting import StartingScreen

    release = asyncio.Event()

    async def starting() -> tuple[Services, dict[str, str]]:
        await release.wait()
        return shop, {"queue.sort": "ctrl+o"}

    app = PacklineApp(starting=starting)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, StartingScreen))
        await settle(pilot)
        assert "Customer" in screen_text(app) and "opening" in screen_text(app)
        await pilot.press("slash", "1")  # typed before the queue is there: held, not lost
        release.set()
        await wait_for(pilot, lambda: isinstance(app.screen, QueueScreen))
        await settle(pilot)
        search = app.screen.query_one("#search")
        assert search.has_class("-active") and getattr(search, "value", "") == "1"
        await pilot.press("escape")
        await settle(pilot)
        keys = {key: active.binding.action for key, active in app.screen.active_bindings.items()}
        assert keys.get("ctrl+o") == "sort"  # the keymap came with the settings


async def test_a_failed_start_closes_the_app_with_the_reason() -> None:
    from console.app import StartFailed

    async def starting() -> tuple[Services, dict[str, str]]:
        raise StartFailed("cannot open the database: no such file")

    app = PacklineApp(starting=starting)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.return_code is not None)
    assert app.return_code == 1
    assert app.start_error == "cannot open the database: no such file"
