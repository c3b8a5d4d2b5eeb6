"""Rewrite the single initial migration from the models.

Quill has not been released, so its schema is one migration; after changing models run
``make migration`` and commit the result. Once a release exists, add migrations instead.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from quill.migrations.run import MIGRATIONS_DIR, autogenerate


def main() -> int:
    versions = MIGRATIONS_DIR / "versions"
    for old in versions.glob("*.py"):
        old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        autogenerate(f"sqlite:///{Path(tmp) / 'blank.db'}", "initial schema", rev_id="0001")
    return 0


if __name__ == "__main__":
    sys.exit(main())
