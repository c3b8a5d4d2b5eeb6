"""One contract for every CompositionStore: the embedded store and the EHRbase adapter
(talking over a real socket to this project's facade), on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from quill.clock import ManualClock
from quill.errors import Invalid, NotFound, PreconditionFailed
from quill.letters.composition import (
    ARCHETYPE_ID,
    TEMPLATE_ID,
    Letter,
    build_letter,
    read_letter,
)
from quill.openehr.embedded import EmbeddedCompositionStore
from quill.openehr.http import EhrbaseCompositionStore
from quill.openehr.port import CompositionStore, VersionUid
from quill.openehr.template_upload import letter_template, upload_template

NS = "contract_ns"
UID = re.compile(r"^[0-9a-f-]{36}::[^:]+::\d+$")


def letter(clock: ManualClock, title: str, body: str = "Body", **kw: Any) -> dict[str, Any]:
    return build_letter(Letter(title=title, body=body, author_name=kw.get("author", "Dr A"),
                               author_email=kw.get("email", "a@example.org"),
                               created_at=kw.get("at", clock.now())))


NOTE_ARCHETYPE = "openEHR-EHR-COMPOSITION.encounter.v1"
NOTE_TEMPLATE = "quill_test_note.v1"


def other_kind(clock: ManualClock) -> dict[str, Any]:
    """A composition of another template: the letter's shape under an encounter root."""
    data = letter(clock, "Not a letter")
    data["archetype_node_id"] = NOTE_ARCHETYPE
    data["archetype_details"]["archetype_id"]["value"] = NOTE_ARCHETYPE
    data["archetype_details"]["template_id"]["value"] = NOTE_TEMPLATE
    return data


async def add_note_template(store: CompositionStore) -> None:
    """Upload the other template, as a template-checking server needs before its use."""
    content = letter_template().replace(TEMPLATE_ID, NOTE_TEMPLATE).replace(
        ARCHETYPE_ID, NOTE_ARCHETYPE)
    if isinstance(store, EmbeddedCompositionStore):
        await store.add_template(NOTE_TEMPLATE, content)
    else:
        assert isinstance(store, EhrbaseCompositionStore)
        assert await upload_template(store.client, content) == "uploaded"


async def test_ehr_is_created_once_per_subject(store: CompositionStore) -> None:
    assert await store.find_ehr("p1", NS) is None
    first = await store.ensure_ehr("p1", NS)
    assert await store.ensure_ehr("p1", NS) == first
    assert await store.find_ehr("p1", NS) == first
    assert await store.ensure_ehr("p1", "other_ns") != first
    assert await store.ensure_ehr("p2", NS) != first


async def test_create_and_read_by_object_id_and_version(
    store: CompositionStore, clock: ManualClock
) -> None:
    ehr = await store.ensure_ehr("p1", NS)
    uid = await store.create_composition(ehr, letter(clock, "Hello", "**Markdown** body"))
    assert UID.match(str(uid))
    assert uid.version == 1
    for reference in (str(uid), uid.object_id):
        stored = await store.read_composition(ehr, reference)
        assert stored.uid == uid
        assert stored.data["uid"]["value"] == str(uid)
        read = read_letter(stored.data)
        assert (read.title, read.body) == ("Hello", "**Markdown** body")
        assert (read.author_name, read.author_email) == ("Dr A", "a@example.org")
        assert read.created_at == clock.now()


async def test_missing_and_foreign_compositions_are_not_found(
    store: CompositionStore, clock: ManualClock
) -> None:
    mine = await store.ensure_ehr("p1", NS)
    theirs = await store.ensure_ehr("p2", NS)
    uid = await store.create_composition(mine, letter(clock, "Mine"))
    with pytest.raises(NotFound):
        await store.read_composition(theirs, str(uid))
    with pytest.raises(NotFound):
        await store.read_composition(theirs, uid.object_id)
    with pytest.raises(NotFound):
        await store.read_composition(mine, "00000000-0000-0000-0000-000000000000")
    with pytest.raises(NotFound):
        await store.read_composition(mine, str(VersionUid(uid.object_id, uid.system_id, 9)))
    with pytest.raises(NotFound):
        await store.create_composition("00000000-0000-0000-0000-00000000dead",
                                       letter(clock, "Nobody's"))
    with pytest.raises(Invalid):
        await store.read_composition(mine, "a::b")


async def test_update_adds_versions_and_keeps_old_ones(
    store: CompositionStore, clock: ManualClock
) -> None:
    ehr = await store.ensure_ehr("p1", NS)
    v1 = await store.create_composition(ehr, letter(clock, "Draft"))
    v2 = await store.update_composition(ehr, str(v1), letter(clock, "Final"))
    assert (v2.object_id, v2.system_id, v2.version) == (v1.object_id, v1.system_id, 2)
    latest = await store.read_composition(ehr, v1.object_id)
    assert latest.uid == v2
    assert latest.data["name"]["value"] == "Final"
    old = await store.read_composition(ehr, str(v1))
    assert old.uid == v1
    assert old.data["name"]["value"] == "Draft"
    page = await store.list_compositions(ehr, ARCHETYPE_ID, limit=10)
    assert [(item.uid, item.name) for item in page.items] == [(v2, "Final")]


async def test_update_from_a_stale_version_is_refused(
    store: CompositionStore, clock: ManualClock
) -> None:
    ehr = await store.ensure_ehr("p1", NS)
    v1 = await store.create_composition(ehr, letter(clock, "Draft"))
    await store.update_composition(ehr, str(v1), letter(clock, "Second"))
    with pytest.raises(PreconditionFailed):
        await store.update_composition(ehr, str(v1), letter(clock, "Lost update"))
    assert (await store.read_composition(ehr, v1.object_id)).data["name"]["value"] == "Second"
    missing = VersionUid("00000000-0000-0000-0000-000000000000", v1.system_id, 1)
    with pytest.raises(NotFound):
        await store.update_composition(ehr, str(missing), letter(clock, "Ghost"))
    other = await store.ensure_ehr("p2", NS)
    with pytest.raises(NotFound):
        await store.update_composition(other, f"{v1.object_id}::{v1.system_id}::2",
                                       letter(clock, "Wrong EHR"))


async def test_invalid_compositions_are_rejected(store: CompositionStore) -> None:
    ehr = await store.ensure_ehr("p1", NS)
    with pytest.raises(Invalid):
        await store.create_composition(ehr, {"_type": "COMPOSITION", "name": "no"})
    with pytest.raises(Invalid):
        await store.create_composition(ehr, {"_type": "OBSERVATION"})


async def test_list_is_newest_first_by_kind_with_keyset_paging(
    store: CompositionStore, clock: ManualClock
) -> None:
    await add_note_template(store)
    ehr = await store.ensure_ehr("p1", NS)
    other = await store.ensure_ehr("p2", NS)
    start = clock.now()
    made = []
    for index in range(5):
        # Two letters share a start time: the keyset must still page them exactly once.
        at = start + timedelta(minutes=min(index, 3))
        made.append(await store.create_composition(ehr, letter(clock, f"L{index}", at=at)))
    await store.create_composition(ehr, other_kind(clock))
    await store.create_composition(other, letter(clock, "Someone else's"))
    seen = []
    cursor = None
    for _ in range(5):
        page = await store.list_compositions(ehr, ARCHETYPE_ID, limit=2, cursor=cursor)
        seen.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == 5
    assert {item.uid for item in seen} == set(made)
    times = [item.start_time for item in seen]
    assert times == sorted(times, reverse=True)
    assert seen[0].name == "L4" or seen[0].name == "L3"
    assert seen[-1].name == "L0"
    assert seen[-1].composer_name == "Dr A"
    everything = await store.list_compositions(ehr, ARCHETYPE_ID, limit=5)
    assert everything.next_cursor is None
    assert len(everything.items) == 5


async def test_list_of_unknown_ehr_is_empty_and_bad_cursor_invalid(
    store: CompositionStore,
) -> None:
    ehr = await store.ensure_ehr("p1", NS)
    page = await store.list_compositions(ehr, ARCHETYPE_ID, limit=3)
    assert page.items == []
    assert page.next_cursor is None
    with pytest.raises(Invalid):
        await store.list_compositions(ehr, ARCHETYPE_ID, limit=3, cursor="not-a-cursor!")
    with pytest.raises(Invalid):
        await store.list_compositions(ehr, ARCHETYPE_ID, limit=0)
