"""The review link and server sections of the configuration tree (DESIGN.md: messaging, identity)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from inspection.config.paths import ConfigPath
from inspection.strict import StrictModel

DEFAULT_LINK = "tcp://127.0.0.1:5560"
OVERRIDE_REASONS = (
    "cosmetic only, within specification",
    "reflection or dust, not a defect",
    "defect outside the functional area",
    "model error",
)
REJECT_REASONS = ("defect confirmed", "defect larger than the model shows", "wrong part or orientation")


class LinkConfig(StrictModel):
    """The station's side of the ZeroMQ link to a review server (CURVE-authenticated, at-least-once)."""

    @field_validator("server", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    server: str | None = Field(
        default=DEFAULT_LINK,
        description='review server\'s link endpoint (tcp://host:port); "" for none: the fail-safe acts at the gate',
    )
    server_key: ConfigPath | None = Field(
        default=None, description="the review server's public key file; default: <keys_dir>/review-server.key"
    )
    keys_dir: ConfigPath | None = Field(default=None, description="CURVE key files; default: <data_dir>/keys")
    resend_s: float = Field(default=2.0, gt=0, le=600, description="resend an unacknowledged message after this long")
    review_margin_ms: float = Field(
        default=100.0, ge=0, description="a human verdict must arrive this long before the gate to be used"
    )


class ReviewConfig(StrictModel):
    """The review server: web UI, JSON API, storage and the stations' link."""

    host: str = Field(default="127.0.0.1", description="HTTP address; other than loopback needs TLS")
    port: int = Field(default=8080, ge=0, le=65535, description="HTTP port; 0 picks a free one")
    tls_cert: ConfigPath | None = Field(default=None, description="PEM certificate for HTTPS")
    tls_key: ConfigPath | None = Field(default=None, description="PEM private key for HTTPS")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL, e.g. postgresql+psycopg://host/db; default: <data_dir>/review.db"
    )
    link_bind: str = Field(default=DEFAULT_LINK, description="where stations connect (ZeroMQ ROUTER, CURVE server)")
    keys_dir: ConfigPath | None = Field(default=None, description="CURVE key files; default: <data_dir>/keys")
    claim_lease_s: float = Field(default=30.0, gt=0, le=3600, description="how long an opened item stays claimed")
    session_idle_minutes: float = Field(default=15.0, gt=0, description="a session unused this long ends")
    session_absolute_hours: float = Field(default=12.0, gt=0, description="a session ends this long after login")
    login_attempts: int = Field(default=5, ge=1, description="failed logins per user or address per window")
    login_window_s: float = Field(default=300.0, gt=0, description="window of the login rate limit")
    second_approver: bool = Field(
        default=False, description="releasing a rejected part as good needs a second inspector's signature"
    )
    override_reasons: tuple[str, ...] = Field(default=OVERRIDE_REASONS, description="reasons offered for a release")
    reject_reasons: tuple[str, ...] = Field(default=REJECT_REASONS, description="reasons offered for a reject")

    @model_validator(mode="after")
    def _tls_off_loopback(self) -> ReviewConfig:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        if self.tls_cert is None and not _loopback(self.host):
            raise ValueError(f"serving on {self.host} needs tls_cert and tls_key (plain HTTP only on loopback)")
        return self


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def database_url(review: ReviewConfig, data_dir: Path) -> str:
    return review.database_url or f"sqlite:///{data_dir / 'review.db'}"
