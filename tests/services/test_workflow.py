"""The status machine, exhaustively: every (from, to) pair against the table, guards included."""

from __future__ import annotations

import itertools

import pytest

from services.errors import Refused
from services.statuses import Fulfillment, HoldReason, PaymentStatus, Status
from services.workflow import (
    EFFECTS,
    NOTIFY_EVENT,
    REQUIRED,
    TARGET_GUARDS,
    TRANSITIONS,
    IllegalTransition,
    LineFacts,
    OrderFacts,
    Request,
    Workflow,
)

S = Status
WF = Workflow()


def facts(
    status: Status,
    *,
    packed: bool = False,
    shipped: str = "none",
    paid: bool = False,
    terms: bool = False,
    held_from: Status | None = None,
    drop_ship: bool = False,
) -> OrderFacts:
    """An order of two lines; `shipped` is none | some | all."""
    lines = []
    for i in range(2):
        qty = 2
        shipped_qty = {"none": 0, "some": qty if i == 0 else 0, "all": qty}[shipped]
        lines.append(
            LineFacts(
                sku=f"SKU-{i}",
                quantity=qty,
                packed=qty if packed else 0,
                shipped=shipped_qty,
                fulfillment=Fulfillment.DROP_SHIP if drop_ship and i == 1 else Fulfillment.STOCK,
            )
        )
    return OrderFacts(
        number=1042,
        status=status,
        payment_status=PaymentStatus.PAID if paid else PaymentStatus.UNPAID,
        terms_accepted=terms,
        held_from=held_from,
        lines=tuple(lines),
    )


def request_for(dst: Status) -> Request:
    if dst is S.HELD:
        return Request(dst, reason=HoldReason.AWAITING_CUSTOMER)
    return Request(dst)


# An order state under which every guard of `dst` passes (what "allowed by the table" means).
def satisfying(src: Status, dst: Status) -> OrderFacts:
    held_from = dst if src is S.HELD and dst is not S.CANCELED else None
    if dst in (S.SHIPPED, S.COMPLETE, S.RETURN_REQUESTED):
        return facts(src, packed=True, shipped="all", paid=True, held_from=held_from)
    if dst is S.PARTIALLY_SHIPPED:
        return facts(src, packed=True, shipped="some", paid=True, held_from=held_from)
    return facts(src, packed=True, paid=True, held_from=held_from)


@pytest.mark.parametrize(("src", "dst"), list(itertools.product(Status, Status)))
def test_every_pair_follows_the_table(src: Status, dst: Status) -> None:
    order = satisfying(src, dst)
    if dst is S.CANCELED:
        order = facts(src, paid=True, held_from=None)
    allowed = dst in TRANSITIONS[src]
    problem = WF.why_not(order, request_for(dst))
    if allowed:
        assert problem is None, problem
        change = WF.transition(order, request_for(dst))
        assert (change.from_status, change.to_status) == (src, dst)
        assert change.effects == EFFECTS.get(dst, ())
        assert change.notify_event == NOTIFY_EVENT.get(dst)
    else:
        assert problem is not None
        assert f"order #1042 is {src.value}" in problem
        with pytest.raises(IllegalTransition):
            WF.transition(order, request_for(dst))


def test_refusal_names_where_it_can_go() -> None:
    with pytest.raises(Refused) as info:
        WF.transition(facts(S.NEW), Request(S.COMPLETE))
    assert str(info.value) == (
        "order #1042 is new; it can go to processing, held, backorder or canceled"
    )


def test_final_statuses_say_so() -> None:
    msg = WF.why_not(facts(S.CANCELED), Request(S.NEW))
    assert msg == "order #1042 is canceled; it cannot change status"


@pytest.mark.parametrize("src", [s for s in Status if S.HELD in TRANSITIONS[s]])
def test_hold_needs_a_reason_and_other_needs_a_note(src: Status) -> None:
    order = facts(src)
    assert "needs a reason" in (WF.why_not(order, Request(S.HELD)) or "")
    assert "needs a note" in (WF.why_not(order, Request(S.HELD, HoldReason.OTHER)) or "")
    assert WF.why_not(order, Request(S.HELD, HoldReason.OTHER, note="artwork")) is None
    change = WF.transition(order, Request(S.HELD, HoldReason.HIGH_RISK))
    assert change.held_from is src
    assert change.reason is HoldReason.HIGH_RISK


@pytest.mark.parametrize("origin", [s for s in Status if S.HELD in TRANSITIONS[s]])
def test_release_returns_to_where_it_was_held_from(origin: Status) -> None:
    held = satisfying(S.HELD, origin)
    held = OrderFacts(**{**held.__dict__, "held_from": origin})
    for dst in TRANSITIONS[S.HELD]:
        problem = WF.why_not(held, request_for(dst))
        if dst in (origin, S.CANCELED):
            if dst is S.CANCELED and held.any_shipped:
                continue
            assert problem is None, (origin, dst, problem)
        else:
            assert problem is not None and origin.value in problem, (origin, dst)
    # and the dialog offers exactly the origin and cancel
    offered = {s for s, why in WF.available(held).items() if why is None}
    assert origin in offered
    assert offered <= {origin, S.CANCELED}


def test_release_clears_the_hold() -> None:
    held = facts(S.HELD, held_from=S.PROCESSING)
    change = WF.transition(held, Request(S.PROCESSING))
    assert change.held_from is None and change.reason is None


def test_ready_to_ship_needs_packing_and_payment() -> None:
    msg = WF.why_not(facts(S.PROCESSING, paid=True), Request(S.READY_TO_SHIP))
    assert msg == (
        "order #1042 cannot go to ready_to_ship: not everything is packed (SKU-0, SKU-1)"
    )
    msg = WF.why_not(facts(S.PROCESSING, packed=True), Request(S.READY_TO_SHIP))
    assert msg is not None and "payment is unpaid" in msg
    assert (
        WF.why_not(facts(S.PROCESSING, packed=True, terms=True), Request(S.READY_TO_SHIP)) is None
    )
    # drop-ship lines are not packed by us
    assert (
        WF.why_not(
            facts(S.PROCESSING, packed=False, paid=True, drop_ship=True), Request(S.READY_TO_SHIP)
        )
        is not None
    )
    only_drop = OrderFacts(
        number=1,
        status=S.PROCESSING,
        payment_status=PaymentStatus.PAID,
        lines=(LineFacts("D", 1, fulfillment=Fulfillment.DROP_SHIP),),
    )
    assert WF.why_not(only_drop, Request(S.READY_TO_SHIP)) is None


def test_shipped_needs_every_line_shipped() -> None:
    assert "SKU-1" in (WF.why_not(facts(S.PROCESSING, shipped="some"), Request(S.SHIPPED)) or "")
    assert WF.why_not(facts(S.PROCESSING, shipped="all"), Request(S.SHIPPED)) is None
    assert WF.why_not(facts(S.PROCESSING, shipped="none"), Request(S.PARTIALLY_SHIPPED)) is not None
    assert WF.why_not(facts(S.PROCESSING, shipped="all"), Request(S.PARTIALLY_SHIPPED)) is not None


def test_complete_needs_payment_and_cancel_needs_nothing_shipped() -> None:
    assert "payment" in (WF.why_not(facts(S.SHIPPED, shipped="all"), Request(S.COMPLETE)) or "")
    assert WF.why_not(facts(S.SHIPPED, shipped="all", paid=True), Request(S.COMPLETE)) is None
    assert "already shipped" in (
        WF.why_not(facts(S.READY_TO_SHIP, shipped="some"), Request(S.CANCELED)) or ""
    )


def test_every_guard_target_is_reachable() -> None:
    targets = set(itertools.chain.from_iterable(TRANSITIONS.values()))
    assert set(TARGET_GUARDS) <= targets
    assert set(TRANSITIONS) == set(Status)


def test_disabled_statuses_disappear_from_the_table() -> None:
    wf = Workflow.from_config(disabled=["backorder", "ready_to_ship"], labels={"held": "On Hold"})
    assert S.BACKORDER not in wf.statuses
    assert S.BACKORDER not in wf.targets(S.NEW)
    assert "switched off" in (wf.why_not(facts(S.NEW), Request(S.BACKORDER)) or "")
    assert wf.labels[S.HELD] == "On Hold"
    assert "backorder" not in wf.mermaid()
    with pytest.raises(ValueError, match="cannot be switched off"):
        Workflow.from_config(disabled=sorted(REQUIRED)[:1])


def test_mermaid_has_every_edge() -> None:
    text = WF.mermaid()
    assert text.startswith("stateDiagram-v2")
    for src, dsts in TRANSITIONS.items():
        for dst in dsts:
            assert f"    {src.value} --> {dst.value}" in text


@pytest.mark.parametrize("src", [S.SHIPPED, S.PARTIALLY_SHIPPED])
@pytest.mark.parametrize("dst", [S.READY_TO_SHIP, S.PROCESSING])
def test_back_before_shipping_only_once_nothing_is_shipped(src: Status, dst: Status) -> None:
    """Deleting a shipment entered by mistake (services/shipping.py) takes the order back to
    where it shipped from; while goods are out, a status change cannot pretend otherwise."""
    for out in ("some", "all"):
        problem = WF.why_not(facts(src, packed=True, paid=True, shipped=out), Request(dst))
        assert problem is not None and "delete the shipment" in problem, (src, dst, out)
    assert WF.why_not(facts(src, packed=True, paid=True), Request(dst)) is None
    # ready_to_ship keeps its own guard on the way back
    if dst is S.READY_TO_SHIP:
        assert "packed" in (WF.why_not(facts(src, paid=True), Request(dst)) or "")


def test_shipped_back_to_partially_shipped_needs_something_still_out() -> None:
    assert WF.why_not(facts(S.SHIPPED, shipped="some"), Request(S.PARTIALLY_SHIPPED)) is None
    assert WF.why_not(facts(S.SHIPPED, shipped="none"), Request(S.PARTIALLY_SHIPPED)) is not None


def test_backorder_takes_a_vendor_shipment_while_a_stock_line_waits() -> None:
    """A drop-ship vendor may ship its lines while our stock line waits for stock: backorder
    -> partially_shipped (services/shipping.py returns it to backorder in the same
    transaction). Not with nothing shipped, and not once no stock line waits."""
    vendor_shipped = OrderFacts(
        number=1042,
        status=S.BACKORDER,
        lines=(
            LineFacts("STOCK-1", 2, fulfillment=Fulfillment.STOCK),
            LineFacts("DROP-1", 1, shipped=1, fulfillment=Fulfillment.DROP_SHIP),
        ),
    )
    assert WF.why_not(vendor_shipped, Request(S.PARTIALLY_SHIPPED)) is None
    assert S.PARTIALLY_SHIPPED in WF.available(vendor_shipped)
    nothing = facts(S.BACKORDER, drop_ship=True)
    assert "nothing has shipped yet" in (WF.why_not(nothing, Request(S.PARTIALLY_SHIPPED)) or "")
    # Only a drop-ship line is left unshipped: nothing waits for stock.
    no_stock_waiting = OrderFacts(
        number=1042,
        status=S.BACKORDER,
        lines=(
            LineFacts("STOCK-1", 2, shipped=2, fulfillment=Fulfillment.STOCK),
            LineFacts("DROP-1", 1, fulfillment=Fulfillment.DROP_SHIP),
        ),
    )
    problem = WF.why_not(no_stock_waiting, Request(S.PARTIALLY_SHIPPED)) or ""
    assert "no stock line is waiting" in problem
    # Everything shipped is still not a backorder's move to make: processing first.
    assert WF.why_not(facts(S.BACKORDER, shipped="all"), Request(S.SHIPPED)) is not None
    # The guard is about partially_shipped only; backorder -> processing is as before.
    assert WF.why_not(vendor_shipped, Request(S.PROCESSING)) is None


# -- packing: which orders the pack screen opens ------------------------------------------


@pytest.mark.parametrize("status", list(Status))
def test_processing_and_partly_shipped_orders_are_packed(status: Status) -> None:
    from services.workflow import PACKABLE, pack_refusal

    problem = pack_refusal(facts(status))
    expected = status in (S.PROCESSING, S.PARTIALLY_SHIPPED)  # the latter: a vendor went first
    assert (problem is None) == (status in PACKABLE) == expected
    if problem is not None:
        assert problem.startswith("order #1042 cannot be packed: ")


def test_pack_refusals_say_what_to_do() -> None:
    from services.workflow import pack_refusal

    assert pack_refusal(facts(S.NEW)) == (
        "order #1042 cannot be packed: it is new: move it to processing first "
        "(that reserves its stock)"
    )
    assert "release the hold" in (pack_refusal(facts(S.HELD)) or "")
    assert "already packed" in (pack_refusal(facts(S.READY_TO_SHIP)) or "")
    assert pack_refusal(facts(S.SHIPPED)) == (
        "order #1042 cannot be packed: it is shipped: there is nothing to pack"
    )
    only_drop_ship = OrderFacts(
        number=1042,
        status=S.PROCESSING,
        lines=(LineFacts(sku="D", quantity=1, fulfillment=Fulfillment.DROP_SHIP),),
    )
    assert pack_refusal(only_drop_ship) == (
        "order #1042 has nothing to pack: every line ships from a vendor"
    )
