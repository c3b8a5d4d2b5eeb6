"""Runtime settings, read from the environment with the ``QUILL_`` prefix."""

from __future__ import annotations

import secrets
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

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


def _split_list(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def _require_strong_key(name: str, value: str) -> None:
    """A production key: present, long enough and not a placeholder."""
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
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    mrn_system: str = "https://quill.invalid/Id/mrn"
    public_base_url: str = "http://127.0.0.1:8000"
    outbound_timeout_seconds: float = 10.0
    # Seconds of silence before a live event stream sends ": ping" (tests shorten it).
    events_ping_seconds: float = Field(default=15.0, gt=0)
    # Argon2id cost; the defaults follow OWASP's recommendation (19 MiB, t=2, p=1).
    argon2_memory_kib: int = 19456
    argon2_time_cost: int = 2
    argon2_parallelism: int = 1
    # Hashes one worker runs at once. Hashes beyond this wait their turn rather than share
    # the worker's core; more helps only where a worker has spare cores.
    password_hashing_threads: int = Field(default=1, ge=1)
    access_token_minutes: int = 15
    refresh_token_days: int = 7
    # How long a resolved caller may be reused (auth/caller_cache.py); 0 = check the
    # database on every request, as workers on several hosts must.
    caller_cache_seconds: float = Field(default=30.0, ge=0)
    log_level: str = "INFO"
    # Password for every `quill seed-demo` account; empty = generate one and print it once.
    demo_password: str = ""

    @field_validator("cors_origins", "trusted_proxies", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        return _split_list(value)

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
        key = self.secret_key.strip()
        if not key:
            raise UnsafeSettingsError("QUILL_SECRET_KEY is required in production")
        if len(key) < MIN_SECRET_LENGTH:
            raise UnsafeSettingsError(
                f"QUILL_SECRET_KEY must be at least {MIN_SECRET_LENGTH} characters"
            )
        if key.lower() in PLACEHOLDER_SECRETS or len(set(key)) < 8:
            raise UnsafeSettingsError("QUILL_SECRET_KEY is a placeholder; set a random value")
        if "*" in self.cors_origins:
            raise UnsafeSettingsError(
                "QUILL_CORS_ORIGINS must list origins explicitly ('*' with credentials)"
            )
        if not self.secure_cookies:
            raise UnsafeSettingsError("QUILL_COOKIE_SECURE must be true in production")
        _require_strong_key("QUILL_AUDIT_KEY", self.audit_key)
        if self.audit_key.strip() == key:
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
