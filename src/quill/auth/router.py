"""HTTP layer of /api/auth: parse, rate-limit, call the services, shape responses."""

from __future__ import annotations

from typing import Any

from fastapi import BackgroundTasks, Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from quill.auth import accounts, profile, recovery, service, two_factor
from quill.auth.cookies import clear_auth_cookies, set_auth_cookies
from quill.auth.deps import REFRESH_COOKIE, AuditorDep, CurrentCaller
from quill.auth.ratelimit import RateLimiter
from quill.auth.schemas import (
    ChangePasswordIn,
    DetailOut,
    ErrorOut,
    ForgotPasswordIn,
    LoginIn,
    LoginOut,
    LoginUser,
    MeOut,
    OrganizationsOut,
    RegisterIn,
    ResetPasswordIn,
    SessionOut,
    SessionsOut,
    StatusOut,
    TotpDisableIn,
    TotpSetupOut,
    TotpVerifyIn,
)
from quill.email.port import send_after_response
from quill.errors import QuillError
from quill.web.deps import DbSession, RequestAuditorDep, RuntimeDep, get_runtime_of
from quill.web.routing import api_router

router = api_router("/auth", tags=["auth"])


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorOut} for code in codes}


def _error_response(error: QuillError) -> JSONResponse:
    return JSONResponse({"detail": error.detail}, status_code=error.status_code,
                        headers=error.headers)


def _limiter(runtime: RuntimeDep) -> RateLimiter:
    return runtime.limiter


@router.post("/login", response_model=LoginOut, responses=_errors(400, 429))
async def login(body: LoginIn, request: Request, db: DbSession, runtime: RuntimeDep,
                auditor: RequestAuditorDep) -> Response:
    limiter = _limiter(runtime)
    await limiter.check_login(request, body.username)
    attempt = service.LoginAttempt(
        username=body.username, password=body.password, totp_code=body.totp_code,
        user_agent=request.headers.get("user-agent", ""), ip=limiter.client(request),
    )
    outcome = await service.login(db, runtime, auditor, attempt)
    if isinstance(outcome, QuillError):
        return _error_response(outcome)
    payload = LoginOut(detail="ok", user=LoginUser(username=outcome.user.username,
                                                   roles=service.user_roles(outcome.user)))
    response = JSONResponse(payload.model_dump())
    set_auth_cookies(response, outcome.tokens, runtime.settings)
    return response


@router.post("/refresh", response_model=DetailOut, responses=_errors(401))
async def refresh(request: Request, db: DbSession, runtime: RuntimeDep,
                  auditor: RequestAuditorDep) -> Response:
    outcome = await service.refresh(db, runtime, auditor, request.cookies.get(REFRESH_COOKIE))
    if isinstance(outcome, QuillError):
        response = _error_response(outcome)
        clear_auth_cookies(response, runtime.settings)
        return response
    response = JSONResponse({"detail": "refreshed"})
    set_auth_cookies(response, outcome, runtime.settings)
    return response


@router.post("/logout", response_model=DetailOut, responses=_errors(401, 403))
async def logout(caller: CurrentCaller, db: DbSession, runtime: RuntimeDep,
                 auditor: AuditorDep) -> Response:
    await service.logout(db, runtime, auditor, caller)
    response = JSONResponse({"detail": "ok"})
    clear_auth_cookies(response, runtime.settings)
    return response


@router.get("/me", response_model=MeOut, responses=_errors(401))
async def me(caller: CurrentCaller, request: Request) -> MeOut:
    # The hottest route: the runtime comes from the request rather than a dependency.
    return profile.me(get_runtime_of(request), caller)


@router.get("/organizations", response_model=OrganizationsOut)
async def organizations(db: DbSession) -> OrganizationsOut:
    return OrganizationsOut(organizations=await profile.public_organisations(db))


@router.post("/register", response_model=DetailOut, responses=_errors(400, 429))
async def register(body: RegisterIn, request: Request, db: DbSession, runtime: RuntimeDep,
                   auditor: RequestAuditorDep) -> DetailOut:
    limiter = _limiter(runtime)
    await limiter.check("register", limiter.limits.register, request)
    new = accounts.NewAccount(username=body.username, email=body.email,
                              password=body.password, full_name=body.full_name or "")
    await accounts.register(db, runtime, auditor, new, body.organisation_id)
    return DetailOut(detail="created")


@router.post("/forgot-password", response_model=DetailOut, responses=_errors(429))
async def forgot_password(body: ForgotPasswordIn, request: Request, background: BackgroundTasks,
                          db: DbSession, runtime: RuntimeDep) -> DetailOut:
    limiter = _limiter(runtime)
    await limiter.check("forgot", limiter.limits.forgot, request)
    mail = await recovery.request_reset(db, runtime, body.email)
    if mail is not None:
        send_after_response(background, runtime.mailer, mail.to, mail.subject, mail.body)
    return DetailOut(detail="ok")


@router.post("/reset-password", response_model=DetailOut, responses=_errors(400, 429))
async def reset_password(body: ResetPasswordIn, request: Request, db: DbSession,
                         runtime: RuntimeDep, auditor: RequestAuditorDep) -> DetailOut:
    limiter = _limiter(runtime)
    await limiter.check("reset", limiter.limits.reset, request)
    await recovery.reset_password(db, runtime, auditor, body.token, body.new_password)
    return DetailOut(detail="Password reset successfully")


@router.post("/change-password", response_model=DetailOut, responses=_errors(400, 401, 403))
async def change_password(body: ChangePasswordIn, caller: CurrentCaller, db: DbSession,
                          runtime: RuntimeDep, auditor: AuditorDep) -> DetailOut:
    await recovery.change_password(db, runtime, auditor, caller, body.current_password,
                                   body.new_password)
    return DetailOut(detail="Password changed")


@router.post("/totp/setup", response_model=TotpSetupOut, responses=_errors(400, 401, 403))
async def totp_setup(caller: CurrentCaller, db: DbSession, runtime: RuntimeDep,
                     auditor: AuditorDep) -> TotpSetupOut:
    return TotpSetupOut(provision_uri=await two_factor.setup(db, runtime, auditor, caller))


@router.post("/totp/verify", response_model=DetailOut, responses=_errors(400, 401, 403))
async def totp_verify(body: TotpVerifyIn, caller: CurrentCaller, db: DbSession,
                      runtime: RuntimeDep, auditor: AuditorDep) -> DetailOut:
    await two_factor.verify(db, runtime, auditor, caller, body.code)
    return DetailOut(detail="enabled")


@router.post("/totp/disable", response_model=DetailOut, responses=_errors(400, 401, 403))
async def totp_disable(body: TotpDisableIn, caller: CurrentCaller, db: DbSession,
                       runtime: RuntimeDep, auditor: AuditorDep) -> DetailOut:
    await two_factor.disable(db, runtime, auditor, caller, body.password)
    return DetailOut(detail="disabled")


@router.get("/sessions", response_model=SessionsOut, responses=_errors(401))
async def sessions(caller: CurrentCaller, db: DbSession, runtime: RuntimeDep) -> SessionsOut:
    rows = await service.list_sessions(db, runtime, caller)
    return SessionsOut(sessions=[
        SessionOut(id=row.id, created_at=row.created_at, last_used_at=row.last_used_at,
                   user_agent=row.user_agent, ip=row.ip, current=row.id == caller.session_id)
        for row in rows
    ])


@router.delete("/sessions/{session_id}", response_model=StatusOut,
               responses=_errors(401, 403, 404))
async def revoke_session(session_id: str, caller: CurrentCaller, db: DbSession,
                         runtime: RuntimeDep, auditor: AuditorDep) -> StatusOut:
    await service.revoke_session(db, runtime, auditor, caller, session_id)
    return StatusOut(status="revoked")
