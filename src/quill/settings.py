"""Runtime settings, read from the environment with the ``QUILL_`` prefix."""

from __future__ import annotations

import json
import re
import secrets
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PLACEHOLDER_SECRETS = frozenset(
    {"changeme", "change-me", "change_me", "secret", "password", "dev", "development",
     "your-secret-key", "supersecret", "quill", "test", "default", "insecure"}
)
MIN_SECRET_LENGTH = 32


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class UnsafeSettingsError(ValueError):
    """Raised when production settings would be unsafe to serve with."""


# What a browser sends in ``Origin``: scheme, lower-case host (name, IPv4 or [IPv6]) and an
# optional port; no path, not even "/", or the entry would never match.
_ORIGIN = re.compile(
    r"[a-z][a-z0-9+.-]*://"
    r"(\[[0-9a-f:.]+\]|[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*)"
    r"(?::(\d{1,5}))?")


def _split_list(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def _list_or_json_list(value: Any) -> Any:
    """A JSON list (``["https://a.example"]``) or comma-separated text."""
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            parsed = json.loads(value)
        except ValueError as exc:
            raise ValueError(f"QUILL_CORS_ORIGINS is not a valid JSON list: {value!r}") from exc
        if not isinstance(parsed, list) or not all(isinstance(v, str) for v in parsed):
            raise ValueError("QUILL_CORS_ORIGINS as JSON must be a list of strings")
        return [item.strip() for item in parsed if item.strip()]
    return _split_list(value)


def check_origin(entry: str) -> str:
    """``entry`` if it is ``*`` or an origin; ValueError naming it otherwise."""
    match = _ORIGIN.fullmatch(entry)
    if entry == "*" or (match and int(match.group(2) or 0) <= 65535):
        return entry
    raise ValueError(f"QUILL_CORS_ORIGINS entry {entry!r} is not an origin "
                     "(scheme://host[:port], lower case, no path)")


def check_secret(name: str, value: str) -> None:
    """UnsafeSettingsError unless ``value`` is long and not a placeholder."""
    key = value.strip()
    if not key:
        raise UnsafeSettingsError(f"{name} is required in production")
    if len(key) < MIN_SECRET_LENGTH:
        raise UnsafeSettingsError(f"{name} must be at least {MIN_SECRET_LENGTH} characters")
    if key.lower() in PLACEHOLDER_SECRETS or len(set(key)) < 8:
        raise UnsafeSettingsError(f"{name} is a placeholder; set a random value")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QUILL_", extra="ignore")

    env: Environment = Environment.DEVELOPMENT
    data_dir: Path = Path(".quill")
    database_url: str = ""
    secret_key: str = ""
    # Authenticates the audit chain and its checkpoints; kept apart from the secret key so
    # whoever holds one (or the database) cannot forge the other's output.
    audit_key: str = ""
    # Seconds between checkpoints of the audit chain (written only when it grew).
    audit_checkpoint_seconds: float = Field(default=5.0, gt=0)
    # Append-only file of checkpoints; empty = <data dir>/audit-checkpoints.jsonl.
    audit_checkpoint_path: Path | None = None
    fhir_url: str = ""
    fhir_token: str = ""
    ehrbase_url: str = ""
    ehrbase_user: str = ""
    ehrbase_password: str = ""
    ehrbase_token: str = ""
    redis_url: str = ""
    # Namespaces Quill's keys and channels, so several deployments can share one Redis.
    redis_prefix: str = "quill"
    smtp_url: str = ""
    smtp_from: str = "Quill <no-reply@quill.invalid>"
    clinical_services_enabled: bool = True
    cookie_secure: bool | None = None
    rate_limit_login: str = "5/minute"
    rate_limit_register: str = "3/minute"
    rate_limit_forgot: str = "3/minute"
    rate_limit_reset: str = "5/minute"
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    vapid_private_key: str = ""
    vapid_public_key: str = ""
    vapid_subject: str = "mailto:admin@quill.invalid"
    fhir_facade_enabled: bool | None = None
    openehr_facade_enabled: bool | None = None
    service_token: str = ""
    # Bearer token for /metrics in production; empty = /metrics is not served there.
    metrics_token: str = ""
    # Lets push endpoints be plain http:// to loopback (tests' local push service).
    push_allow_loopback: bool = False
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    mrn_system: str = "https://quill.invalid/Id/mrn"
    public_base_url: str = "http://127.0.0.1:8000"
    outbound_timeout_seconds: float = 10.0
    # Seconds of silence before a live event stream sends ": ping" (tests shorten it).
    events_ping_seconds: float = Field(default=15.0, gt=0)
    # Seconds between a live stream's checks that its session, account and access still
    # hold, whatever the traffic on it (tests shorten it).
    events_recheck_seconds: float = Field(default=10.0, gt=0)
    # Argon2id cost; the defaults follow OWASP's recommendation (19 MiB, t=2, p=1).
    argon2_memory_kib: int = 19456
    argon2_time_cost: int = 2
    argon2_parallelism: int = 1
    # Hashes one worker runs at once. Hashes beyond this wait their turn rather than share
    # the worker's core; more helps only where a worker has spare cores.
    password_hashing_threads: int = Field(default=1, ge=1)
    access_token_minutes: int = 15
    refresh_token_days: int = 7
    # How long a resolved caller may be reused (auth/caller_cache.py): a ceiling for
    # changes made behind Quill's back; Quill's own reach every host within a second.
    # 0 = check the database on every request.
    caller_cache_seconds: float = Field(default=30.0, ge=0)
    log_level: str = "INFO"
    # text | json; unset = text in development on a terminal, JSON otherwise
    # (quill.logging_setup.resolve_log_format decides, as only it knows the stream).
    log_format: Literal["text", "json"] | None = None
    # Request bodies larger than this are refused with 413 before anything parses them.
    max_body_bytes: int = Field(default=1_048_576, ge=1)
    # On SIGTERM, `quill serve` stops accepting connections and waits this long for the
    # requests in flight before it cancels them; the unit's stop timeout must be longer.
    shutdown_grace_seconds: int = Field(default=20, ge=1)
    # Password for every `quill seed-demo` account; empty = generate one and print it once.
    demo_password: str = ""

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("log_format", mode="before")
    @classmethod
    def _log_format(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().lower() or None
            if value not in (None, "text", "json"):
                raise ValueError(f"QUILL_LOG_FORMAT must be text or json, not {value!r}")
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, value: Any) -> Any:
        return _list_or_json_list(value)

    @field_validator("cors_origins", mode="after")
    @classmethod
    def _only_origins(cls, value: list[str]) -> list[str]:
        return [check_origin(entry) for entry in value]

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        dev = self.env is Environment.DEVELOPMENT
        if self.cookie_secure is None:
            self.cookie_secure = not dev
        if self.fhir_facade_enabled is None:
            self.fhir_facade_enabled = dev
        if self.openehr_facade_enabled is None:
            self.openehr_facade_enabled = dev
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'quill.db'}"
        return self

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION

    @property
    def secure_cookies(self) -> bool:
        return bool(self.cookie_secure)

    def check_production_safety(self) -> None:
        """Refuse settings that would be unsafe with real patient data."""
        if not self.is_production:
            return
        check_secret("QUILL_SECRET_KEY", self.secret_key)
        # Optional tokens, but a set one guards patient data (facades) or internals (metrics).
        if self.service_token:
            check_secret("QUILL_SERVICE_TOKEN", self.service_token)
        if self.metrics_token:
            check_secret("QUILL_METRICS_TOKEN", self.metrics_token)
        if "*" in self.cors_origins:
            raise UnsafeSettingsError(
                "QUILL_CORS_ORIGINS must list origins explicitly ('*' with credentials)"
            )
        if not self.secure_cookies:
            raise UnsafeSettingsError("QUILL_COOKIE_SECURE must be true in production")
        check_secret("QUILL_AUDIT_KEY", self.audit_key)
        if self.audit_key.strip() == self.secret_key.strip():
            raise UnsafeSettingsError("QUILL_AUDIT_KEY must differ from QUILL_SECRET_KEY")

    def resolved_secret_key(self) -> str:
        """The signing secret; in development one is generated once and kept on disk."""
        if self.secret_key:
            return self.secret_key
        if self.is_production:
            raise UnsafeSettingsError("QUILL_SECRET_KEY is required in production")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        value = secrets.token_urlsafe(48)
        path.write_text(value)
        path.chmod(0o600)
        return value

    def resolved_audit_key(self) -> str:
        """The audit chain's key; in development one is generated once and kept on disk."""
        if self.audit_key:
            return self.audit_key
        if self.is_production:
            raise UnsafeSettingsError("QUILL_AUDIT_KEY is required in production")
        found = self.existing_audit_key()
        if found is not None:
            return found
        self.data_dir.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(48)
        path = self.data_dir / "audit_key"
        path.write_text(value)
        path.chmod(0o600)
        return value

    def existing_audit_key(self) -> str | None:
        """The configured or already generated audit key, without generating one."""
        if self.audit_key:
            return self.audit_key
        path = self.data_dir / "audit_key"
        return path.read_text().strip() if path.exists() else None

    @property
    def audit_checkpoint_file(self) -> Path:
        return self.audit_checkpoint_path or self.data_dir / "audit-checkpoints.jsonl"
