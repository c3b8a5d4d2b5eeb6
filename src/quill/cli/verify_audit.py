"""``quill verify-audit`` and ``quill record-restore``: the chain against the audit key and
the checkpoint files, and the keyed record that a backup was restored."""

from __future__ import annotations

import asyncio
from pathlib import Path

from quill.audit.checkpoints import (
    AuditMark,
    CheckpointError,
    RestoreRecord,
    append_line,
    in_written_order,
    read_marks,
)
from quill.audit.verify import VerifyResult, verify_chain
from quill.clock import Clock
from quill.db.engine import make_engine, make_session_factory
from quill.settings import Settings

NO_KEY = ("error: QUILL_AUDIT_KEY is not set and no generated key is in the data "
          "directory")


def _marks(paths: list[Path], key: bytes, notes: list[str]) -> list[AuditMark]:
    files: list[list[AuditMark]] = []
    for path in paths:
        if not path.exists():
            notes.append(f"note: no checkpoint file {path}; a cut tail cannot be detected")
            continue
        files.append(read_marks(path, key))
    return list(in_written_order(files))


async def _verify(settings: Settings, key: bytes, marks: list[AuditMark],
                  allow_cut: bool = False) -> VerifyResult:
    engine = make_engine(settings.database_url)
    try:
        async with make_session_factory(engine)() as db:
            return await verify_chain(db, key, marks, allow_cut=allow_cut)
    finally:
        await engine.dispose()


def _broken(result: VerifyResult) -> str:
    return (f"audit chain broken at entry {result.first_bad_seq}: {result.reason} "
            f"({result.checked} entries verified before it)")


def restore_line(record: RestoreRecord) -> str:
    return (f"restore recorded at {record.time}: entries after {record.restored_to_seq} "
            f"were lost (checkpoints had reached entry {record.lost_through_seq})")


async def verify_audit(settings: Settings, paths: list[Path]) -> tuple[int, list[str]]:
    """The exit code and the lines to print: 0 intact, 1 tampered, 2 cannot check."""
    key_text = settings.existing_audit_key()
    if key_text is None:
        return 2, [NO_KEY]
    key = key_text.encode()
    notes: list[str] = []
    try:
        marks = _marks(paths or [settings.audit_checkpoint_file], key, notes)
    except CheckpointError as exc:
        return 1, [f"audit checkpoints rejected: {exc}"]
    result = await _verify(settings, key, marks)
    if not result.ok:
        return 1, [*notes, _broken(result)]
    return 0, [*notes, *map(restore_line, result.restores),
               f"audit chain ok: {result.checked} entries verified "
               f"({result.checkpoints} checkpoints)"]


async def record_restore(settings: Settings, paths: list[Path],
                         clock: Clock) -> tuple[int, list[str]]:
    """Append a keyed restore record to every checkpoint file, once the restored chain
    verifies up to its end: 0 recorded (or nothing to record), 1 refused, 2 cannot check."""
    key_text = settings.existing_audit_key()
    if key_text is None:
        return 2, [NO_KEY]
    key = key_text.encode()
    files = paths or [settings.audit_checkpoint_file]
    notes: list[str] = []
    try:
        marks = _marks(files, key, notes)
    except CheckpointError as exc:
        return 1, [f"audit checkpoints rejected: {exc}"]
    result = await _verify(settings, key, marks, allow_cut=True)
    if not result.ok:
        return 1, [*notes, f"{_broken(result)}; no restore recorded"]
    if result.pinned_beyond_end is None:
        return 0, [*notes, f"nothing to record: the chain's {result.checked} entries reach "
                           "every checkpoint"]
    record = RestoreRecord(restored_to_seq=result.checked, hash=result.last_hash,
                           time=clock.now().isoformat(),
                           lost_through_seq=result.pinned_beyond_end)
    # Into every file: each host's checkpointer resumes from the last line of its own.
    for path in files:
        try:
            await asyncio.to_thread(append_line, path, record.line(key))
        except OSError as exc:
            return 2, [f"error: could not append to {path}: {exc.strerror or exc}"]
    return 0, [*notes, f"{restore_line(record)}; appended to "
                       f"{', '.join(map(str, files))}"]
