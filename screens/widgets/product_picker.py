"""The product field of the order screens: type a SKU, a name or scan a barcode.

Typing searches (after SEARCH_DELAY without a key) and lists the hits below the field;
↓ goes into them and enter on one picks it. Enter in the field adds the exact SKU or
barcode, which is what a scanner sends; `3*CODE` counts three. The picker only finds the
product: it posts `Chosen(product, quantity)` or `Missing(code, quantity)` and each
screen adds the line, or shows the problem, its own way.

Scans are burst-safe: a scanner types a code and Enter about a key a millisecond, and the
next scan may follow at once. The field hands over its value and empties itself in the
handler of the Enter key itself (`CodeInput`), so the keys of the next scan land in an
empty field and two scans are never read as one. A code that matches no product is put
back (when nothing was typed since) so the operator can pick from the hits.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Protocol

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.message import Message
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Input, OptionList
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from screens.format import safe_line
from screens.untrusted import visible
from services.display import money
from services.errors import Refused
from services.order_entry_spec import ProductChoice

SEARCH_DELAY = 0.2  # seconds without a key before the search runs
PLACEHOLDER = "add a product: SKU, name or scan (3*CODE adds three)"


class ProductFinder(Protocol):
    """What the picker asks (services/order_entry.py); `Services.entry` satisfies it."""

    async def find_products(self, query: str, limit: int = 8) -> tuple[ProductChoice, ...]: ...

    async def product(self, code: str) -> ProductChoice: ...


def split_quantity(text: str) -> tuple[int, str]:
    """`3*PL-10002` -> (3, "PL-10002"); a plain code counts one."""
    head, sep, rest = text.partition("*")
    if sep and head.strip().isdigit() and 0 < int(head) <= 10_000 and rest.strip():
        return int(head), rest.strip()
    return 1, text.strip()


def stock_by_shelf(product: ProductChoice) -> str:
    """Green when it can ship (on a shelf or from its vendor), yellow when it cannot."""
    return "green" if product.available or product.drop_ship else "yellow"


class CodeInput(Input):
    """An Input that takes Enter itself: submits its value and empties itself at once.

    Input's own enter binding runs only once the key has bubbled up to the App, and by
    then the field has already taken keys that followed (the next scan): the value would
    be two scans run together. Handled here, in the field's own queue, Enter sees exactly
    the keys before it.
    """

    async def on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            await self.action_submit()

    async def action_submit(self) -> None:
        value, self.value = self.value, ""
        self.post_message(self.Submitted(self, value))


class ProductPicker(Widget):
    """The field and its hits; read `Chosen` and `Missing`."""

    DEFAULT_CSS = """
    ProductPicker {
        height: auto;
        layout: vertical;
    }
    ProductPicker > OptionList {
        height: auto;
        max-height: 8;
    }
    """

    class Chosen(Message):
        """A product to add: an exact code entered, or a hit picked."""

        def __init__(self, picker: ProductPicker, product: ProductChoice, quantity: int) -> None:
            super().__init__()
            self.picker = picker
            self.product = product
            self.quantity = quantity

    class Missing(Message):
        """Enter on a code that is no product's SKU or barcode."""

        def __init__(self, picker: ProductPicker, code: str, quantity: int) -> None:
            super().__init__()
            self.picker = picker
            self.code = code
            self.quantity = quantity

        @property
        def message(self) -> str:
            """For the operator; the code made visible and cut."""
            return f"no product has SKU or barcode {visible(self.code)[:40]}: pick one ↓"

    def __init__(
        self,
        finder: ProductFinder,
        *,
        input_id: str,
        hits_id: str,
        placeholder: str = PLACEHOLDER,
        name_width: int = 36,
        stock_style: Callable[[ProductChoice], str] = stock_by_shelf,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.finder = finder
        self.input_id = input_id
        self.hits_id = hits_id
        self.placeholder = placeholder
        self.name_width = name_width
        self.stock_style = stock_style
        self.hits: list[ProductChoice] = []
        self._timer: Timer | None = None
        self._codes: deque[tuple[str, int, str]] = deque()  # (code, quantity, as typed)
        self._looking = False  # a look_up worker is taking them

    def compose(self) -> ComposeResult:
        yield CodeInput(placeholder=self.placeholder, id=self.input_id, compact=True)
        yield OptionList(id=self.hits_id)

    @property
    def field(self) -> Input:
        return self.query_one(f"#{self.input_id}", Input)

    @property
    def hit_list(self) -> OptionList:
        return self.query_one(f"#{self.hits_id}", OptionList)

    def on_mount(self) -> None:
        self.hit_list.display = False

    # -- searching ------------------------------------------------------------------------

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        event.stop()
        if self._timer is not None:
            self._timer.stop()
        query = split_quantity(event.value)[1]
        self._timer = self.set_timer(SEARCH_DELAY, lambda: self.search(query))

    @work(exit_on_error=False, group="search", exclusive=True, name="find products")
    async def search(self, query: str) -> None:
        hits = await self.finder.find_products(query) if query.strip() else ()
        self.hits = list(hits)
        box = self.hit_list
        box.clear_options()
        for p in hits:
            label = Text.assemble(
                safe_line(p.sku, "bold", 16),
                "  ",
                safe_line(p.name, "", self.name_width),
                "  ",
                money(p.price),
                "  ",
                (p.stock_text, self.stock_style(p)),
            )
            box.add_option(Option(label))
        box.display = bool(hits)

    def on_key(self, event: events.Key) -> None:
        box = self.hit_list
        if event.key == "down" and self.field.has_focus and box.display and box.option_count:
            self.screen.set_focus(box)
            box.highlighted = 0
            event.stop()

    # -- adding ---------------------------------------------------------------------------

    @on(Input.Submitted)
    def _entered(self, event: Input.Submitted) -> None:
        event.stop()
        qty, code = split_quantity(event.value)  # the value at Enter; the field is empty now
        if code:
            self._codes.append((code, qty, event.value))
            if not self._looking:
                self._looking = True
                self.look_up()

    @work(exit_on_error=False, group="add", name="add the product")
    async def look_up(self) -> None:
        """The codes entered, one at a time in the order they came: a scan's answer (and
        the problem it shows) never overtakes the one before it. On a failure the codes
        still waiting are dropped; the screen reports it."""
        try:
            while self._codes:
                code, qty, typed = self._codes.popleft()
                try:
                    product = await self.finder.product(code)
                except Refused:
                    if not self.field.value:  # nothing typed since: put it back to pick from
                        self.field.value = typed
                    self.post_message(self.Missing(self, code, qty))
                    continue
                if not self.field.value:
                    self._done()
                self.post_message(self.Chosen(self, product, qty))
        except BaseException:
            self._codes.clear()
            raise
        finally:
            self._looking = False

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if 0 <= event.option_index < len(self.hits):
            qty, _code = split_quantity(self.field.value)
            product = self.hits[event.option_index]
            self.field.value = ""
            self._done()
            self.screen.set_focus(self.field)
            self.post_message(self.Chosen(self, product, qty))

    def _done(self) -> None:
        self.hit_list.display = False

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Worker messages do not bubble: a failure goes to the screen, which reports
        every failure in one place (screens.base.FailureReports)."""
        if event.state is WorkerState.ERROR:
            self.screen.post_message(Worker.StateChanged(event.worker, event.state))
