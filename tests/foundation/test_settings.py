"""Production refuses unsafe settings; development keeps a generated secret."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from quill.settings import Settings, UnsafeSettingsError

GOOD_SECRET = "k3Jq9-vXr2Lm8PzT0wYb4NcD6sFh1GaE"
GOOD_AUDIT_KEY = "Qp7-Vn4Rx9Ws2Kd8Lj5Hf3Zt6Mb1Ca0Ye"


def _production(**values: object) -> Settings:
    base: dict[str, object] = {"env": "production", "secret_key": GOOD_SECRET,
                               "audit_key": GOOD_AUDIT_KEY}
    base.update(values)
    return Settings.model_validate(base)


@pytest.mark.parametrize("secret", ["", "short", "changeme", "secret", "change-me",
                                    "a" * 40])
def test_production_refuses_weak_secrets(secret: str) -> None:
    with pytest.raises(UnsafeSettingsError, match="QUILL_SECRET_KEY"):
        _production(secret_key=secret).check_production_safety()


def test_production_refuses_wildcard_cors() -> None:
    with pytest.raises(UnsafeSettingsError, match="QUILL_CORS_ORIGINS"):
        _production(cors_origins="*").check_production_safety()


def test_production_refuses_insecure_cookies() -> None:
    with pytest.raises(UnsafeSettingsError, match="QUILL_COOKIE_SECURE"):
        _production(cookie_secure=False).check_production_safety()


def test_production_accepts_a_good_configuration() -> None:
    settings = _production(cors_origins="https://app.example.org,https://b.example.org")
    settings.check_production_safety()
    assert settings.cors_origins == ["https://app.example.org", "https://b.example.org"]
    assert settings.secure_cookies is True
    assert settings.fhir_facade_enabled is False


def test_development_generates_and_keeps_a_secret(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="")
    first = settings.resolved_secret_key()
    assert len(first) >= 32
    assert Settings(data_dir=tmp_path, secret_key="").resolved_secret_key() == first
    assert settings.database_url.endswith("quill.db")


def test_cli_exits_non_zero_naming_the_setting(tmp_path: Path) -> None:
    env = {"QUILL_ENV": "production", "QUILL_SECRET_KEY": "changeme",
           "QUILL_DATA_DIR": str(tmp_path), "PATH": ""}
    result = subprocess.run(
        [sys.executable, "-m", "quill", "migrate"], env=env, capture_output=True, text=True,
        check=False, timeout=60,
    )
    assert result.returncode != 0
    assert "QUILL_SECRET_KEY" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("token", ["short", "changeme" * 5, "a" * 40, "secret"])
def test_production_refuses_a_weak_service_token(token: str) -> None:
    with pytest.raises(UnsafeSettingsError, match="QUILL_SERVICE_TOKEN"):
        _production(service_token=token).check_production_safety()


def test_production_refuses_a_weak_metrics_token() -> None:
    with pytest.raises(UnsafeSettingsError, match="QUILL_METRICS_TOKEN"):
        _production(metrics_token="metrics").check_production_safety()


def test_production_accepts_strong_service_and_metrics_tokens() -> None:
    _production(service_token=GOOD_SECRET[::-1], metrics_token=GOOD_SECRET.upper()
                ).check_production_safety()


@pytest.mark.parametrize("entry", [
    "https://a.example/", "https://a.example/app", "a.example", "https://user@a.example",
    "https://a.example?x=1", "null", "https://A.example", "https://a.example:99999",
    "https://", "https://a.example#x",
])
def test_cors_entries_must_be_origins(entry: str) -> None:
    with pytest.raises(ValueError, match="QUILL_CORS_ORIGINS") as caught:
        Settings.model_validate({"cors_origins": f"https://ok.example,{entry}"})
    assert repr(entry) in str(caught.value)


def test_cors_origins_accept_a_json_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUILL_CORS_ORIGINS", '["https://a.example", "http://127.0.0.1:5173"]')
    assert Settings().cors_origins == ["https://a.example", "http://127.0.0.1:5173"]
    monkeypatch.setenv("QUILL_CORS_ORIGINS", "https://a.example, https://[::1]:8443")
    assert Settings().cors_origins == ["https://a.example", "https://[::1]:8443"]


@pytest.mark.parametrize("value", ["*", '["*"]', "https://a.example,*",
                                   '[ "https://a.example", "*"]'])
def test_production_refuses_wildcard_cors_in_either_form(
    monkeypatch: pytest.MonkeyPatch, value: str,
) -> None:
    monkeypatch.setenv("QUILL_CORS_ORIGINS", value)
    settings = Settings(env="production", secret_key=GOOD_SECRET)
    with pytest.raises(UnsafeSettingsError, match="QUILL_CORS_ORIGINS"):
        settings.check_production_safety()


def test_cli_refuses_to_start_naming_the_bad_origin(tmp_path: Path) -> None:
    env = {"QUILL_CORS_ORIGINS": '["https://a.example", "https://b.example/app"]',
           "QUILL_DATA_DIR": str(tmp_path), "PATH": ""}
    result = subprocess.run(
        [sys.executable, "-m", "quill", "migrate"], env=env, capture_output=True, text=True,
        check=False, timeout=60,
    )
    assert result.returncode != 0
    assert "'https://b.example/app'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("key", ["", "short", "changeme", "a" * 40, GOOD_SECRET])
def test_production_refuses_a_missing_weak_or_shared_audit_key(key: str) -> None:
    with pytest.raises(UnsafeSettingsError, match="QUILL_AUDIT_KEY"):
        _production(audit_key=key).check_production_safety()


def test_production_never_generates_an_audit_key(tmp_path: Path) -> None:
    settings = Settings(env="production", data_dir=tmp_path, audit_key="")
    with pytest.raises(UnsafeSettingsError, match="QUILL_AUDIT_KEY"):
        settings.resolved_audit_key()
    assert not (tmp_path / "audit_key").exists()


def test_development_generates_and_keeps_an_audit_key_apart_from_the_secret(
        tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="", audit_key="")
    assert settings.existing_audit_key() is None
    first = settings.resolved_audit_key()
    assert len(first) >= 32
    assert first != settings.resolved_secret_key()
    assert Settings(data_dir=tmp_path, audit_key="").existing_audit_key() == first
    assert settings.audit_checkpoint_file == tmp_path / "audit-checkpoints.jsonl"


def test_cli_refuses_to_start_without_the_audit_key(tmp_path: Path) -> None:
    env = {"QUILL_ENV": "production", "QUILL_SECRET_KEY": GOOD_SECRET,
           "QUILL_DATA_DIR": str(tmp_path), "PATH": ""}
    result = subprocess.run(
        [sys.executable, "-m", "quill", "migrate"], env=env, capture_output=True, text=True,
        check=False, timeout=60,
    )
    assert result.returncode != 0
    assert "QUILL_AUDIT_KEY" in result.stderr
