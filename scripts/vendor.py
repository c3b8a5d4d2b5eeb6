"""Refresh or check the third-party browser files Quill serves itself (``make vendor``).

The pins live in ``src/quill/webapp/static/vendor/VENDOR.json``: for each package its
version, the file taken from the package, its licence and the sha256 of the file as
served. ``--check`` (used by the tests, no network) compares the files on disk with the
recorded digests. Without it, each pinned version is fetched with ``npm pack`` (so the
registry is the one npm is configured for), the file and the licence text are copied
beside the manifest and the digests are recorded again. No Node toolchain is needed to
run or test Quill; npm is only needed to refresh these files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VENDOR_DIR = Path(__file__).resolve().parents[1] / "src" / "quill" / "webapp" / "static" / "vendor"
MANIFEST = VENDOR_DIR / "VENDOR.json"


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_manifest(directory: Path = VENDOR_DIR) -> list[dict[str, str]]:
    entries: list[dict[str, str]] = json.loads((directory / MANIFEST.name).read_text())[
        "packages"]
    return entries


def check(directory: Path = VENDOR_DIR) -> list[str]:
    """Problems found: a missing file or one whose digest differs from the manifest."""
    problems: list[str] = []
    for entry in load_manifest(directory):
        for key in ("file", "licence_file"):
            path = directory / entry[key]
            if not path.is_file():
                problems.append(f"{entry['package']}: {entry[key]} is missing")
                continue
            if sha256_of(path) != entry[f"{key}_sha256"]:
                problems.append(f"{entry['package']}: {entry[key]} does not match its sha256")
    return problems


def _extract(tarball: Path, member: str, target: Path) -> None:
    with tarfile.open(tarball) as archive:
        source = archive.extractfile(f"package/{member}")
        if source is None:
            raise SystemExit(f"{tarball.name} has no {member}")
        target.write_bytes(source.read())


def refresh() -> None:
    entries = load_manifest()
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm is needed to refresh the vendored files (not to run Quill)")
    with tempfile.TemporaryDirectory() as scratch:
        for entry in entries:
            spec = f"{entry['package']}@{entry['version']}"
            name = subprocess.run(  # noqa: S603 - npm with the manifest's pins
                [npm, "pack", spec, "--silent", "--pack-destination", scratch],
                check=True, capture_output=True, text=True, timeout=300,
            ).stdout.strip().splitlines()[-1]
            tarball = Path(scratch) / name
            _extract(tarball, entry["source"], VENDOR_DIR / entry["file"])
            _extract(tarball, "LICENSE", VENDOR_DIR / entry["licence_file"])
            for key in ("file", "licence_file"):
                entry[f"{key}_sha256"] = sha256_of(VENDOR_DIR / entry[key])
            print(f"{spec}: {entry['file']} {entry['file_sha256']}")
    MANIFEST.write_text(json.dumps({"packages": entries}, indent=2) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="only compare the files with the recorded sha256")
    parser.add_argument("--dir", type=Path, default=VENDOR_DIR,
                        help="the vendor directory to check (default: the package's)")
    arguments = parser.parse_args()
    if arguments.check:
        problems = check(arguments.dir)
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    refresh()
    return 0


if __name__ == "__main__":
    sys.exit(main())
