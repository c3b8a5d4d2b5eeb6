"""VAPID keys (RFC 8292): from settings, or generated once into the data dir in development."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from quill.settings import Settings, UnsafeSettingsError

KEY_FILE = "vapid_private_key.pem"


@dataclass(frozen=True)
class VapidKeys:
    private_key: ec.EllipticCurvePrivateKey

    @property
    def public_key(self) -> str:
        """The application server key browsers pass to ``pushManager.subscribe``."""
        return b64url(_public_point(self.private_key))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    text = text.strip()
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _public_point(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def parse_private_key(text: str) -> ec.EllipticCurvePrivateKey:
    """A P-256 private key given as PEM or as base64url of the raw 32-byte scalar."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(text.encode(), password=None)
    else:
        try:
            raw = b64url_decode(text)
        except (binascii.Error, ValueError) as exc:
            raise UnsafeSettingsError("QUILL_VAPID_PRIVATE_KEY is not base64url") from exc
        if len(raw) != 32:
            raise UnsafeSettingsError("QUILL_VAPID_PRIVATE_KEY must be 32 raw bytes or PEM")
        key = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise UnsafeSettingsError("QUILL_VAPID_PRIVATE_KEY must be a P-256 key")
    return key


def _generated_key(data_dir: Path) -> ec.EllipticCurvePrivateKey:
    path = data_dir / KEY_FILE
    if path.exists():
        return parse_private_key(path.read_text())
    key = ec.generate_private_key(ec.SECP256R1())
    data_dir.mkdir(parents=True, exist_ok=True)
    path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))
    path.chmod(0o600)
    return key


def load_vapid_keys(settings: Settings) -> VapidKeys | None:
    """The configured keys; None (push disabled) in production when none are set."""
    private, public = settings.vapid_private_key.strip(), settings.vapid_public_key.strip()
    if not private:
        if public:
            raise UnsafeSettingsError("QUILL_VAPID_PUBLIC_KEY is set without the private key")
        if settings.is_production:
            return None
        return VapidKeys(_generated_key(settings.data_dir))
    keys = VapidKeys(parse_private_key(private))
    if public and public.rstrip("=") != keys.public_key:
        raise UnsafeSettingsError("QUILL_VAPID_PUBLIC_KEY does not match the private key")
    return keys
