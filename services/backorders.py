"""Splitting units off an order into a new order that waits in `backorder`.

What moves: whole units of stock lines, at their prices, with the stock reserved for them.
What stays: shipping, tax and the payments (money already taken stays where it was taken);
the backorder copies the payment status, as it was paid with the original. The customer
and a copy of the addresses go with it. Both histories and the audit log record the split,
and the backorder is searchable and announced to webhooks like any new order.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import func, select

from services import outbox
from services.errors import InvalidInput
from services.models import Address, Order, OrderLine, StatusEvent
from services.orders import FIRST_ORDER_NUMBER, OrderService, record_arrival
from services.statuses import Fulfillment, Status
from services.uow import UnitOfWork
from services.workflow import Request


async def split_off(
    uow: UnitOfWork,
    order: Order,
    moves: Mapping[int, int],
    *,
    orders: OrderService,
    why: str,
    notify: bool = False,
) -> Order:
    """Move `moves` (order line id -> units) of `order` to a new order, in backorder.

    `order` must be loaded with its lines, customer and addresses (UnitOfWork.order).
    """
    s = uow.session
    now = uow.clock()
    by_id = {ln.id: ln for ln in order.lines}
    for line_id, units in moves.items():
        line = by_id.get(line_id)
        if line is None or line.fulfillment is not Fulfillment.STOCK:
            raise InvalidInput(f"line {line_id} is not a stock line of order #{order.number}")
        if not 0 < units <= line.quantity - line.packed - line.shipped:
            raise InvalidInput(f"{line.sku}: cannot move {units} of its unpacked units")
    addresses: dict[int, Address] = {}
    for addr in (order.shipping_address, order.billing_address):
        if addr is not None and addr.id not in addresses:
            addresses[addr.id] = Address(
                customer_id=addr.customer_id,
                name=addr.name,
                company=addr.company,
                line1=addr.line1,
                line2=addr.line2,
                city=addr.city,
                region=addr.region,
                postal_code=addr.postal_code,
                country=addr.country,
                phone=addr.phone,
            )
    s.add_all(addresses.values())
    await s.flush()
    moved: list[OrderLine] = []
    for line in order.lines:
        units = moves.get(line.id, 0)
        if units == 0:
            continue
        line.quantity -= units
        keep = min(line.reserved, line.quantity)  # stock held for the units that stay
        moved.append(
            OrderLine(
                position=len(moved),
                product_id=line.product_id,
                sku=line.sku,
                name=line.name,
                quantity=units,
                unit_price=line.unit_price,
                fulfillment=Fulfillment.STOCK,
                warehouse_id=line.warehouse_id,
                reserved=line.reserved - keep,
            )
        )
        line.reserved = keep
    value = sum(ln.quantity * ln.unit_price for ln in moved)
    units_moved = sum(ln.quantity for ln in moved)
    order.subtotal -= value
    order.total -= value
    order.item_count -= units_moved

    def copy_of(addr: Address | None) -> int | None:
        return addresses[addr.id].id if addr is not None else None

    highest = (await s.execute(select(func.max(Order.number)))).scalar()
    number = await uow.next_number("order_number", max(int(highest or 0) + 1, FIRST_ORDER_NUMBER))
    child = Order(
        number=number,
        channel=order.channel,
        customer_id=order.customer_id,
        email=order.email,
        status=Status.NEW,
        payment_status=order.payment_status,
        payment_method=order.payment_method,
        terms_accepted=order.terms_accepted,
        currency=order.currency,
        subtotal=value,
        total=value,
        item_count=units_moved,
        note=order.note,
        shipping_method=order.shipping_method,
        shipping_address_id=copy_of(order.shipping_address),
        billing_address_id=copy_of(order.billing_address),
        warehouse_id=order.warehouse_id,
        risk_score=order.risk_score,
        risk_reasons=list(order.risk_reasons or ()),
        placed_at=order.placed_at,
        updated_at=now,
        updated_by=uow.actor,
        lines=moved,
    )
    s.add(child)
    await s.flush()
    name = order.customer.name if order.customer else ""
    await record_arrival(uow, child, name=name, skus=[ln.sku for ln in moved], at=now)
    outbox.webhooks(
        uow,
        child,
        "order.created",
        orders.webhooks,
        payload={"at": now.isoformat(), "channel": order.channel, "split_from": order.number},
    )
    listed = ", ".join(f"{ln.sku} ×{ln.quantity}" for ln in moved)
    s.add(
        StatusEvent(
            order_id=order.id,
            kind="edit",
            from_status=order.status,
            to_status=order.status,
            actor=uow.actor,
            at=now,
            memo=f"{why}: {listed} moved to backorder #{number}",
        )
    )
    uow.touch(order)
    await orders.apply_transition(
        uow,
        child,
        Request(Status.BACKORDER),
        memo=f"split from #{order.number} ({why}): {listed}",
        notify=notify,
        payload={"split_from": order.number},
    )
    uow.audit(
        "order.split",
        "order",
        order.number,
        backorder=number,
        lines=[{"sku": ln.sku, "quantity": ln.quantity} for ln in moved],
        why=why,
    )
    return child
