"""Pick lists: one walk through the bins, for one order or a batch, printable as text and HTML."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from services.container import Services
from services.errors import NotFound
from services.models import Order, OrderLine, Product, ProductBarcode, StockLevel, Warehouse
from services.picking import NothingToPick, bin_key
from services.statuses import Status
from tests.services.test_packing_support import UPC_A, order_to_pack, seed_shop


@pytest.fixture
async def shop(services: Services) -> Services:
    return await seed_shop(services)


def test_bins_sort_naturally() -> None:
    bins = ["A-10-1", "", "a-2-1", "B-1-1", "A-2-10", "A-2-2", "E01-3"]
    assert sorted(bins, key=bin_key) == ["a-2-1", "A-2-2", "A-2-10", "A-10-1", "B-1-1", "E01-3", ""]


async def test_one_order_in_walking_order(shop: Services) -> None:
    number = await order_to_pack(
        shop,
        (("PL-10003", 1), ("PL-10002", 2), ("PL-10001", 1), ("PL-10009", 1), ("PL-10008", 4)),
    )
    pick = await shop.picking.pick_list([f"#{number}"])
    assert [(r.warehouse, r.bin, r.sku, r.quantity) for r in pick.rows] == [
        ("MAIN", "A-02-4", "PL-10008", 4),
        ("MAIN", "B-02-5", "PL-10009", 1),
        ("MAIN", "C-01-3", "PL-10002", 2),
        ("MAIN", "D-01-4", "PL-10003", 1),
    ]  # the drop-ship line (PL-10001) is not picked here
    assert pick.rows[2].barcode == UPC_A and pick.rows[2].orders == ((number, 2),)
    assert pick.orders == (number,) and pick.units == 8 and pick.created_by == "tester"


async def test_the_orders_warehouse_wins_where_it_has_the_product(shop: Services) -> None:
    number = await order_to_pack(shop, (("PL-10002", 1), ("PL-10003", 1), ("PL-10008", 1)))
    async with shop.db.write_session() as s:
        east = (await s.execute(select(Warehouse.id).where(Warehouse.code == "EAST"))).scalar_one()
        await s.execute(update(Order).where(Order.number == number).values(warehouse_id=east))
        # Lines holding no stock (an order from before reservations) follow the order's.
        order_id = select(Order.id).where(Order.number == number).scalar_subquery()
        await s.execute(
            update(OrderLine)
            .where(OrderLine.order_id == order_id)
            .values(warehouse_id=None, reserved=0)
        )
        await s.commit()
    pick = await shop.picking.pick_list([number])
    # PL-10003 has no bin in EAST (the order's), so it comes from MAIN, walked first.
    assert [(r.warehouse, r.bin, r.sku) for r in pick.rows] == [
        ("MAIN", "D-01-4", "PL-10003"),
        ("EAST", "E01-3", "PL-10002"),
        ("EAST", "E02-4", "PL-10008"),
    ]


async def test_out_of_stock_in_main_is_picked_where_it_is(shop: Services) -> None:
    number = await order_to_pack(shop, (("PL-10002", 1),), status=Status.NEW)
    async with shop.db.write_session() as s:
        pid = (await s.execute(select(Product.id).where(Product.sku == "PL-10002"))).scalar_one()
        main = (await s.execute(select(Warehouse.id).where(Warehouse.code == "MAIN"))).scalar_one()
        await s.execute(
            update(StockLevel)
            .where(StockLevel.product_id == pid, StockLevel.warehouse_id == main)
            .values(on_hand=0)
        )
        await s.commit()
    await shop.orders.set_status(number, Status.PROCESSING)  # reserves it where it is
    pick = await shop.picking.pick_list([number])
    assert [(r.warehouse, r.bin) for r in pick.rows] == [("EAST", "E01-3")]


async def test_a_batch_visits_each_bin_once(shop: Services) -> None:
    first = await order_to_pack(shop, (("PL-10002", 2), ("PL-10003", 1)))
    second = await order_to_pack(shop, (("PL-10008", 1), ("PL-10002", 1)))
    waiting = await order_to_pack(shop, (("PL-10002", 5),), status=Status.NEW)
    # Packed units are not picked again.
    sid = (await shop.packing.start(second)).session_id
    await shop.packing.scan(second, "0" + UPC_A, session_id=sid)
    pick = await shop.picking.pick_list([first, second, waiting, first])
    assert pick.orders == (first, second)
    assert [(r.bin, r.sku, r.quantity, r.orders) for r in pick.rows] == [
        ("A-02-4", "PL-10008", 1, ((second, 1),)),
        ("C-01-3", "PL-10002", 2, ((first, 2),)),
        ("D-01-4", "PL-10003", 1, ((first, 1),)),
    ]
    assert pick.skipped == (
        (
            waiting,
            f"order #{waiting} cannot be packed: it is new: move it to processing first "
            "(that reserves its stock)",
        ),
    )
    third = await order_to_pack(shop, (("PL-10002", 4),))
    pick = await shop.picking.pick_list([first, third])
    [row] = [r for r in pick.rows if r.sku == "PL-10002"]
    assert row.quantity == 6 and row.orders == ((first, 2), (third, 4))
    data = pick.to_json()
    assert data["rows"][0]["orders"] == [
        {"number": first, "quantity": 2},
        {"number": third, "quantity": 4},
    ]
    with pytest.raises(NothingToPick, match="it is new"):
        await shop.picking.pick_list([waiting])
    with pytest.raises(NotFound, match="no order #999999"):
        await shop.picking.pick_list([first, 999999])


async def test_printable_as_text_and_html_with_names_kept_as_data(shop: Services) -> None:
    async with shop.db.write_session() as s:
        main = (await s.execute(select(Warehouse.id).where(Warehouse.code == "MAIN"))).scalar_one()
        product = Product(sku="PL-EVIL", name="<script>alert(1)</script> \x1b[31mRed", price=100)
        s.add(product)
        await s.flush()
        s.add(ProductBarcode(code="INT-EVIL", product_id=product.id, kind="internal"))
        s.add(StockLevel(product_id=product.id, warehouse_id=main, bin="A-01-0", on_hand=5))
        await s.commit()
    number = await order_to_pack(shop, (("PL-EVIL", 1), ("PL-10002", 2)))
    pick = await shop.picking.pick_list([number])
    text = shop.picking.render_text(pick)
    assert "\x1b" not in text and "<script>alert(1)</script> <ESC>" in text
    lines = text.splitlines()
    evil = next(i for i, ln in enumerate(lines) if "PL-EVIL" in ln)
    plain = next(i for i, ln in enumerate(lines) if "PL-10002" in ln)
    assert evil < plain and "A-01-0" in lines[evil] and f"#{number} x2" in lines[plain]
    html = shop.picking.render_html(pick)
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert f"#{number}" in html and "C-01-3" in html
