"""Who may do what: the one table, the defaults, and the polite refusal."""

from __future__ import annotations

import pytest

from services.roles import PERMISSIONS, WHAT, Action, NotAllowed, Role, Roles

SHOP = Roles.from_config({"maria": "manager", "Lee": "manager", "sam": "packer"})


def test_every_action_has_roles_and_words() -> None:
    assert set(PERMISSIONS) == set(Action) == set(WHAT)
    for action, roles in PERMISSIONS.items():
        assert Role.MANAGER in roles, action  # a manager may do anything


def test_nobody_configured_means_everyone_is_a_manager() -> None:
    solo = Roles()
    assert solo.role_of("anyone") is Role.MANAGER
    for action in Action:
        solo.check(action, "anyone")


def test_unlisted_logins_are_staff_once_roles_exist() -> None:
    assert SHOP.role_of("kim") is Role.STAFF
    assert SHOP.role_of(" MARIA ") is Role.MANAGER  # hand-typed config: case and spaces
    assert SHOP.role_of("lee") is Role.MANAGER


@pytest.mark.parametrize(
    ("action", "packer", "staff", "manager"),
    [
        (Action.CHARGE, False, True, True),
        (Action.RECORD_PAYMENT, False, True, True),
        (Action.REFUND, False, False, True),
        (Action.VOID, False, False, True),
        (Action.ACCEPT_TERMS, False, False, True),
        (Action.RELEASE_RISK_HOLD, False, False, True),
        (Action.REVIEW, True, True, True),
    ],
)
def test_the_table(action: Action, packer: bool, staff: bool, manager: bool) -> None:
    assert SHOP.allowed(action, "sam") is packer
    assert SHOP.allowed(action, "kim") is staff
    assert SHOP.allowed(action, "maria") is manager


def test_a_packer_is_told_why_and_who_can() -> None:
    with pytest.raises(NotAllowed) as refused:
        SHOP.check(Action.REFUND, "sam")
    assert str(refused.value) == (
        "sorry sam: refunds need the manager role (you are a packer); Lee and maria are managers"
    )
    with pytest.raises(NotAllowed) as refused:
        SHOP.check(Action.CHARGE, "sam")
    assert "needs the staff or manager role" in str(refused.value)
    assert "anyone not listed as a packer" in str(refused.value)


def test_no_manager_configured_is_said_plainly() -> None:
    packers_only = Roles.from_config({"sam": "packer"})
    with pytest.raises(NotAllowed, match="nobody is configured as manager"):
        packers_only.check(Action.VOID, "kim")


def test_unknown_role_names_are_refused_at_load() -> None:
    with pytest.raises(ValueError):
        Roles.from_config({"sam": "boss"})
