"""Typing an order in by hand: find the customer and the products (by SKU, name or a
scanned barcode, with what is on the shelf per warehouse), then create the order through
`OrderService.create`, the same path and checks as every other order.

`create` checks every field first and refuses with all the problems at once
(`DraftInvalid.errors`, keyed by field), so a screen can show each next to its field;
nothing is written unless everything is right.
"""

from __future__ import annotations

from sqlalchemy import func, or_, select

from services import search
from services.amounts import parse_amount
from services.db import Database
from services.errors import InvalidInput, NotFound
from services.models import Address, Customer, Order, Product, ProductBarcode, StockLevel, Warehouse
from services.order_entry_spec import (
    CustomerChoice,
    DraftAddress,
    DraftInvalid,
    OrderDraft,
    ProductChoice,
    StockAt,
)
from services.orders import NewAddress, NewOrder, OrderService
from services.statuses import PaymentMethod
from services.uow import Clock, UnitOfWork, utcnow
from services.views import OrderDetail

MAX_HITS = 20
MAX_QUANTITY = 100_000
MAX_TEXT = 200
# Orders matching a customer query's first word looked at (newest by term order); enough
# for a screen of distinct customers, and bounded however common the word is.
CUSTOMER_SCAN = 2_000


def _like(text: str) -> str:
    """`text` for LIKE, its wildcards taken literally (escape character `\\`)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class OrderEntryService:
    def __init__(self, db: Database, orders: OrderService, *, clock: Clock = utcnow) -> None:
        self.db = db
        self.orders = orders
        self.clock = clock

    def _uow(self) -> UnitOfWork:
        return UnitOfWork(self.db, write=False, clock=self.clock, actor=self.orders.operator)

    # -- looking things up -----------------------------------------------------------------

    async def find_products(self, query: str, limit: int = 8) -> tuple[ProductChoice, ...]:
        """An exact SKU or barcode first (what a scanner sends), then SKUs starting with
        the query and names containing it; active products only, with their stock."""
        q = query.strip()
        if not q:
            return ()
        limit = max(1, min(limit, MAX_HITS))
        async with self._uow() as uow:
            s = uow.session
            exact = await self._exact(uow, q)
            pattern = _like(q.casefold())
            found = list(
                (
                    await s.execute(
                        select(Product)
                        .where(
                            Product.active.is_(True),
                            or_(
                                func.lower(Product.sku).like(pattern + "%", escape="\\"),
                                func.lower(Product.name).like("%" + pattern + "%", escape="\\"),
                            ),
                        )
                        .order_by(Product.sku)
                        .limit(limit)
                    )
                ).scalars()
            )
            products = ([exact] if exact is not None else []) + [
                p for p in found if exact is None or p.id != exact.id
            ]
            return await self._choices(uow, products[:limit])

    async def product(self, code: str) -> ProductChoice:
        """The product whose SKU or barcode is exactly `code`."""
        q = code.strip()
        async with self._uow() as uow:
            found = await self._exact(uow, q)
            if found is None:
                raise NotFound(f"no product has SKU or barcode {q[:64]!r}")
            return (await self._choices(uow, [found]))[0]

    async def _exact(self, uow: UnitOfWork, code: str) -> Product | None:
        if not code:
            return None
        s = uow.session
        by_sku = (await s.execute(select(Product).where(Product.sku == code))).scalar_one_or_none()
        if by_sku is not None:
            return by_sku
        return (
            await s.execute(
                select(Product)
                .join(ProductBarcode, ProductBarcode.product_id == Product.id)
                .where(ProductBarcode.code == code)
            )
        ).scalar_one_or_none()

    async def _choices(self, uow: UnitOfWork, products: list[Product]) -> tuple[ProductChoice, ...]:
        if not products:
            return ()
        s = uow.session
        ids = [p.id for p in products]
        barcodes: dict[int, str] = {}
        for pid, code in (
            await s.execute(
                select(ProductBarcode.product_id, ProductBarcode.code)
                .where(ProductBarcode.product_id.in_(ids))
                .order_by(
                    ProductBarcode.product_id,
                    ProductBarcode.kind == "internal",
                    ProductBarcode.code,
                )
            )
        ).all():
            barcodes.setdefault(pid, code)
        stock: dict[int, list[StockAt]] = {}
        for pid, code, on_hand, reserved in (
            await s.execute(
                select(
                    StockLevel.product_id, Warehouse.code, StockLevel.on_hand, StockLevel.reserved
                )
                .join(Warehouse, Warehouse.id == StockLevel.warehouse_id)
                .where(StockLevel.product_id.in_(ids))
                .order_by(StockLevel.product_id, Warehouse.priority, Warehouse.id)
            )
        ).all():
            stock.setdefault(pid, []).append(StockAt(code, max(on_hand - reserved, 0)))
        return tuple(
            ProductChoice(
                sku=p.sku,
                name=p.name,
                price=p.price,
                barcode=barcodes.get(p.id, ""),
                drop_ship=p.drop_ship,
                active=p.active,
                stock=tuple(stock.get(p.id, ())),
            )
            for p in products
        )

    async def find_customers(self, query: str, limit: int = 8) -> tuple[CustomerChoice, ...]:
        """Customers of orders whose search terms match every word of the query (name words,
        e-mail prefix: the queue's index, so as quick at a million orders), most recent
        first, with where their latest order went (to fill the address in)."""
        words = search.query_words(query)
        if not words:
            return ()
        limit = max(1, min(limit, MAX_HITS))
        async with self._uow() as uow:
            s = uow.session
            stmt = (
                select(Order.id, Order.customer_id)
                .where(
                    Order.id.in_(search.prefix_select(words[0]).limit(CUSTOMER_SCAN)),
                    Order.customer_id.is_not(None),
                    *(Order.id.in_(search.prefix_select(w)) for w in words[1:]),
                )
                .order_by(Order.id.desc())
            )
            ids: list[int] = []
            for _order_id, customer_id in (await s.execute(stmt)).all():
                if customer_id is not None and customer_id not in ids:
                    ids.append(int(customer_id))
                if len(ids) == limit:
                    break
            if not ids:
                return ()
            customers = {
                c.id: c
                for c in (await s.execute(select(Customer).where(Customer.id.in_(ids)))).scalars()
            }
            counts = dict(
                (
                    await s.execute(
                        select(Order.customer_id, func.count())
                        .where(Order.customer_id.in_(ids))
                        .group_by(Order.customer_id)
                    )
                ).all()
            )
            latest = (
                select(Order.customer_id, func.max(Order.id).label("last"))
                .where(Order.customer_id.in_(ids))
                .group_by(Order.customer_id)
                .subquery()
            )
            addresses = {
                int(cid): addr
                for cid, addr in (
                    await s.execute(
                        select(latest.c.customer_id, Address)
                        .join(Order, Order.id == latest.c.last)
                        .join(Address, Address.id == Order.shipping_address_id)
                    )
                ).all()
            }
            return tuple(
                CustomerChoice(
                    id=cid,
                    name=customers[cid].name,
                    email=customers[cid].email,
                    phone=customers[cid].phone,
                    orders=int(counts.get(cid, 0)),
                    address=_draft_address(addresses[cid]) if cid in addresses else None,
                )
                for cid in ids
                if cid in customers
            )

    # -- creating ----------------------------------------------------------------------------

    async def create(self, draft: OrderDraft) -> OrderDetail:
        """Check every field (all problems at once, see the module docstring), then create
        the order through `OrderService.create`: it starts `new`, with the usual checks."""
        errors: dict[str, str] = {}
        name = draft.customer_name.strip()
        if not name:
            errors["customer_name"] = "a customer name is needed"
        elif len(name) > MAX_TEXT:
            errors["customer_name"] = f"at most {MAX_TEXT} characters"
        email = draft.email.strip()
        if email and ("@" not in email or any(c.isspace() for c in email) or len(email) > 320):
            errors["email"] = f"{email[:60]!r} is not an e-mail address"
        shipping = _address(draft.shipping, "ship", name, errors)
        billing = _address(draft.billing, "bill", name, errors) if draft.billing else None
        method = PaymentMethod.CARD
        try:
            method = PaymentMethod(draft.payment_method.strip().lower())
        except ValueError:
            choices = ", ".join(m.value for m in PaymentMethod)
            errors["payment_method"] = f"choose one of {choices}"
        shipping_total = 0
        if draft.shipping_total.strip() and draft.shipping_total.strip() not in ("0", "0.00"):
            try:
                shipping_total = parse_amount(draft.shipping_total, what="shipping")
            except InvalidInput as exc:
                errors["shipping_total"] = str(exc)
        if not draft.shipping_method.strip() or len(draft.shipping_method) > 64:
            errors["shipping_method"] = "a shipping method (at most 64 characters)"
        if len(draft.note) > 10_000:
            errors["note"] = "at most 10000 characters"
        lines: dict[str, int] = {}
        for sku, qty in draft.lines:
            sku = sku.strip()
            if isinstance(qty, bool) or not 1 <= qty <= MAX_QUANTITY:
                errors[f"line:{sku}"] = f"quantity must be a whole number from 1 to {MAX_QUANTITY}"
            lines[sku] = lines.get(sku, 0) + qty
        if not lines:
            errors["lines"] = "add at least one product"
        else:
            async with self._uow() as uow:
                rows = await uow.session.execute(
                    select(Product.sku, Product.active).where(Product.sku.in_(list(lines)))
                )
                known = {str(sku): bool(active) for sku, active in rows.all()}
            for sku in lines:
                active = known.get(sku)
                if active is None:
                    errors[f"line:{sku}"] = f"unknown SKU {sku[:64]!r}"
                elif not active:
                    errors[f"line:{sku}"] = f"{sku} is no longer sold (inactive)"
        if errors:
            raise DraftInvalid(errors)
        assert shipping is not None
        return await self.orders.create(
            NewOrder(
                customer_name=name,
                email=email,
                shipping=shipping,
                billing=billing,
                lines=tuple(lines.items()),
                payment_method=method,
                note=draft.note,
                shipping_total=shipping_total,
                shipping_method=draft.shipping_method.strip(),
            ),
            notify=draft.notify,
        )


def _address(
    a: DraftAddress | None, key: str, fallback_name: str, errors: dict[str, str]
) -> NewAddress | None:
    if a is None:
        return None
    country = a.country.strip().upper()
    for field, value in (("line1", a.line1), ("city", a.city), ("postal_code", a.postal_code)):
        if not value.strip():
            errors[f"{key}.{field}"] = "needed"
    if not (len(country) == 2 and country.isalpha() and country.isascii()):
        errors[f"{key}.country"] = "a 2-letter country code (US, GB, DE …)"
    for field, value in (
        ("name", a.name),
        ("company", a.company),
        ("line1", a.line1),
        ("line2", a.line2),
        ("city", a.city),
        ("region", a.region),
    ):
        if len(value) > MAX_TEXT:
            errors[f"{key}.{field}"] = f"at most {MAX_TEXT} characters"
    if len(a.postal_code) > 32:
        errors[f"{key}.postal_code"] = "at most 32 characters"
    return NewAddress(
        name=a.name.strip() or fallback_name,
        line1=a.line1.strip(),
        city=a.city.strip(),
        postal_code=a.postal_code.strip(),
        country=country,
        region=a.region.strip(),
        line2=a.line2.strip(),
        company=a.company.strip(),
        phone=a.phone.strip(),
    )


def _draft_address(a: Address) -> DraftAddress:
    return DraftAddress(
        name=a.name,
        line1=a.line1,
        city=a.city,
        postal_code=a.postal_code,
        country=a.country,
        region=a.region,
        line2=a.line2,
        company=a.company,
        phone=a.phone,
    )
