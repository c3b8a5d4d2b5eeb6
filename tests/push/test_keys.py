"""VAPID keys from settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from quill.push.keys import b64url, load_vapid_keys
from quill.settings import Settings, UnsafeSettingsError


def settings_with(tmp_path: Path, **values: str) -> Settings:
    return Settings.model_validate({"data_dir": tmp_path, **values})


@pytest.fixture
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_of(key: ec.EllipticCurvePrivateKey) -> str:
    return b64url(key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))


def test_pem_and_raw_private_keys_give_the_same_public_key(
    tmp_path: Path, key: ec.EllipticCurvePrivateKey,
) -> None:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    raw = b64url(key.private_numbers().private_value.to_bytes(32, "big"))
    for private in (pem, raw):
        keys = load_vapid_keys(settings_with(tmp_path, vapid_private_key=private,
                                             vapid_public_key=public_of(key)))
        assert keys is not None
        assert keys.public_key == public_of(key)
    assert not list(tmp_path.iterdir()), "configured keys are not written to disk"


@pytest.mark.parametrize("values", [
    {"vapid_private_key": "too-short"},
    {"vapid_private_key": "!!not base64!!"},
    {"vapid_public_key": "only-the-public-half"},
])
def test_bad_key_settings_are_refused(tmp_path: Path, values: dict[str, str]) -> None:
    with pytest.raises(UnsafeSettingsError):
        load_vapid_keys(settings_with(tmp_path, **values))


def test_mismatched_public_key_is_refused(
    tmp_path: Path, key: ec.EllipticCurvePrivateKey,
) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    raw = b64url(key.private_numbers().private_value.to_bytes(32, "big"))
    with pytest.raises(UnsafeSettingsError):
        load_vapid_keys(settings_with(tmp_path, vapid_private_key=raw,
                                      vapid_public_key=public_of(other)))


def test_production_without_keys_has_push_disabled(tmp_path: Path) -> None:
    assert load_vapid_keys(settings_with(tmp_path, env="production")) is None
    assert not list(tmp_path.iterdir())


def test_development_generates_once(tmp_path: Path) -> None:
    first = load_vapid_keys(settings_with(tmp_path))
    second = load_vapid_keys(settings_with(tmp_path))
    assert first is not None
    assert second is not None
    assert first.public_key == second.public_key
    assert (tmp_path / "vapid_private_key.pem").stat().st_mode & 0o077 == 0
