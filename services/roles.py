"""Who may do what: one table of actions and the roles allowed to do them.

Roles are `packer`, `staff` and `manager`; the config maps logins to roles:

    roles = { maria = "manager", lee = "manager", sam = "packer" }

The default, decided here and nowhere else:

- no roles configured at all: everyone is a manager (a one-person shop has nobody to
  ask, and a fresh install must not lock its owner out of refunds);
- once any login is listed, a login that is not listed is `staff` (can charge and
  record payments, cannot refund, void, accept terms or release a risk hold).

Logins are compared without surrounding spaces and case-insensitively (config files are
typed by hand). The login is the operator Packline runs as (`--operator`,
`PACKLINE_OPERATOR`, or the login name); on a shared server the SSH account is what
makes that trustworthy, so this table is an operator aid, not a security boundary
against someone who can set environment variables.

Every permission check goes through `Roles.check`; other capabilities add their actions
to `PERMISSIONS` (one row each).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from services.errors import Refused


class Role(StrEnum):
    PACKER = "packer"
    STAFF = "staff"
    MANAGER = "manager"


class Action(StrEnum):
    CHARGE = "charge"  # charge, authorize or capture through the gateway
    RECORD_PAYMENT = "record_payment"  # money received by check, cash, COD, terms
    REFUND = "refund"
    VOID = "void"
    ACCEPT_TERMS = "accept_terms"
    RELEASE_RISK_HOLD = "release_risk_hold"
    REVIEW = "review"  # re-assess an order's risk score
    CANCEL = "cancel"  # set an order to canceled (stock released, money to return)
    PACK = "pack"  # claim an order at the bench and scan it
    TAKE_OVER_PACK = "take_over_pack"  # break another packer's live claim on an order


_EVERYONE = frozenset(Role)
_DESK = frozenset({Role.STAFF, Role.MANAGER})
_MANAGER = frozenset({Role.MANAGER})

# Action -> roles allowed to do it.
PERMISSIONS: dict[Action, frozenset[Role]] = {
    Action.CHARGE: _DESK,
    Action.RECORD_PAYMENT: _DESK,
    Action.REFUND: _MANAGER,
    Action.VOID: _MANAGER,
    Action.ACCEPT_TERMS: _MANAGER,
    Action.RELEASE_RISK_HOLD: _MANAGER,
    Action.REVIEW: _EVERYONE,
    Action.CANCEL: _DESK,
    Action.PACK: _EVERYONE,
    Action.TAKE_OVER_PACK: _MANAGER,
}

# How a refusal names the action: "<what> needs the manager role" ("refunds need").
WHAT: dict[Action, str] = {
    Action.CHARGE: "charging a payment",
    Action.RECORD_PAYMENT: "recording a payment",
    Action.REFUND: "refunds",
    Action.VOID: "voiding a payment",
    Action.ACCEPT_TERMS: "accepting payment terms",
    Action.RELEASE_RISK_HOLD: "releasing a high-risk hold",
    Action.REVIEW: "reviewing an order",
    Action.CANCEL: "canceling an order",
    Action.PACK: "packing",
    Action.TAKE_OVER_PACK: "taking over an order another packer holds",
}
_PLURAL = frozenset({Action.REFUND})

# Status changes that are an action of their own (the rest follow the workflow alone).
STATUS_ACTIONS: dict[str, Action] = {"canceled": Action.CANCEL}


class NotAllowed(Refused):
    """This login's role may not do this; the message says who can."""


def _key(login: str) -> str:
    return login.strip().casefold()


def _join(names: list[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


@dataclass(frozen=True)
class Roles:
    """The shop's login -> role table (as configured; see the module doc for defaults)."""

    table: Mapping[str, Role] = field(default_factory=dict)

    @classmethod
    def from_config(cls, roles: Mapping[str, str]) -> Roles:
        return cls({login.strip(): Role(role) for login, role in roles.items() if login.strip()})

    def role_of(self, login: str) -> Role:
        if not self.table:
            return Role.MANAGER
        wanted = _key(login)
        for name, role in self.table.items():
            if _key(name) == wanted:
                return role
        return Role.STAFF

    def allowed(self, action: Action, login: str) -> bool:
        return self.role_of(login) in PERMISSIONS[action]

    async def check_transition(self, uow: Any, _order: Any, change: Any, _memo: str) -> None:
        """An `OrderService.transition_checks` entry: refuses the status changes the
        operator's role may not make (a packer canceling an order), whoever calls."""
        action = STATUS_ACTIONS.get(str(change.to_status))
        if action is not None:
            self.check(action, uow.actor)

    def holders(self, role: Role) -> list[str]:
        return sorted((name for name, r in self.table.items() if r is role), key=str.casefold)

    def check(self, action: Action, login: str) -> None:
        """The one permission check: returns quietly, or raises NotAllowed saying who can."""
        role = self.role_of(login)
        allowed = PERMISSIONS[action]
        if role in allowed:
            return
        what = WHAT[action]
        verb = "need" if action in _PLURAL else "needs"
        ordered = [r for r in Role if r in allowed]
        need = " or ".join(r.value for r in ordered)
        names = [name for r in ordered for name in self.holders(r)]
        if Role.STAFF in allowed:  # every unlisted login is staff
            who = "anyone not listed as a packer in `roles` can"
        elif not names:
            who = f"nobody is configured as {need} (`roles` in the config file)"
        elif len(ordered) == 1:
            plural = len(names) > 1
            who = f"{_join(names)} {'are' if plural else 'is a'} {need}{'s' if plural else ''}"
        else:
            who = f"{_join(names)} can"
        raise NotAllowed(
            f"sorry {login.strip() or 'operator'}: {what} {verb} the {need} role"
            f" (you are {_AS[role]}); {who}"
        )


_AS = {Role.PACKER: "a packer", Role.STAFF: "staff", Role.MANAGER: "a manager"}
