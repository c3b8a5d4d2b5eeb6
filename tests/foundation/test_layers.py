"""The layer contracts in pyproject.toml catch an import that points up.

``make lint`` runs the contracts over the real tree; this test shows they can fail: the
same configuration over a copy of the package with one forbidden import added.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import quill

PROJECT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports with the project's contracts over the package found under ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(PROJECT / "pyproject.toml")],
        cwd=tree, env=env, capture_output=True, text=True, timeout=120, check=False,
    )


def _copy_of_quill(tmp_path: Path) -> Path:
    shutil.copytree(Path(quill.__file__).parent, tmp_path / "quill",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_upward_imports_and_fastapi_in_a_service_are_refused(tmp_path: Path) -> None:
    tree = _copy_of_quill(tmp_path)
    levels = tree / "quill" / "identity" / "levels.py"
    levels.write_text(levels.read_text() + "\nimport quill.auth.deps  # noqa: E402,F401\n")
    service = tree / "quill" / "patients" / "service.py"
    service.write_text(service.read_text() + "\nimport fastapi  # noqa: E402,F401\n")
    result = _lint(tree)
    assert result.returncode == 1
    assert "quill.identity is not allowed to import quill.auth" in result.stdout
    assert "quill.patients.service is not allowed to import fastapi" in result.stdout
