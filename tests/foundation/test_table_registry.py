"""quill.migrations.tables alone must register every table, as `make migration` and
Alembic import nothing else; a missing line would make autogenerate drop that table."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys

import quill
from quill.db.base import Base


def _tables_of_every_module() -> set[str]:
    for module in pkgutil.walk_packages(quill.__path__, "quill."):
        if module.name.endswith(".models"):
            importlib.import_module(module.name)
    return set(Base.metadata.tables)


def test_the_registry_alone_names_every_table_a_models_module_defines() -> None:
    registered = subprocess.run(
        [sys.executable, "-c", "import json; from quill.migrations.tables import metadata; "
                               "print(json.dumps(sorted(metadata.tables)))"],
        check=True, capture_output=True, text=True, timeout=120).stdout
    assert set(json.loads(registered)) == _tables_of_every_module()
