"""Packline settings: flag > environment (PACKLINE_*) > TOML config file > default.

The schema lives in services because the services layer is what consumes it;
the composition root (console) decides where the file is and builds one.
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from services.errors import ConfigError
from services.po_settings import PurchasingSettings
from services.risk import DEFAULT_RULES, RiskRules
from services.statuses import HoldReason

APP_NAME = "packline"


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def default_config_file() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "config.toml"


def default_db_url() -> str:
    return f"sqlite+aiosqlite:///{default_data_dir() / 'packline.sqlite'}"


def login_name() -> str:
    """The operator when none is configured: the login (over SSH, the SSH user)."""
    for var in ("PACKLINE_OPERATOR", "LOGNAME", "USER", "USERNAME"):
        value = os.environ.get(var)
        if value:
            return value
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (containers): still need a name
        return "operator"


class StatusSettings(BaseModel):
    """Which statuses a shop uses and what it calls them; canonical names stay in CLI/JSON."""

    labels: dict[str, str] = Field(default_factory=dict)
    disabled: list[str] = Field(default_factory=list)


class RiskSettings(BaseModel):
    """The `[risk]` config table: points per rule and the hold threshold (see services/risk.py
    for what each rule means), plus how the shop's usual order value is measured."""

    model_config = ConfigDict(extra="forbid")

    po_box_points: int = DEFAULT_RULES.po_box_points
    military_points: int = DEFAULT_RULES.military_points
    country_mismatch_points: int = DEFAULT_RULES.country_mismatch_points
    high_value_factor: float = DEFAULT_RULES.high_value_factor
    high_value_points: int = DEFAULT_RULES.high_value_points
    velocity_window_hours: int = DEFAULT_RULES.velocity_window_hours
    velocity_max_orders: int = DEFAULT_RULES.velocity_max_orders
    velocity_points: int = DEFAULT_RULES.velocity_points
    declined_points: int = DEFAULT_RULES.declined_points
    note_points: int = DEFAULT_RULES.note_points
    hold_threshold: int = DEFAULT_RULES.hold_threshold
    carrier_delivers_po_box: bool = DEFAULT_RULES.carrier_delivers_po_box
    po_box_methods: list[str] = Field(default_factory=lambda: list(DEFAULT_RULES.po_box_methods))
    # The usual order value is the median of this many most recent orders, once there are
    # at least usual_min_orders of them (before that the high-value rule stays quiet).
    usual_sample: int = Field(default=200, ge=1, le=100_000)
    usual_min_orders: int = Field(default=10, ge=1)

    @model_validator(mode="after")
    def _valid_rules(self) -> RiskSettings:
        self.rules()  # RiskRules validates itself: a bad value fails at load, not mid-queue
        return self

    def rules(self) -> RiskRules:
        return RiskRules(
            po_box_points=self.po_box_points,
            military_points=self.military_points,
            country_mismatch_points=self.country_mismatch_points,
            high_value_factor=self.high_value_factor,
            high_value_points=self.high_value_points,
            velocity_window_hours=self.velocity_window_hours,
            velocity_max_orders=self.velocity_max_orders,
            velocity_points=self.velocity_points,
            declined_points=self.declined_points,
            note_points=self.note_points,
            hold_threshold=self.hold_threshold,
            carrier_delivers_po_box=self.carrier_delivers_po_box,
            po_box_methods=tuple(self.po_box_methods),
        )


def _told_holds() -> list[HoldReason]:
    return [r for r in HoldReason if r is not HoldReason.HIGH_RISK]


class ShopSettings(BaseModel):
    name: str = "Packline Demo Shop"
    address: str = "1 Market Street, Springfield"
    reply_to: str = ""
    staff_email: str = ""
    logo_text: str = ""
    currency: str = "USD"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PACKLINE_",
        env_nested_delimiter="__",
        extra="ignore",
    )

    db: str = Field(default_factory=default_db_url)
    operator: str = Field(default_factory=login_name)
    shop: ShopSettings = Field(default_factory=ShopSettings)
    statuses: StatusSettings = Field(default_factory=StatusSettings)
    roles: dict[str, Literal["packer", "staff", "manager"]] = Field(default_factory=dict)
    # Console key remapping: binding id -> key(s), e.g. [keys] "queue.search" = "ctrl+f".
    keys: dict[str, str] = Field(default_factory=dict)

    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_from: str = "orders@localhost"
    smtp_user: str = ""
    smtp_password: str = Field(default="", repr=False)
    smtp_tls: Literal["none", "starttls", "tls"] = "none"
    webhooks: list[str] = Field(default_factory=list)
    webhook_secret: str = Field(default="", repr=False)

    # Notifications (services/notifications.py). A shop's own e-mail templates: files in
    # templates_dir/email/ replace the built-in ones of the same name.
    templates_dir: str = ""
    smtp_timeout: float = Field(default=30.0, gt=0)
    # CA bundle for a mail server with a private certificate (TLS is always verified).
    smtp_ca_file: str = ""
    webhook_timeout: float = Field(default=10.0, gt=0)
    notify_max_attempts: int = Field(default=8, ge=1, le=100)
    notify_backoff_seconds: float = Field(default=30.0, gt=0)  # first retry; doubles after
    notify_backoff_max_seconds: float = Field(default=6 * 3600.0, gt=0)
    # A row claimed by a worker that died is due again after this long.
    notify_lease_seconds: float = Field(default=120.0, gt=0)
    notify_poll_seconds: float = Field(default=5.0, gt=0)
    notify_batch_size: int = Field(default=50, ge=1, le=1000)
    # The holds a customer may be told of ("Save + Send Email" on a hold): a hold for risk
    # review is the shop's own business, so by default that one is never e-mailed.
    notify_held_reasons: list[HoldReason] = Field(default_factory=_told_holds)
    # Domain in Message-IDs (<key@domain>); default: the domain of smtp_from.
    message_id_domain: str = ""

    # Packing (services/packing.py). A claim keeps a second packer off an order; every scan
    # extends it, and one left by a crashed console expires after this long.
    pack_claim_minutes: float = Field(default=10.0, gt=0, le=24 * 60)
    # "validate": finish on a validate scan only; "auto": also on the scan that packs the last unit.
    pack_finish: Literal["validate", "auto"] = "validate"
    pack_notify_ready: bool = False  # e-mail the customer when packing finishes
    # What the scanner sends for GS1's FNC1/GS when the keyboard wedge cannot type ASCII 29.
    scan_gs_standin: str = Field(default="", max_length=4, pattern=r"^[^0-9A-Za-z]*$")
    scan_aim_optional: bool = True  # accept GS1 data sent without its "]C1" prefix

    payment_gateway: Literal["none", "manual", "http"] = "none"
    payment_url: str = ""
    payment_key: str = Field(default="", repr=False)
    # Seconds to wait for the card gateway; no answer in time is recorded as "unknown".
    payment_timeout: float = Field(default=15.0, gt=0, le=300)
    # Order review (services/review.py): the `[risk]` table of the config file.
    risk: RiskSettings = Field(default_factory=RiskSettings)
    edi_dir: str = ""
    # Drop shipping (services/purchasing.py, services/po_settings.py): the [purchasing] table.
    purchasing: PurchasingSettings = Field(default_factory=PurchasingSettings)
    # Where documents go (services/printing.py): file:DIR, lp:QUEUE or tcp:HOST:PORT.
    printer: str = ""
    printer_timeout: float = Field(default=10.0, gt=0)

    # Shipping (services/shipping.py). Stock lines must be packed before they ship.
    ship_requires_packing: bool = True
    # Complete shipped orders this many days after their last shipment; 0 = off.
    auto_complete_days: int = Field(default=0, ge=0, le=3650)
    # A tracking service that reports carrier events (services/tracking_client.py); "" = off.
    tracking_url: str = ""
    tracking_key: str = Field(default="", repr=False)
    tracking_timeout: float = Field(default=10.0, gt=0)

    # Imports (services/imports.py): a line whose SKU is not in the catalogue is imported
    # without a product and the order flagged ("flag"), or its whole order refused ("refuse").
    import_unknown_sku: Literal["flag", "refuse"] = "flag"
    # Inventory (services/inventory.py): sales channels told every stock change (stock.changed).
    stock_webhooks: list[str] = Field(default_factory=list)

    # Set by `load_settings`; a class-level default keeps pydantic from reading it from env.
    config_file: Path | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = _CONFIG_FILE_FOR_LOAD.get("path")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)


# pydantic-settings builds sources from the class; this carries the file chosen at load time.
_CONFIG_FILE_FOR_LOAD: dict[str, Path | None] = {"path": None}


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Build settings; `overrides` are command-line flags (None means 'not given')."""
    path: Path | None
    if config_file is not None:
        path = Path(config_file)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
    elif os.environ.get("PACKLINE_CONFIG"):
        path = Path(os.environ["PACKLINE_CONFIG"])
        if not path.is_file():
            raise ConfigError(f"config file not found: {path} (from PACKLINE_CONFIG)")
    else:
        candidate = default_config_file()
        path = candidate if candidate.is_file() else None
    flags = {k: v for k, v in overrides.items() if v is not None}
    _CONFIG_FILE_FOR_LOAD["path"] = path
    try:
        settings = Settings(**flags)
    except Exception as exc:  # pydantic ValidationError, TOML decode error
        raise ConfigError(f"invalid configuration ({path or 'environment'}): {exc}") from exc
    finally:
        _CONFIG_FILE_FOR_LOAD["path"] = None
    settings.config_file = path
    return settings
