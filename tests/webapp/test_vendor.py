"""The vendored browser files match the versions and digests recorded beside them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from quill.webapp.rendering import STATIC_DIR, TEMPLATES_DIR

PROJECT = Path(__file__).resolve().parents[2]
VENDOR_SCRIPT = PROJECT / "scripts" / "vendor.py"
MANIFEST = STATIC_DIR / "vendor" / "VENDOR.json"


def _check(*extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(VENDOR_SCRIPT), "--check", *extra],
                          capture_output=True, text=True, timeout=60, check=False)


def test_every_vendored_file_is_pinned_licensed_and_unchanged() -> None:
    packages = json.loads(MANIFEST.read_text())["packages"]
    assert {p["package"] for p in packages} == {"htmx.org", "htmx-ext-sse"}
    for package in packages:
        assert package["version"].count(".") == 2
        assert package["licence"] == "0BSD"
        assert len(package["file_sha256"]) == 64
    result = _check()
    assert result.returncode == 0, result.stderr


def test_the_check_notices_a_changed_file(tmp_path: Path) -> None:
    copy = tmp_path / "vendor"
    shutil.copytree(STATIC_DIR / "vendor", copy)
    assert _check("--dir", str(copy)).returncode == 0
    target = copy / "htmx-ext-sse.min.js"
    target.write_bytes(target.read_bytes() + b"\n// changed\n")
    result = _check("--dir", str(copy))
    assert result.returncode == 1
    assert "htmx-ext-sse.min.js does not match its sha256" in result.stderr


def test_the_pages_load_exactly_the_vendored_scripts() -> None:
    base = (TEMPLATES_DIR / "base.html").read_text()
    for package in json.loads(MANIFEST.read_text())["packages"]:
        assert f'src="/static/vendor/{package["file"]}"' in base
