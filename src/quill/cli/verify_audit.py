"""``quill verify-audit``: the chain against the audit key and the checkpoint files."""

from __future__ import annotations

from pathlib import Path

from quill.audit.checkpoints import Checkpoint, CheckpointError, read_checkpoints
from quill.audit.verify import verify_chain
from quill.db.engine import make_engine, make_session_factory
from quill.settings import Settings


def _checkpoints(paths: list[Path], key: bytes, notes: list[str]) -> list[Checkpoint]:
    points: list[Checkpoint] = []
    for path in paths:
        if not path.exists():
            notes.append(f"note: no checkpoint file {path}; a cut tail cannot be detected")
            continue
        points.extend(read_checkpoints(path, key))
    return points


async def verify_audit(settings: Settings, paths: list[Path]) -> tuple[int, list[str]]:
    """The exit code and the lines to print: 0 intact, 1 tampered, 2 cannot check."""
    key_text = settings.existing_audit_key()
    if key_text is None:
        return 2, ["error: QUILL_AUDIT_KEY is not set and no generated key is in the data "
                   "directory"]
    key = key_text.encode()
    notes: list[str] = []
    try:
        points = _checkpoints(paths or [settings.audit_checkpoint_file], key, notes)
    except CheckpointError as exc:
        return 1, [f"audit checkpoints rejected: {exc}"]
    engine = make_engine(settings.database_url)
    try:
        async with make_session_factory(engine)() as db:
            result = await verify_chain(db, key, points)
    finally:
        await engine.dispose()
    if result.ok:
        return 0, [*notes, f"audit chain ok: {result.checked} entries verified "
                           f"({result.checkpoints} checkpoints)"]
    return 1, [*notes, f"audit chain broken at entry {result.first_bad_seq}: {result.reason} "
                       f"({result.checked} entries verified before it)"]
