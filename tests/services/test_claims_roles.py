"""Roles with several operators: one table says who may do what; a packer may pack and move
orders along but not cancel one or take over another packer's order; every action is in
the audit log under the operator who did it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from services.container import Services
from services.models import AuditLog
from services.roles import PERMISSIONS, WHAT, Action, NotAllowed, Role, Roles
from services.statuses import HoldReason, Status
from tests.conftest import FixedClock
from tests.services.test_packing_support import order_to_pack, other_services, seed_shop

ROLES = {"maria": "manager", "sam": "packer", "dee": "staff"}


@pytest.fixture
async def shop(services: Services) -> Services:
    return await seed_shop(services)


def test_the_table_names_every_action() -> None:
    assert set(PERMISSIONS) == set(Action) == set(WHAT)
    assert PERMISSIONS[Action.TAKE_OVER_PACK] == {Role.MANAGER}
    assert PERMISSIONS[Action.CANCEL] == {Role.STAFF, Role.MANAGER}
    assert PERMISSIONS[Action.PACK] == set(Role)
    shop = Roles.from_config(ROLES)
    assert [shop.role_of(w) for w in ("Maria ", "sam", "dee", "nobody")] == [
        Role.MANAGER,
        Role.PACKER,
        Role.STAFF,
        Role.STAFF,
    ]


async def test_a_packer_cannot_cancel_but_staff_can(
    shop: Services, db_url: str, clock: FixedClock
) -> None:
    number = await order_to_pack(shop)
    async with (
        other_services(db_url, clock, operator="sam", roles=ROLES) as sam,
        other_services(db_url, clock, operator="dee", roles=ROLES) as dee,
    ):
        with pytest.raises(NotAllowed, match="canceling an order needs the staff or manager"):
            await sam.orders.set_status(number, Status.CANCELED)
        assert (await shop.orders.show(number)).status is Status.PROCESSING  # nothing changed
        held = await sam.orders.set_status(number, Status.HELD, reason=HoldReason.OUT_OF_STOCK)
        assert held.status is Status.HELD  # other changes follow the workflow alone
        canceled = await dee.orders.set_status(number, Status.CANCELED)
        assert canceled.status is Status.CANCELED
    async with shop.db.read_session() as s:
        actors = (
            await s.execute(
                select(AuditLog.actor)
                .where(AuditLog.entity == "order", AuditLog.entity_id == number)
                .where(AuditLog.action == "order.set_status")
                .order_by(AuditLog.id)
            )
        ).scalars()
        assert list(actors)[-2:] == ["sam", "dee"]
