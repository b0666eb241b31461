"""An order typed in by hand (phone, counter), keyboard only: find the customer or type a
new one, the addresses, products by SKU, name or a barcode scan (with what is on the
shelf), quantities, shipping, payment method, a note; ctrl+s creates it.

The order goes through `OrderEntryService.create`, i.e. `OrderService.create`: it starts
`new` with the same checks as an imported one (risk review, payment holds). Every problem
is shown next to its field at once; nothing is saved until all are fixed.

Keys: tab / shift+tab between fields; in a search field ↓ goes to its hits and enter picks
one; in the product field enter adds the exact SKU or barcode (what a scanner sends;
`3*CODE` adds three); on the lines table + and - change the quantity, delete removes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar, Protocol, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import (
    Button,
    Checkbox,
    DataTable,
    Footer,
    Input,
    Label,
    OptionList,
    Select,
    Static,
)
from textual.widgets.option_list import Option

from screens.base import FailureReports, after_typing
from screens.format import money_text, safe_line
from screens.ports import ConsoleServices
from screens.untrusted import visible
from screens.widgets.product_picker import (
    SEARCH_DELAY,
    ProductFinder,
    ProductPicker,
)
from screens.widgets.product_picker import (
    split_quantity as split_quantity,  # re-exported: screens/returns.py imports it from here
)
from services.order_entry_spec import (
    SHIPPING_METHODS,
    CustomerChoice,
    DraftAddress,
    DraftInvalid,
    OrderDraft,
    ProductChoice,
)
from services.statuses import PaymentMethod
from services.views import OrderDetail
from styles import tcss

ADDRESS_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("name", "Name", "as on the parcel (default: the customer)"),
    ("company", "Company", ""),
    ("line1", "Street", "street and number"),
    ("line2", "Line 2", "apartment, suite …"),
    ("city", "City", ""),
    ("region", "Region", "state / county"),
    ("postal_code", "ZIP", "postal code"),
    ("country", "Country", "2 letters: US, GB, DE …"),
    ("phone", "Phone", ""),
)


class OrderEntry(ProductFinder, Protocol):
    """What this screen calls (services/order_entry.py); `Services.entry` satisfies it."""

    async def find_customers(self, query: str, limit: int = 8) -> tuple[CustomerChoice, ...]: ...

    async def create(self, draft: OrderDraft) -> OrderDetail: ...


def entry_of(services: object) -> OrderEntry:
    return cast(OrderEntry, services.entry)  # type: ignore[attr-defined]


def widget_id(key: str) -> str:
    """The input an error key of `DraftInvalid` belongs to (`ship.postal_code` ->
    `ship-postal-code`; every line error goes to the lines)."""
    if key == "lines" or key.startswith("line:"):
        return "lines"
    return key.replace(".", "-").replace("_", "-")


@dataclass
class _Line:
    product: ProductChoice
    quantity: int


class NewOrderScreen(FailureReports, Screen[None]):
    CSS_PATH = tcss("new_order")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="new_order.back"),
        Binding("ctrl+s", "save", "Create order", priority=True, id="new_order.save"),
        Binding("plus,equals_sign", "quantity(1)", "Qty +1", id="new_order.more"),
        Binding("minus", "quantity(-1)", "Qty -1", id="new_order.less"),
        Binding("delete", "remove_line", "Remove line", id="new_order.remove"),
    ]

    def __init__(self, services: ConsoleServices) -> None:
        super().__init__()
        self.services = services
        self.entry = entry_of(services)
        self.lines: list[_Line] = []
        self.saving = False
        self.created: OrderDetail | None = None
        self._customer_hits: list[CustomerChoice] = []
        self._customer_timer: Timer | None = None

    # -- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(Text("New order", style="bold"), id="new-order-header")
        with VerticalScroll(id="new-order-form"):
            with Vertical(id="customer-box", classes="box"):
                yield Input(
                    placeholder="find a customer: name or e-mail (↓ for the list)",
                    id="customer-search",
                    compact=True,
                )
                yield OptionList(id="customer-hits")
                yield from self._field("Customer", "customer-name", "full name")
                yield from self._field("E-mail", "email", "for the confirmation e-mail")
            with Vertical(id="ship-box", classes="box"):
                for key, label, hint in ADDRESS_FIELDS:
                    yield from self._field(label, f"ship-{key.replace('_', '-')}", hint)
                yield Checkbox("Bill to the shipping address", True, id="bill-same", compact=True)
                with Vertical(id="bill-fields"):
                    for key, label, hint in ADDRESS_FIELDS:
                        yield from self._field(label, f"bill-{key.replace('_', '-')}", hint)
            with Vertical(id="lines-box", classes="box"):
                yield ProductPicker(
                    self.entry, input_id="product", hits_id="product-hits", id="product-picker"
                )
                yield DataTable(id="lines", cursor_type="row", zebra_stripes=False)
                yield Static("", id="err-lines", classes="field-error", markup=False)
            with Vertical(id="money-box", classes="box"):
                with Horizontal(classes="form-row"):
                    yield Label("Shipping", classes="form-label")
                    yield Select[str](
                        [(m, m) for m in SHIPPING_METHODS],
                        value=SHIPPING_METHODS[0],
                        allow_blank=False,
                        id="shipping-method",
                        compact=True,
                    )
                    yield Input(placeholder="cost, e.g. 7.99", id="shipping-total", compact=True)
                yield Static("", id="err-shipping-total", classes="field-error", markup=False)
                with Horizontal(classes="form-row"):
                    yield Label("Payment", classes="form-label")
                    yield Select[str](
                        [(m.value, m.value) for m in PaymentMethod],
                        value=PaymentMethod.CARD.value,
                        allow_blank=False,
                        id="payment-method",
                        compact=True,
                    )
                yield from self._field("Note", "note", "the customer's note (on the slip)")
                yield Checkbox("E-mail the order confirmation", False, id="notify", compact=True)
            yield Static("", id="new-order-totals", markup=False)
            with Horizontal(id="new-order-buttons"):
                yield Button("Create order (ctrl+s)", id="save", variant="primary", compact=True)
        yield Footer()

    @staticmethod
    def _field(label: str, wid: str, hint: str) -> Iterator[Widget]:
        row = Horizontal(
            Label(label, classes="form-label"),
            Input(placeholder=hint, id=wid, compact=True),
            classes="form-row",
        )
        yield row
        yield Static("", id=f"err-{wid}", classes="field-error", markup=False)

    def on_mount(self) -> None:
        table = self.query_one("#lines", DataTable)
        table.add_columns("SKU", "Item", "Qty", "Price", "Total", "Stock")
        table.border_title = "Lines (+ / - quantity, delete removes)"
        for wid in ("customer-hits", "bill-fields"):
            self.query_one(f"#{wid}").display = False
        for err in self.query(".field-error"):
            err.display = False
        self.query_one("#customer-box").border_title = "Customer"
        self.query_one("#ship-box").border_title = "Ship to"
        self.query_one("#lines-box").border_title = "Products"
        self.query_one("#money-box").border_title = "Shipping and payment"
        self.set_focus(self.query_one("#customer-search", Input))
        self._show_lines()

    # -- customers ------------------------------------------------------------------------

    @on(Input.Changed, "#customer-search")
    def _customer_typed(self, event: Input.Changed) -> None:
        if self._customer_timer is not None:
            self._customer_timer.stop()
        query = event.value
        self._customer_timer = self.set_timer(SEARCH_DELAY, lambda: self.search_customers(query))

    @work(exit_on_error=False, group="customers", exclusive=True, name="find customers")
    async def search_customers(self, query: str) -> None:
        hits = await self.entry.find_customers(query) if query.strip() else ()
        self._customer_hits = list(hits)
        box = self.query_one("#customer-hits", OptionList)
        box.clear_options()
        for c in hits:
            label = Text.assemble(
                safe_line(c.name, "bold", 30),
                "  ",
                safe_line(c.email or "no e-mail", "dim", 40),
                (f"  {c.orders} order{'s' if c.orders != 1 else ''}", "dim"),
            )
            box.add_option(Option(label))
        box.display = bool(hits)

    @on(OptionList.OptionSelected, "#customer-hits")
    def _customer_picked(self, event: OptionList.OptionSelected) -> None:
        if not 0 <= event.option_index < len(self._customer_hits):
            return
        c = self._customer_hits[event.option_index]
        self._set("customer-name", c.name)
        self._set("email", c.email)
        if c.address is not None:
            self._fill_address("ship", c.address)
        if c.phone and not self._get("ship-phone"):
            self._set("ship-phone", c.phone)
        self.query_one("#customer-hits").display = False
        self.set_focus(self.query_one("#ship-line1", Input))

    def _fill_address(self, prefix: str, a: DraftAddress) -> None:
        for key, _label, _hint in ADDRESS_FIELDS:
            self._set(f"{prefix}-{key.replace('_', '-')}", getattr(a, key))

    # -- products -------------------------------------------------------------------------

    @on(ProductPicker.Chosen)
    def _product_chosen(self, event: ProductPicker.Chosen) -> None:
        self._add(event.product, event.quantity)

    @on(ProductPicker.Missing)
    def _product_missing(self, event: ProductPicker.Missing) -> None:
        self._error("lines", event.message)

    def _add(self, product: ProductChoice, qty: int) -> None:
        for line in self.lines:
            if line.product.sku == product.sku:
                line.quantity += qty
                break
        else:
            self.lines.append(_Line(product, qty))
        self._error("lines", "")
        self._show_lines(select=product.sku)
        if not product.drop_ship and product.available < self._units(product.sku):
            self.notify(
                f"{product.sku}: only {product.available} on the shelf "
                f"({product.stock_text}); it may go to backorder",
                severity="warning",
                markup=False,
            )

    def _units(self, sku: str) -> int:
        return sum(ln.quantity for ln in self.lines if ln.product.sku == sku)

    def _show_lines(self, select: str | None = None) -> None:
        table = self.query_one("#lines", DataTable)
        keep = table.cursor_row
        table.clear()
        for line in self.lines:
            p = line.product
            short = not p.drop_ship and p.available < line.quantity
            table.add_row(
                safe_line(p.sku, width=16),
                safe_line(p.name, width=36),
                Text(str(line.quantity), style="bold"),
                money_text(p.price, "USD"),
                money_text(p.price * line.quantity, "USD"),
                Text(p.stock_text, style="yellow" if short else "green"),
                key=p.sku,
            )
        if select is not None:
            index = next((i for i, ln in enumerate(self.lines) if ln.product.sku == select), 0)
            table.move_cursor(row=index)
        elif self.lines:
            table.move_cursor(row=min(keep, len(self.lines) - 1))
        table.display = bool(self.lines)
        self._show_totals()

    def _show_totals(self) -> None:
        subtotal = sum(ln.product.price * ln.quantity for ln in self.lines)
        items = sum(ln.quantity for ln in self.lines)
        text = Text.assemble(
            (f"{items} item{'s' if items != 1 else ''}", "bold"),
            "  subtotal ",
            money_text(subtotal, "USD"),
            ("  + shipping; tax as the shop charges it", "dim"),
        )
        self.query_one("#new-order-totals", Static).update(text)

    def _current_line(self) -> _Line | None:
        table = self.query_one("#lines", DataTable)
        if not self.lines or not table.has_focus:
            return None
        row = table.cursor_row
        return self.lines[row] if 0 <= row < len(self.lines) else None

    def action_quantity(self, step: int) -> None:
        line = self._current_line()
        if line is None:
            return
        line.quantity = max(1, line.quantity + step)
        self._show_lines(select=line.product.sku)

    def action_remove_line(self) -> None:
        line = self._current_line()
        if line is not None:
            self.lines.remove(line)
            self._show_lines()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("quantity", "remove_line"):
            return self.query_one("#lines", DataTable).has_focus
        return True

    # -- keys in search fields ------------------------------------------------------------

    def on_key(self, event: object) -> None:
        key = getattr(event, "key", "")
        focused = self.focused
        if key != "down" or not isinstance(focused, Input):
            return
        if focused.id == "customer-search" and self.query_one("#customer-hits").display:
            box = self.query_one("#customer-hits", OptionList)
            self.set_focus(box)
            if box.option_count:
                box.highlighted = 0
            getattr(event, "stop", lambda: None)()

    @on(Checkbox.Changed, "#bill-same")
    def _bill_same(self, event: Checkbox.Changed) -> None:
        self.query_one("#bill-fields").display = not event.value

    # -- saving ---------------------------------------------------------------------------

    def _get(self, wid: str) -> str:
        return self.query_one(f"#{wid}", Input).value

    def _set(self, wid: str, value: str) -> None:
        self.query_one(f"#{wid}", Input).value = value

    def _address(self, prefix: str) -> DraftAddress:
        values = {k: self._get(f"{prefix}-{k.replace('_', '-')}") for k, _l, _h in ADDRESS_FIELDS}
        return DraftAddress(**values)

    def draft(self) -> OrderDraft:
        bill_same = self.query_one("#bill-same", Checkbox).value
        method = self.query_one("#shipping-method", Select).value
        payment = self.query_one("#payment-method", Select).value
        return OrderDraft(
            customer_name=self._get("customer-name"),
            email=self._get("email"),
            shipping=self._address("ship"),
            billing=None if bill_same else self._address("bill"),
            lines=tuple((ln.product.sku, ln.quantity) for ln in self.lines),
            shipping_method=str(method),
            shipping_total=self._get("shipping-total"),
            payment_method=str(payment),
            note=self._get("note"),
            notify=self.query_one("#notify", Checkbox).value,
        )

    def _error(self, wid: str, message: str) -> None:
        found = self.query(f"#err-{wid}")
        if not found:
            return
        err = found.first(Static)
        err.update(Text(message, style="bold red"))
        err.display = bool(message)

    def show_errors(self, errors: dict[str, str]) -> None:
        for err in self.query(".field-error"):
            err.display = False
        grouped: dict[str, list[str]] = {}
        for key, message in errors.items():
            prefix = f"{key.partition(':')[2]}: " if key.startswith("line:") else ""
            grouped.setdefault(widget_id(key), []).append(prefix + visible(message))
        first: Widget | None = None
        for wid, messages in grouped.items():
            self._error(wid, "; ".join(messages))
            if first is None:
                target = self.query(f"#{wid}")
                first = target.first() if target else None
        if first is not None:
            self.set_focus(first)
            first.scroll_visible()

    @after_typing
    def action_save(self) -> None:
        if not self.saving:
            self.saving = True
            self.save(self.draft())

    @on(Button.Pressed, "#save")
    def _save_pressed(self) -> None:
        self.action_save()

    @work(exit_on_error=False, group="save", exclusive=True, name="create the order")
    async def save(self, draft: OrderDraft) -> None:
        try:
            detail = await self.entry.create(draft)
        except DraftInvalid as exc:
            self.show_errors(exc.errors)
            self.notify(
                f"{len(exc.errors)} thing(s) to fix before the order can be created",
                severity="warning",
                markup=False,
            )
            return
        finally:
            self.saving = False
        self.created = detail
        hold = f" ({detail.row.hold_reason.value})" if detail.row.hold_reason else ""
        self.notify(
            f"#{detail.number} created: {detail.status.value}{hold}, {detail.row.total_text}",
            markup=False,
        )
        open_order = getattr(self.app, "open_order", None)
        self.dismiss(None)
        if callable(open_order):
            open_order(detail.number)

    def action_back(self) -> None:
        self.dismiss(None)
