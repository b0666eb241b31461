"""A purchase order as the vendor receives it: the e-mail payload and the X12 850.

Pure functions over plain data, so the document a vendor gets is exactly what was on the
PO when it was sent (the e-mail is rendered later by the outbox worker from this payload,
not from the order as it is by then).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services import edi_x12
from services.display import money

UNIT = "EA"
_FILE_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class DocLine:
    line_no: int
    sku: str
    name: str
    vendor_sku: str
    upc: str
    quantity: int
    unit_cost: int


@dataclass(frozen=True)
class PODocument:
    """Everything a vendor needs to ship a drop-ship PO to our customer."""

    po_number: str
    order_number: int
    created: datetime
    vendor_code: str
    vendor_name: str
    ship_to: edi_x12.ShipTo
    ship_to_company: str
    ship_to_phone: str
    lines: tuple[DocLine, ...]
    currency: str
    buyer: str  # the shop's name

    @property
    def total(self) -> int:
        return sum(ln.unit_cost * ln.quantity for ln in self.lines)


def email_payload(doc: PODocument, *, resend: bool = False) -> dict[str, Any]:
    """The outbox payload of the `po_vendor` e-mail (templates/email/po_vendor.*)."""
    st = doc.ship_to
    address = [
        line
        for line in (
            st.name,
            doc.ship_to_company,
            st.line1,
            st.line2,
            " ".join(p for p in (st.city, st.region, st.postal_code) if p),
            st.country,
        )
        if line
    ]
    return {
        "po": {
            "number": doc.po_number,
            "order_number": doc.order_number,
            "date": doc.created.date().isoformat(),
            "vendor": doc.vendor_name,
            "vendor_code": doc.vendor_code,
            "ship_to": address,
            "ship_to_phone": doc.ship_to_phone,
            "buyer": doc.buyer,
            "resend": resend,
            "lines": [
                {
                    "line_no": ln.line_no,
                    "vendor_sku": ln.vendor_sku,
                    "sku": ln.sku,
                    "upc": ln.upc,
                    "name": ln.name,
                    "quantity": ln.quantity,
                    "unit_cost": money(ln.unit_cost, doc.currency),
                    "amount": money(ln.unit_cost * ln.quantity, doc.currency),
                }
                for ln in doc.lines
            ],
            "total": money(doc.total, doc.currency),
            "unit_count": sum(ln.quantity for ln in doc.lines),
        }
    }


def x12_850(
    doc: PODocument,
    *,
    sender: edi_x12.Party,
    receiver: edi_x12.Party,
    interchange: int,
    group: int,
    transaction: int,
    test: bool,
) -> str:
    """One interchange carrying this PO (BEG 00/DS, N1*ST ship-to, PO1 with VP and UP).

    Raises ValueError, worded for the operator, when the PO cannot be sent faithfully."""
    po = edi_x12.PurchaseOrder850(
        po_number=doc.po_number,
        po_date=doc.created.date(),
        ship_to=doc.ship_to,
        lines=tuple(
            edi_x12.POLine850(
                line_no=ln.line_no,
                quantity=ln.quantity,
                unit=UNIT,
                unit_price_cents=ln.unit_cost,
                vendor_sku=ln.vendor_sku,
                upc=ln.upc,
                description=ln.name,
            )
            for ln in doc.lines
        ),
        buyer_name=doc.buyer,
        order_ref=str(doc.order_number),
    )
    env = edi_x12.Envelope(
        sender=sender,
        receiver=receiver,
        interchange_control=interchange,
        group_control=group,
        created=doc.created,
        test=test,
    )
    return edi_x12.render_850(env, [po], first_transaction_control=transaction)


def edi_file_name(vendor_code: str, po_number: str, interchange: int) -> str:
    """`<vendor>_<po>_<ISA13>.850`: unique per send, safe on any file system."""
    vendor = _FILE_SAFE.sub("_", vendor_code).strip("._") or "vendor"
    po = _FILE_SAFE.sub("_", po_number).strip("._") or "po"
    return f"{vendor}_{po}_{interchange:09d}.850"
