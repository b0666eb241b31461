"""Edit an order (`e` on an order): change quantities, remove or add products, attach a
customer account; the new totals are shown as you type, before anything is saved.

Saving goes through `OrderEditService.edit` (services/order_edits.py) with the version
this screen loaded: one transaction, in the history with the operator, stock
reservations following. When someone else changed the order meanwhile, nothing typed is
lost: the order is loaded again, the operator's changes are laid over it as it is now
(`order_entry_spec.rebase`), lines both changed are named, and ctrl+s saves again.

Keys: on the lines, + and - change the quantity, enter types it, delete sets it to 0
(removed on save); in the product field enter adds the exact SKU or barcode (a scan,
`3*CODE` adds three) and ↓ goes to the matches; ctrl+s saves, escape leaves unsaved.
"""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar, Protocol, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Label, Static

from screens.base import FailureReports, after_typing
from screens.confirm import ConfirmDialog
from screens.format import money_text, safe_line, status_text
from screens.new_order import entry_of
from screens.ports import ConsoleServices
from screens.prompt_dialog import PromptDialog
from screens.untrusted import visible
from screens.widgets.product_picker import ProductPicker
from services.display import money
from services.errors import Conflict, Refused
from services.order_edit_spec import EditResult, OrderEdit
from services.order_entry_spec import (
    NOT_EDITABLE,
    EditRow,
    ProductChoice,
    edit_of,
    edit_preview,
    rebase,
    rows_of,
)
from services.views import OrderDetail
from styles import tcss


class OrderEdits(Protocol):
    async def edit(
        self, ref: str | int, edit: OrderEdit, *, expected_version: int | None = None
    ) -> EditResult: ...


def edits_of(services: object) -> OrderEdits:
    return cast(OrderEdits, services.edits)  # type: ignore[attr-defined]


class OrderEditScreen(FailureReports, Screen[EditResult | None]):
    CSS_PATH = tcss("order_edit")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="order_edit.back"),
        Binding("ctrl+s", "save", "Save", priority=True, id="order_edit.save"),
        Binding("plus,equals_sign", "quantity(1)", "Qty +1", id="order_edit.more"),
        Binding("minus", "quantity(-1)", "Qty -1", id="order_edit.less"),
        Binding("delete", "quantity(0)", "Remove", id="order_edit.remove"),
    ]

    def __init__(self, services: ConsoleServices, ref: str | int) -> None:
        super().__init__()
        self.services = services
        self.edits = edits_of(services)
        self.entry = entry_of(services)
        self.ref = ref
        self.detail: OrderDetail | None = None
        self.rows: list[EditRow] = []
        self.saving = False

    # -- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(Text(f"Loading order {self.ref}…", style="italic"), id="edit-header")
        with VerticalScroll(id="edit-form"):
            yield Static("", id="edit-problem", markup=False)
            with Vertical(id="edit-customer", classes="box"):
                with Horizontal(classes="form-row"):
                    yield Label("E-mail", classes="form-label")
                    yield Input(
                        placeholder="attach the account with this e-mail",
                        id="edit-email",
                        compact=True,
                    )
                with Horizontal(classes="form-row"):
                    yield Label("Name", classes="form-label")
                    yield Input(
                        placeholder="for a new account", id="edit-customer-name", compact=True
                    )
            with Vertical(id="edit-lines-box", classes="box"):
                yield DataTable(id="edit-lines", cursor_type="row")
                yield ProductPicker(
                    self.entry,
                    input_id="edit-product",
                    hits_id="edit-hits",
                    name_width=34,
                    stock_style=lambda _product: "dim",
                    id="edit-picker",
                )
            with Horizontal(classes="form-row"):
                yield Label("Why", classes="form-label")
                yield Input(
                    placeholder="in the history with the changes", id="edit-memo", compact=True
                )
            yield Static("", id="edit-preview", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#edit-lines", DataTable)
        table.add_columns("SKU", "Item", "Qty", "Was", "Price", "Total")
        self.query_one(
            "#edit-lines-box"
        ).border_title = "Lines (+ / - / enter: quantity, delete: remove)"
        self.query_one("#edit-customer").border_title = "Customer account"
        self.query_one("#edit-problem").display = False
        self.query_one("#edit-form").display = False
        self.load()

    # -- data -----------------------------------------------------------------------------

    @work(exit_on_error=False, group="load", exclusive=True, name="load the order")
    async def load(self) -> None:
        detail = await self.services.orders.show(self.ref)
        first = self.detail is None
        self.detail = detail
        self.ref = detail.number
        if first:
            self.rows = rows_of(detail)
            self.query_one("#edit-email", Input).value = detail.row.customer.email
            if detail.status in NOT_EDITABLE:
                self._problem(
                    f"#{detail.number} is {detail.status.value}: only orders that have not "
                    "shipped can be edited"
                )
        self._show()
        if first:
            self.query_one("#edit-form").display = True
            self.set_focus(self.query_one("#edit-lines", DataTable))

    def _show(self, select: str | None = None) -> None:
        detail = self.detail
        if detail is None:
            return
        header = Text.assemble(
            "Edit ",
            (f"#{detail.number}", "bold"),
            "  ",
            status_text(self.services.workflow, detail.status),
            (f"  v{detail.version}", "dim"),
        )
        self.query_one("#edit-header", Static).update(header)
        table = self.query_one("#edit-lines", DataTable)
        keep = table.cursor_row
        table.clear()
        cur = detail.row.currency
        for r in self.rows:
            style = "bold yellow" if r.changed else ""
            if r.quantity == 0:
                style = "strike dim"
            table.add_row(
                safe_line(r.sku, width=16),
                safe_line(r.name, width=34),
                Text(str(r.quantity), style=style or "bold"),
                Text(str(r.original) if r.original else "new", style="dim"),
                money_text(r.unit_price, cur),
                money_text(r.unit_price * r.quantity, cur),
                key=r.sku,
            )
        if self.rows:
            index = next((i for i, r in enumerate(self.rows) if r.sku == select), None)
            table.move_cursor(row=index if index is not None else min(keep, len(self.rows) - 1))
        self._show_preview()

    def _show_preview(self) -> None:
        if self.detail is None:
            return
        preview = edit_preview(self.detail, self.rows)
        changes = sum(1 for r in self.rows if r.changed)
        email = self.query_one("#edit-email", Input).value.strip()
        customer = email and email != self.detail.row.customer.email
        text = Text("Now: ", style="bold")
        text.append(money(self.detail.row.total, self.detail.row.currency))
        text.append("   After saving: ", style="bold")
        text.append(preview.text(), style="bold green" if changes or customer else "")
        if not changes and not customer:
            text.append("   (nothing changed yet)", style="dim")
        self.query_one("#edit-preview", Static).update(text)

    # -- changing lines -------------------------------------------------------------------

    def _current(self) -> int | None:
        table = self.query_one("#edit-lines", DataTable)
        if not self.rows or not table.has_focus:
            return None
        row = table.cursor_row
        return row if 0 <= row < len(self.rows) else None

    def _set_quantity(self, index: int, quantity: int) -> None:
        r = self.rows[index]
        if quantity < r.done:
            self._problem(f"{r.sku}: {r.done} already packed or shipped; it cannot go below that")
            quantity = r.done
        else:
            self._problem("")
        self.rows[index] = replace(r, quantity=max(quantity, 0))
        self._show(select=r.sku)

    def action_quantity(self, step: int) -> None:
        index = self._current()
        if index is None:
            return
        r = self.rows[index]
        new = 0 if step == 0 else max(r.quantity + step, 0)
        self._set_quantity(index, new)

    @on(DataTable.RowSelected, "#edit-lines")
    def _row_entered(self) -> None:
        self.action_type_quantity()

    def action_type_quantity(self) -> None:
        index = self._current()
        if index is None:
            return
        r = self.rows[index]

        def answer(text: str | None) -> None:
            if text is None:
                return
            if not text.strip().isdigit() or int(text) > 100_000:
                self._problem(f"{visible(text)[:20]!r} is not a whole quantity")
                return
            self._set_quantity(index, int(text))

        self.app.push_screen(
            PromptDialog(f"New quantity of {visible(r.sku)}", value=str(r.quantity)), answer
        )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("quantity", "type_quantity"):
            return self.query_one("#edit-lines", DataTable).has_focus
        return True

    @on(Input.Changed, "#edit-email")
    def _email_typed(self) -> None:
        self._show_preview()

    # -- adding products ------------------------------------------------------------------

    @on(ProductPicker.Chosen)
    def _product_chosen(self, event: ProductPicker.Chosen) -> None:
        self._add(event.product, event.quantity)

    @on(ProductPicker.Missing)
    def _product_missing(self, event: ProductPicker.Missing) -> None:
        self._problem(event.message)

    def _add(self, product: ProductChoice, qty: int) -> None:
        self._problem("")
        for i, r in enumerate(self.rows):
            if r.sku == product.sku:
                self.rows[i] = replace(r, quantity=r.quantity + qty)
                break
        else:
            self.rows.append(EditRow(product.sku, product.name, product.price, qty, 0))
        self._show(select=product.sku)

    # -- saving ---------------------------------------------------------------------------

    def _problem(self, message: str) -> None:
        widget = self.query_one("#edit-problem", Static)
        widget.update(Text(message, style="bold yellow"))
        widget.display = bool(message)

    def _edit(self) -> OrderEdit | None:
        if self.detail is None:
            return None
        email = self.query_one("#edit-email", Input).value.strip()
        name = self.query_one("#edit-customer-name", Input).value.strip()
        customer = email if email and email != self.detail.row.customer.email else None
        return edit_of(
            self.rows,
            customer_email=customer,
            customer_name=(name or None) if customer else None,
            memo=self.query_one("#edit-memo", Input).value,
        )

    @after_typing
    def action_save(self) -> None:
        edit = self._edit()
        if edit is None or self.saving or self.detail is None:
            return
        if edit.empty:
            self._problem("nothing to save: change a quantity, add a product or the customer")
            return
        self.saving = True
        self.save(self.detail.number, edit, self.detail.version)

    @work(exit_on_error=False, group="save", exclusive=True, name="save the edit")
    async def save(self, number: int, edit: OrderEdit, version: int) -> None:
        try:
            result = await self.edits.edit(number, edit, expected_version=version)
        except Conflict as conflict:
            await self._rebase(conflict)
            return
        except Refused as exc:
            self._problem(visible(str(exc)))
            raise
        finally:
            self.saving = False
        self.dismiss(result)

    async def _rebase(self, conflict: Conflict) -> None:
        """Someone else saved first: keep what was typed, over the order as it is now."""
        fresh = await self.services.orders.show(self.ref)
        self.rows, clashes = rebase(self.rows, rows_of(fresh))
        self.detail = fresh
        self._show()
        who = conflict.by or "someone else"
        message = (
            f"#{fresh.number} was changed by {who} meanwhile (now v{fresh.version}); your "
            "changes are kept over the order as it is now — check them and save again"
        )
        if clashes:
            message += ": " + "; ".join(clashes)
        self._problem(visible(message))

    def reload_after_conflict(self, conflict: Conflict) -> None:
        self.load()

    def action_back(self) -> None:
        edit = self._edit()
        if edit is None or edit.empty:
            self.dismiss(None)
            return

        def answer(leave: bool | None) -> None:
            if leave:
                self.dismiss(None)

        self.app.push_screen(
            ConfirmDialog(
                "Leave without saving?",
                "Your changes to this order are not saved.",
                yes="Leave",
                no="Keep editing",
            ),
            answer,
        )
