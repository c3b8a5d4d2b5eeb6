"""CBAC over HTTP: a caller's competencies, the admin change, the catalogue, the gate."""

from __future__ import annotations

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI

from quill.access.cbac import Competency
from quill.access.service import ensure_may_grant
from quill.auth.deps import require_competency
from quill.errors import Forbidden
from quill.identity.levels import PermissionLevel
from tests.audit_rows import audit_actions
from tests.helpers import logged_in


async def test_my_competencies(app: FastAPI, client: httpx.AsyncClient) -> None:
    nurse = await logged_in(app, "nurse", level="staff", profession="registered_nurse",
                            removed_competencies=["perform_cannulation"])
    body = (await client.get("/api/cbac/my-competencies", headers=nurse.headers)).json()
    assert body == {
        "user_id": nurse.user_id, "username": "nurse", "base_profession": "registered_nurse",
        "additional_competencies": [], "removed_competencies": ["perform_cannulation"],
        "final_competencies": ["access_patient_records", "modify_patient_records",
                               "perform_venepuncture", "refer_specialty"]}


async def test_catalogue(app: FastAPI, client: httpx.AsyncClient) -> None:
    patient = await logged_in(app, "pat")
    body = (await client.get("/api/cbac/catalogue", headers=patient.headers)).json()
    by_id = {c["id"]: c for c in body["competencies"]}
    assert set(by_id) == {c.value for c in Competency}
    assert by_id["prescribe_controlled_schedule_2"]["risk_level"] == "high"
    assert by_id["prescribe_controlled_schedule_2"]["category"] == "prescribing"
    assert by_id["view_teaching_cases"]["clinical"] is False
    professions = {p["id"]: p for p in body["professions"]}
    assert professions["receptionist"]["competencies"] == [
        "access_clinic_admin", "access_patient_records"]


async def test_admin_patches_another_users_competencies(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await logged_in(app, "admin", level="admin")
    nurse = await logged_in(app, "nurse", level="staff", profession="registered_nurse")
    response = await client.patch("/api/cbac/my-competencies", headers=admin.headers, json={
        "user_id": nurse.user_id, "additional_competencies": ["interpret_ecg"],
        "removed_competencies": ["perform_cannulation"]})
    assert response.status_code == 200
    body = response.json()
    assert body["user_id"] == nurse.user_id
    assert "interpret_ecg" in body["final_competencies"]
    assert "perform_cannulation" not in body["final_competencies"]
    assert ("user.competencies_change", None, admin.user_id) in await audit_actions(app)
    mine = (await client.get("/api/cbac/my-competencies", headers=nurse.headers)).json()
    assert mine["final_competencies"] == body["final_competencies"]


@pytest.mark.parametrize("level", ["staff", "admin", "superadmin"])
async def test_nobody_patches_their_own_competencies(
    app: FastAPI, client: httpx.AsyncClient, level: str
) -> None:
    me = await logged_in(app, "me", level=level)
    response = await client.patch("/api/cbac/my-competencies", headers=me.headers, json={
        "user_id": me.user_id, "additional_competencies": ["refer_specialty"]})
    assert response.status_code == 403


async def test_admin_cannot_change_an_admins_competencies(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await logged_in(app, "admin", level="admin")
    other = await logged_in(app, "admin2", level="admin")
    root = await logged_in(app, "root", level="superadmin")
    body = {"user_id": other.user_id, "additional_competencies": ["interpret_ecg"]}
    denied = await client.patch("/api/cbac/my-competencies", headers=admin.headers, json=body)
    assert denied.status_code == 403
    allowed = await client.patch("/api/cbac/my-competencies", headers=root.headers, json=body)
    assert allowed.status_code == 200


@pytest.mark.parametrize("field", ["additional_competencies", "removed_competencies"])
async def test_unknown_competency_is_400(
    app: FastAPI, client: httpx.AsyncClient, field: str
) -> None:
    admin = await logged_in(app, "admin", level="admin")
    nurse = await logged_in(app, "nurse", level="staff")
    response = await client.patch("/api/cbac/my-competencies", headers=admin.headers,
                                  json={"user_id": nurse.user_id, field: ["teleport"]})
    assert response.status_code == 400
    assert response.json()["detail"] == "Unknown competency: teleport"


async def test_unknown_target_is_404(app: FastAPI, client: httpx.AsyncClient) -> None:
    admin = await logged_in(app, "admin", level="admin")
    response = await client.patch("/api/cbac/my-competencies", headers=admin.headers,
                                  json={"user_id": 777777, "additional_competencies": []})
    assert response.status_code == 404


@pytest.mark.parametrize(("actor", "allowed"), [
    (PermissionLevel.STAFF, False), (PermissionLevel.PATIENT, False),
    (PermissionLevel.EXTERNAL_HCP, False), (PermissionLevel.ADMIN, True),
    (PermissionLevel.SUPERADMIN, True),
])
def test_adding_a_high_risk_competency_needs_admin(
    actor: PermissionLevel, allowed: bool
) -> None:
    ensure_may_grant(actor, [], ["refer_specialty"])  # low risk: anyone the route lets in
    ensure_may_grant(actor, ["interpret_ecg"], [])  # removing is never restricted here
    ensure_may_grant(actor, ["interpret_ecg"], ["interpret_ecg"])  # already held
    if allowed:
        ensure_may_grant(actor, [], ["interpret_ecg"])
    else:
        with pytest.raises(Forbidden):
            ensure_may_grant(actor, [], ["interpret_ecg"])


async def test_require_competency_gate(app: FastAPI, client: httpx.AsyncClient) -> None:
    gated = APIRouter()

    @gated.get("/api/test-gated",
               dependencies=[Depends(require_competency(
                   Competency.PRESCRIBE_CONTROLLED_SCHEDULE_2))])
    async def gated_route() -> dict[str, str]:
        return {"ok": "yes"}

    app.include_router(gated)
    nurse = await logged_in(app, "nurse", level="staff", profession="registered_nurse")
    pharmacist = await logged_in(app, "pharm", level="staff", profession="pharmacist")
    removed = await logged_in(app, "cons", level="staff", profession="consultant",
                              removed_competencies=["prescribe_controlled_schedule_2"])
    assert (await client.get("/api/test-gated")).status_code == 401
    denied = await client.get("/api/test-gated", headers=nurse.headers)
    assert denied.status_code == 403
    assert denied.json() == {"detail": "Missing competency: prescribe_controlled_schedule_2"}
    assert (await client.get("/api/test-gated", headers=removed.headers)).status_code == 403
    assert (await client.get("/api/test-gated", headers=pharmacist.headers)).status_code == 200
