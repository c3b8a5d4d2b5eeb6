"""Running the deployment for tests: Quill and nginx as real processes on free ports."""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SITE_TEMPLATE = DEPLOY / "nginx" / "quill.conf.template"
PLACEHOLDER = re.compile(r"\$\{([A-Z0-9_]+)\}")
READY_SECONDS = 60.0
STOP_SECONDS = 30.0


def random_key() -> str:
    return secrets.token_urlsafe(48)


def quill_env(settings: Mapping[str, str]) -> dict[str, str]:
    """This environment without any QUILL_* of its own, plus ``settings``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("QUILL_")}
    env.update(settings)
    return env


def start_quill(port: int, env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "quill", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=dict(env), stdout=out, stderr=subprocess.STDOUT)


def wait_until_ready(url: str, process: subprocess.Popen[bytes], *,
                     verify: ssl.SSLContext | bool = True) -> None:
    """Poll ``url`` until it answers 200; fail if the process exits or time runs out."""
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{process.args!r} exited early with {process.returncode}")
        try:
            if httpx.get(url, timeout=2.0, verify=verify).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {READY_SECONDS:.0f} s")


def stop(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM, then SIGKILL if it will not go; the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait(timeout=STOP_SECONDS)


def self_signed(directory: Path, address: str) -> tuple[Path, Path]:
    """A throwaway certificate for ``address`` (and localhost), and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(address))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


def nginx_binary() -> str:
    """nginx's path; skips (fails under CI=true) when it is not installed."""
    found = shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx", "/usr/local/sbin/nginx")
         if os.access(path, os.X_OK)), None)
    if found:
        return found
    reason = "nginx is not installed (`make test-tools` installs it when run as root)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; it is required under CI=true")
    pytest.skip(reason)


def render_site(values: Mapping[str, str]) -> str:
    """The shipped site template with its placeholders, and nothing else, filled in."""
    template = SITE_TEMPLATE.read_text()
    names = set(PLACEHOLDER.findall(template))
    assert names == set(values), f"placeholders {sorted(names)} vs values {sorted(values)}"
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


def _main_config(prefix: Path, site: Path) -> str:
    """What a distribution's nginx.conf provides around a site: here every path that
    nginx writes goes under ``prefix``."""
    # A root master would hand requests to "nobody", who cannot enter pytest's private
    # temporary directories; as root, keep the workers root too.
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(f"    {kind}_temp_path {prefix / kind};"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return (f"{user}daemon off;\nworker_processes 1;\npid {prefix / 'nginx.pid'};\n"
            f"error_log {prefix / 'error.log'} info;\n"
            "events { worker_connections 256; }\n"
            "http {\n"
            f"    access_log {prefix / 'access.log'};\n{temp}\n"
            f"    include {site};\n}}\n")


@contextmanager
def running_nginx(prefix: Path, values: Mapping[str, str], health_url: str,
                  verify: ssl.SSLContext) -> Iterator[Path]:
    """nginx in the foreground with the rendered site; yields its prefix directory."""
    binary = nginx_binary()
    prefix.mkdir(parents=True, exist_ok=True)
    site = prefix / "quill.conf"
    site.write_text(render_site(values))
    config = prefix / "nginx.conf"
    config.write_text(_main_config(prefix, site))
    base = [binary, "-p", str(prefix), "-c", str(config), "-e", str(prefix / "error.log")]
    checked = subprocess.run([*base, "-t"], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr
    with (prefix / "stderr.log").open("wb") as out:
        process = subprocess.Popen(base, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until_ready(health_url, process, verify=verify)
        yield prefix
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGQUIT)  # nginx's graceful stop
            try:
                process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_SECONDS)
