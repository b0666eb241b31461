"""The `[purchasing]` config table: drop-ship automation, our EDI identity, vendor feeds.

Kept out of services/settings.py (which only names it) so everything purchasing reads is
in one place. Environment variables use the nested form, e.g.
``PACKLINE_PURCHASING__AUTO_SEND=true``; EDI files go to the top-level ``edi_dir``
(``PACKLINE_EDI_DIR``, as DESIGN §4 says).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SftpFeed(BaseModel):
    """A vendor's or 3PL's SFTP server we fetch tracking files (CSV or X12 856) from.

    The host key must be known (``known_hosts``): a feed that creates shipments and
    e-mails customers must not trust whoever answers on that address.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    host: str = Field(min_length=1)
    port: int = Field(default=22, ge=1, le=65535)
    user: str = Field(min_length=1)
    key_file: str = Field(min_length=1)  # private key, no passphrase (unattended)
    known_hosts: str = Field(min_length=1)
    remote_dir: str = "."
    # Shell-style patterns of the files to take; anything else in the directory is left.
    patterns: list[str] = Field(
        default_factory=lambda: ["*.csv", "*.856", "*.855", "*.x12", "*.edi"]
    )
    # Where imported files are moved on the server (relative to remote_dir); "" deletes.
    processed_dir: str = "processed"
    timeout: float = Field(default=30.0, gt=0, le=600)


class PurchasingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Create and send POs to the default vendors as soon as an order is paid.
    auto_send: bool = False
    # Our side of the X12 envelope (ISA06/GS02); a vendor's side is on the vendor.
    edi_sender_qualifier: str = Field(default="ZZ", pattern=r"^[0-9A-Z]{2}$")
    edi_sender_id: str = Field(default="PACKLINE", min_length=2, max_length=15)
    edi_test: bool = False  # ISA15 = T: the vendor's translator treats the file as a test
    # A folder vendors drop tracking files into (`packline po import-dir`); "" = none.
    drop_dir: str = ""
    sftp: list[SftpFeed] = Field(default_factory=list)
