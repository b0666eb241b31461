"""Command palette (ctrl+p): jump to an order, or run any action of the current screen.

Orders are found through the same `OrderService.page(search=...)` the queue's `/` uses
(index-backed, so as quick at a million orders); names in the results are untrusted and
are shown as literal text.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual.command import DiscoveryHit, Hit, Hits, Provider

from screens.format import safe_line, status_text
from screens.outbox import OutboxScreen
from services.order_query import OrderFilter

if TYPE_CHECKING:
    from console.app import PacklineApp

MAX_ORDER_HITS = 8
# Palette plumbing, not something to run from the palette itself.
SKIP_ACTIONS = frozenset({"command_palette", "app.command_palette", "help_quit"})


class OrderCommands(Provider):
    """`1042`, `#1042`, `grace`, `ada@example.org`, a SKU or a tracking number."""

    async def search(self, query: str) -> Hits:
        words = query.strip()
        if not words:
            return
        app = cast("PacklineApp", self.app)
        try:
            page = await app.services.orders.page(OrderFilter(search=words), limit=MAX_ORDER_HITS)
        except Exception:  # the palette keeps working when the database does not
            return
        wanted = words.lstrip("#")
        for rank, row in enumerate(page.rows):
            display = Text.assemble(
                "Open order ",
                (f"#{row.number}", "bold"),
                "  ",
                safe_line(row.customer.name, width=40),
                "  ",
                status_text(app.services.workflow, row.status),
            )
            exact = str(row.number) == wanted
            yield Hit(
                score=1.0 if exact else 0.9 - rank * 0.01,
                match_display=display,
                command=partial(app.open_order, row.number),
                text=f"Open order #{row.number}",
            )


class ScreenCommands(Provider):
    """Every key of the screen the palette was opened on, runnable by name."""

    def _commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        found: list[tuple[str, str, Callable[[], object]]] = []
        seen: set[str] = set()
        for active in self.screen.active_bindings.values():
            binding = active.binding
            if not active.enabled or binding.system or not binding.description:
                continue
            if binding.action in SKIP_ACTIONS or binding.action in seen:
                continue
            seen.add(binding.action)
            key = self.app.get_key_display(binding)
            found.append(
                (
                    binding.description,
                    key,
                    partial(self.app.run_action, binding.action, active.node),
                )
            )
        return found

    async def discover(self) -> Hits:
        for description, key, command in self._commands():
            yield DiscoveryHit(Text(f"{description}  ({key})"), command, text=description)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for description, key, command in self._commands():
            score = matcher.match(description)
            if score > 0:
                display = matcher.highlight(description)
                yield Hit(score, display + f"  ({key})", command, text=description)


class ToolCommands(Provider):
    """Screens reachable from anywhere: the outbox of notifications that did not go out."""

    def _tools(self) -> list[tuple[str, Callable[[], object]]]:
        app = cast("PacklineApp", self.app)

        def outbox() -> None:
            if not isinstance(app.screen, OutboxScreen):
                app.push_screen(OutboxScreen(app.services))

        def new_order() -> None:
            from screens.new_order import NewOrderScreen

            if not isinstance(app.screen, NewOrderScreen):
                app.push_screen(NewOrderScreen(app.services))

        return [
            ("Outbox: failed and dead notifications", outbox),
            ("New order: type one in by hand", new_order),
        ]

    async def discover(self) -> Hits:
        for text, command in self._tools():
            yield DiscoveryHit(text, command, text=text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, command in self._tools():
            words = "notifications e-mail outbox" if "Outbox" in text else "create add order"
            score = max(matcher.match(text), matcher.match(words))
            if score > 0:
                yield Hit(score, matcher.highlight(text), command, text=text)
