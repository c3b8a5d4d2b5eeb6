"""Registering, and accepting an invite from its email link, as a browser with JavaScript
off would: the same services, limits and outcomes as /api/auth/register and
/api/accept-invite."""

from __future__ import annotations

import secrets

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from quill.access.models import ExternalGrant, StaffMembership
from quill.clock import ManualClock
from quill.identity.models import User
from tests.audit_rows import audit_actions
from tests.helpers import logged_in, make_organisation, make_user, runtime_of
from tests.webapp.support import assert_page_headers, browser, form_token, sign_in, signed_in

PASSWORD = "a long enough password"


async def _user(app: FastAPI, username: str) -> User | None:
    async with runtime_of(app).session_factory() as db:
        return (await db.execute(select(User).where(User.username == username))
                ).scalar_one_or_none()


async def _register(http: httpx.AsyncClient, **fields: str) -> httpx.Response:
    form = await http.get("/register")
    data = {"username": "newbie", "email": "newbie@example.org", "full_name": "New Bie",
            "organisation_id": "", "password": PASSWORD, "confirm_password": PASSWORD,
            **fields}
    return await http.post("/register", data={"csrf_token": form_token(form), **data})


async def test_register_page_offers_the_public_organisations_and_says_what_is_hidden(
        app: FastAPI) -> None:
    await make_organisation(app, "Elm Street Surgery")
    await make_organisation(app, "Riverside Hospital")
    async with browser(app) as http:
        page = await http.get("/register")
    assert page.status_code == 200
    assert_page_headers(page)
    assert page.text.index("Elm Street Surgery") < page.text.index("Riverside Hospital")
    assert "no health" in page.text
    assert "information at all" in page.text
    assert "links the account to" in page.text
    assert 'href="/register"' in (await _sign_in_page(app)).text


async def _sign_in_page(app: FastAPI) -> httpx.Response:
    async with browser(app) as http:
        return await http.get("/sign-in")


async def test_register_creates_a_patient_account_in_the_chosen_organisation(
        app: FastAPI) -> None:
    org = await make_organisation(app, "Elm Street Surgery")
    async with browser(app) as http:
        done = await _register(http, organisation_id=str(org))
        assert done.status_code == 303
        assert done.headers["location"] == "/sign-in?done=registered"
        assert "Your account has been created" in (await http.get(done.headers["location"])).text
        assert (await sign_in(http, "newbie", PASSWORD)).status_code == 303
        home = await http.get("/")
        assert "not linked to a health record yet" in home.text
        record = await http.get("/my-record")
        assert record.status_code == 200
        assert "nothing to show here" in record.text
    user = await _user(app, "newbie")
    assert user is not None
    assert user.system_permissions == "patient"
    assert user.full_name == "New Bie"
    async with runtime_of(app).session_factory() as db:
        memberships = (await db.execute(select(StaffMembership.organisation_id).where(
            StaffMembership.user_id == user.id))).scalars().all()
    assert list(memberships) == [org]
    assert ("user.register", None, user.id) in await audit_actions(app)


async def test_register_shows_fixable_errors_and_keeps_what_was_typed(app: FastAPI) -> None:
    await make_user(app, "taken", email="taken@example.org")
    attempts = iter(range(1, 100))

    async def attempt(**fields: str) -> httpx.Response:
        # Each from its own address: refused attempts count towards the rate limit too.
        async with browser(app, client_ip=f"10.1.0.{next(attempts)}") as http:
            return await _register(http, **fields)

    taken = await attempt(username="taken", full_name="Kept Name")
    assert taken.status_code == 400
    assert "Username already exists" in taken.text
    assert 'value="Kept Name"' in taken.text
    assert PASSWORD not in taken.text
    email = await attempt(username="other", email="taken@example.org")
    assert "Email already exists" in email.text
    mismatch = await attempt(username="other", confirm_password="different")
    assert mismatch.status_code == 400
    assert "The two passwords are not the same" in mismatch.text
    short = await attempt(username="other", password="short", confirm_password="short")
    assert short.status_code == 400
    assert "at least" in short.text.lower()
    unknown = await attempt(username="other", organisation_id="999999")
    assert unknown.status_code == 400
    assert "Organisation not found" in unknown.text
    bad_name = await attempt(username="has space")
    assert "no spaces" in bad_name.text
    # Nothing half-made: the refused unknown organisation left no account behind.
    assert await _user(app, "other") is None


async def test_register_rate_limit_is_a_readable_message(app: FastAPI) -> None:
    async with browser(app, client_ip="10.9.9.9") as http:
        answers = [await _register(http, username=f"burst{n}", email=f"burst{n}@example.org")
                   for n in range(4)]
    assert [a.status_code for a in answers[:3]] == [303, 303, 303]
    assert answers[3].status_code == 429
    assert "Too many attempts. Wait" in answers[3].text
    assert await _user(app, "burst3") is None


# ----- invites ----------------------------------------------------------------------

async def _invite(app: FastAPI, email: str, user_type: str = "patient_advocate",
                  patient_id: str = "pat-1") -> str:
    """An invite issued through the API by an admin, as an email would carry it."""
    admin = await logged_in(app, f"admin-{secrets.token_hex(4)}", level="admin",
                            profession="system_administrator")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
        issued = await api.post(f"/api/patients/{patient_id}/invite-external",
                                headers=admin.headers,
                                json={"email": email, "user_type": user_type})
    assert issued.status_code == 200, issued.text
    url = issued.json()["invite_url"]
    assert url.endswith(f"/accept-invite?token={issued.json()['token']}")
    return str(issued.json()["token"])


async def _grants(app: FastAPI, username: str) -> list[str]:
    user = await _user(app, username)
    assert user is not None
    async with runtime_of(app).session_factory() as db:
        return list((await db.execute(select(ExternalGrant.patient_id).where(
            ExternalGrant.user_id == user.id, ExternalGrant.revoked_at.is_(None)))
        ).scalars().all())


async def test_accepting_an_invite_creates_the_account(app: FastAPI) -> None:
    await make_organisation(app, "Surgery", patients=["pat-1"])
    token = await _invite(app, "rel@example.org")
    async with browser(app) as http:
        form = await http.get(f"/accept-invite?token={token}")
        assert form.status_code == 200
        assert_page_headers(form)
        assert "rel@example.org" in form.text
        assert "Create your account" in form.text
        short = await http.post("/accept-invite", data={
            "csrf_token": form_token(form), "token": token, "username": "rel",
            "password": PASSWORD, "confirm_password": "other"})
        assert short.status_code == 400
        assert "The two passwords are not the same" in short.text
        done = await http.post("/accept-invite", data={
            "csrf_token": form_token(form), "token": token, "username": "rel",
            "password": PASSWORD, "confirm_password": PASSWORD})
        assert done.status_code == 303
        assert done.headers["location"] == "/sign-in?done=invite-registered"
        assert (await sign_in(http, "rel", PASSWORD)).status_code == 303
    user = await _user(app, "rel")
    assert user is not None
    assert user.system_permissions == "patient_advocate"
    assert await _grants(app, "rel") == ["pat-1"]


async def test_an_existing_account_signs_in_and_comes_back_to_accept(app: FastAPI) -> None:
    await make_organisation(app, "Surgery", patients=["pat-1"])
    await make_user(app, "known-hcp", level="external_hcp", profession="external_hcp",
                    email="hcp@example.org")
    token = await _invite(app, "hcp@example.org", "external_hcp")
    async with browser(app) as http:
        form = await http.get(f"/accept-invite?token={token}")
        assert "An account already uses this email address" in form.text
        assert f"/sign-in?next=%2Faccept-invite%3Ftoken%3D{token}" in form.text
        # Posting without signing in (a session that ended after the page was shown, say):
        # sent to sign in, and back to the invite afterwards. Same cookie, same token.
        anonymous_token = form_token(await http.get("/sign-in"))
        sent = await http.post("/accept-invite", data={"csrf_token": anonymous_token,
                                                       "token": token})
        assert sent.status_code == 303
        location = sent.headers["location"]
        assert location.startswith("/sign-in?next=%2Faccept-invite%3Ftoken%3D")
        sign_in_page = await http.get(location)
        assert "Sign in as that account" in sign_in_page.text
        back = await sign_in(http, "known-hcp", next=f"/accept-invite?token={token}")
        assert back.headers["location"] == f"/accept-invite?token={token}"
        signed = await http.get(back.headers["location"])
        assert "You are signed in as <strong>known-hcp</strong>" in signed.text
        assert await _grants(app, "known-hcp") == []
        accepted = await http.post("/accept-invite", data={
            "csrf_token": form_token(signed), "token": token})
        assert accepted.status_code == 303
        assert accepted.headers["location"] == "/?done=invite-accepted"
        assert "The invitation has been accepted" in (await http.get("/?done=invite-accepted")
                                                      ).text
    assert await _grants(app, "known-hcp") == ["pat-1"]


async def test_an_invite_for_someone_else_is_refused_to_the_signed_in_account(
        app: FastAPI) -> None:
    await make_organisation(app, "Surgery", patients=["pat-1"])
    await make_user(app, "owner", level="patient_advocate", profession="patient_advocate",
                    email="owner@example.org")
    await make_user(app, "intruder", level="patient_advocate",
                    profession="patient_advocate")
    token = await _invite(app, "owner@example.org")
    async with signed_in(app, "intruder") as http:
        form = await http.get(f"/accept-invite?token={token}")
        refused = await http.post("/accept-invite", data={"csrf_token": form_token(form),
                                                          "token": token})
    assert refused.status_code == 403
    assert "sent to another account" in refused.text
    assert await _grants(app, "intruder") == []
    assert await _grants(app, "owner") == []


async def _unusable(http: httpx.AsyncClient, token: str) -> None:
    shown = await http.get(f"/accept-invite?token={token}")
    assert shown.status_code == 400
    assert "This invitation cannot be used" in shown.text
    assert_page_headers(shown)


async def test_expired_used_and_revoked_invites_get_a_clear_page(
        app: FastAPI, clock: ManualClock) -> None:
    await make_organisation(app, "Surgery", patients=["pat-1", "pat-2"])
    used = await _invite(app, "used@example.org")
    revoked = await _invite(app, "gone@example.org", patient_id="pat-2")
    async with browser(app) as http:
        form = await http.get(f"/accept-invite?token={used}")
        for token, name in ((used, "used-one"), (revoked, "gone-one")):
            done = await http.post("/accept-invite", data={
                "csrf_token": form_token(form), "token": token, "username": name,
                "password": PASSWORD, "confirm_password": PASSWORD})
            assert done.status_code == 303
        await _unusable(http, used)
        again = await http.post("/accept-invite", data={
            "csrf_token": form_token(form), "token": used, "username": "second",
            "password": PASSWORD, "confirm_password": PASSWORD})
        assert again.status_code == 400
        assert "This invitation cannot be used" in again.text
        # A second invite to the same person, then their access is withdrawn: the
        # pending invite is spent with it.
        pending = await _invite(app, "gone@example.org", patient_id="pat-2")
        user = await _user(app, "gone-one")
        assert user is not None
        admin = await logged_in(app, "revoker", level="admin",
                                profession="system_administrator")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
            gone = await api.delete(f"/api/patients/pat-2/external-access/{user.id}",
                                    headers=admin.headers)
            assert gone.status_code == 200
        await _unusable(http, pending)
        expiring = await _invite(app, "late@example.org")
        clock.advance(days=7, seconds=1)
        await _unusable(http, expiring)
        await _unusable(http, "not-a-real-token")
        assert (await http.get("/accept-invite")).status_code == 400
    assert await _user(app, "second") is None
