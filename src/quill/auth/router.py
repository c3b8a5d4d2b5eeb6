"""HTTP layer of /api/auth: parse, rate-limit, call the services, shape responses."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import BackgroundTasks, Depends, Path, Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from quill.auth.accounts import AccountService, NewAccount
from quill.auth.cookies import REFRESH_COOKIE, AuthCookies
from quill.auth.deps import AuditorDep, CurrentCaller, get_caller
from quill.auth.passwords import PasswordHasher
from quill.auth.profile import ProfileService
from quill.auth.ratelimit import RateLimiter
from quill.auth.recovery import PasswordService, RecoveryService
from quill.auth.schemas import (
    ChangePasswordIn,
    DetailOut,
    ForgotPasswordIn,
    LoginIn,
    LoginOut,
    LoginUser,
    MeOut,
    OrganizationOut,
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
from quill.auth.service import LoginAttempt, LoginService, SessionService, user_roles
from quill.auth.sessions import SessionTokens
from quill.auth.two_factor import TwoFactorService
from quill.email.port import send_after_response
from quill.errors import QuillError
from quill.web.deps import DbSession, RequestAuditorDep
from quill.web.routing import api_router
from quill.web.wiring import Platform, platform_of, wiring_of

router = api_router("/auth", tags=["auth"])


# In the signed-in dependencies below the caller comes before the session: an anonymous
# request is refused before a transaction opens, and a cache miss reads the caller through
# a short session of its own rather than the request's write transaction.

async def get_login_service(request: Request, db: DbSession,
                            auditor: RequestAuditorDep) -> LoginService:
    wiring = wiring_of(request)
    platform = wiring.get(Platform)
    return LoginService(db=db, auditor=auditor, clock=platform.clock, ids=platform.ids,
                        passwords=wiring.get(PasswordHasher), tokens=wiring.get(SessionTokens),
                        session_factory=platform.session_factory)


async def get_session_service(request: Request, caller: CurrentCaller, db: DbSession,
                              auditor: AuditorDep) -> SessionService:
    return SessionService(db=db, caller=caller, auditor=auditor,
                          clock=platform_of(request).clock)


async def get_account_service(request: Request, db: DbSession,
                              auditor: RequestAuditorDep) -> AccountService:
    wiring = wiring_of(request)
    return AccountService(db=db, auditor=auditor, passwords=wiring.get(PasswordHasher),
                          clock=wiring.get(Platform).clock)


async def get_recovery_service(request: Request, db: DbSession,
                               auditor: RequestAuditorDep) -> RecoveryService:
    wiring = wiring_of(request)
    platform = wiring.get(Platform)
    return RecoveryService(db=db, auditor=auditor, clock=platform.clock,
                           passwords=wiring.get(PasswordHasher), mailer=platform.mailer,
                           public_base_url=platform.settings.public_base_url)


async def get_password_service(request: Request, caller: CurrentCaller, db: DbSession,
                               auditor: AuditorDep) -> PasswordService:
    wiring = wiring_of(request)
    return PasswordService(db=db, caller=caller, auditor=auditor,
                           clock=wiring.get(Platform).clock,
                           passwords=wiring.get(PasswordHasher))


async def get_two_factor_service(request: Request, caller: CurrentCaller, db: DbSession,
                                 auditor: AuditorDep) -> TwoFactorService:
    wiring = wiring_of(request)
    return TwoFactorService(db=db, caller=caller, auditor=auditor,
                            clock=wiring.get(Platform).clock,
                            passwords=wiring.get(PasswordHasher))


async def get_profile_service(request: Request) -> ProfileService:
    """For /auth/me, the hottest route: the caller is resolved here rather than through
    CurrentCaller, which would cost FastAPI a second dependency step (about a tenth of
    the route's time) on every request. No DbSession: the answer is the caller itself."""
    caller = await get_caller(request)
    settings = platform_of(request).settings
    return ProfileService(caller=caller,
                          clinical_services_enabled=settings.clinical_services_enabled)


async def get_limiter(request: Request) -> RateLimiter:
    return wiring_of(request).get(RateLimiter)


async def get_cookies(request: Request) -> AuthCookies:
    return wiring_of(request).get(AuthCookies)


LoginServiceDep = Annotated[LoginService, Depends(get_login_service)]
SessionServiceDep = Annotated[SessionService, Depends(get_session_service)]
AccountServiceDep = Annotated[AccountService, Depends(get_account_service)]
RecoveryServiceDep = Annotated[RecoveryService, Depends(get_recovery_service)]
PasswordServiceDep = Annotated[PasswordService, Depends(get_password_service)]
TwoFactorServiceDep = Annotated[TwoFactorService, Depends(get_two_factor_service)]
ProfileServiceDep = Annotated[ProfileService, Depends(get_profile_service)]
Limiter = Annotated[RateLimiter, Depends(get_limiter)]
Cookies = Annotated[AuthCookies, Depends(get_cookies)]
# Session ids are UUIDs; a longer one cannot name a session (an unknown one is a 404).
SessionIdPath = Annotated[str, Path(min_length=1, max_length=128)]


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    # Listed for the docs; quill.web.openapi gives every error the one Error body.
    return {code: {"description": "Error"} for code in codes}


def _error_response(error: QuillError) -> JSONResponse:
    return JSONResponse({"detail": error.detail}, status_code=error.status_code,
                        headers=error.headers)


@router.post("/login", response_model=LoginOut, responses=_errors(400, 429))
async def login(body: LoginIn, request: Request, service: LoginServiceDep, limiter: Limiter,
                cookies: Cookies) -> Response:
    await limiter.check_login(request, body.username)
    attempt = LoginAttempt(
        username=body.username, password=body.password, totp_code=body.totp_code,
        user_agent=request.headers.get("user-agent", ""), ip=limiter.client(request),
    )
    outcome = await service.login(attempt)
    if isinstance(outcome, QuillError):
        return _error_response(outcome)
    payload = LoginOut(detail="ok", user=LoginUser(username=outcome.user.username,
                                                   roles=user_roles(outcome.user)))
    response = JSONResponse(payload.model_dump())
    cookies.set(response, outcome.tokens)
    return response


@router.post("/refresh", response_model=DetailOut, responses=_errors(401))
async def refresh(request: Request, service: LoginServiceDep, cookies: Cookies) -> Response:
    outcome = await service.refresh(request.cookies.get(REFRESH_COOKIE))
    if isinstance(outcome, QuillError):
        response = _error_response(outcome)
        cookies.clear(response)
        return response
    response = JSONResponse({"detail": "refreshed"})
    cookies.set(response, outcome)
    return response


@router.post("/logout", response_model=DetailOut, responses=_errors(401, 403))
async def logout(service: SessionServiceDep, cookies: Cookies) -> Response:
    await service.logout()
    response = JSONResponse({"detail": "ok"})
    cookies.clear(response)
    return response


@router.get("/me", response_model=MeOut, responses=_errors(401))
async def me(service: ProfileServiceDep) -> MeOut:
    return service.me()


@router.get("/organizations", response_model=OrganizationsOut)
async def organizations(service: AccountServiceDep) -> OrganizationsOut:
    rows = await service.joinable_organisations()
    return OrganizationsOut(organizations=[OrganizationOut(id=o.id, name=o.name, type=o.type)
                                           for o in rows])


@router.post("/register", response_model=DetailOut, responses=_errors(400, 429))
async def register(body: RegisterIn, request: Request, service: AccountServiceDep,
                   limiter: Limiter) -> DetailOut:
    await limiter.check("register", limiter.limits.register, request)
    new = NewAccount(username=body.username, email=body.email, password=body.password,
                     full_name=body.full_name or "")
    await service.register(new, body.organisation_id)
    return DetailOut(detail="created")


@router.post("/forgot-password", response_model=DetailOut, responses=_errors(429))
async def forgot_password(body: ForgotPasswordIn, request: Request, background: BackgroundTasks,
                          service: RecoveryServiceDep, limiter: Limiter) -> DetailOut:
    await limiter.check("forgot", limiter.limits.forgot, request)
    mail = await service.request_reset(body.email)
    if mail is not None:
        send_after_response(background, service.mailer, mail.to, mail.subject, mail.body)
    return DetailOut(detail="ok")


@router.post("/reset-password", response_model=DetailOut, responses=_errors(400, 429))
async def reset_password(body: ResetPasswordIn, request: Request, service: RecoveryServiceDep,
                         limiter: Limiter) -> DetailOut:
    await limiter.check("reset", limiter.limits.reset, request)
    await service.reset_password(body.token, body.new_password)
    return DetailOut(detail="Password reset successfully")


@router.post("/change-password", response_model=DetailOut, responses=_errors(400, 401, 403))
async def change_password(body: ChangePasswordIn, service: PasswordServiceDep) -> DetailOut:
    await service.change_password(body.current_password, body.new_password)
    return DetailOut(detail="Password changed")


@router.post("/totp/setup", response_model=TotpSetupOut, responses=_errors(400, 401, 403))
async def totp_setup(service: TwoFactorServiceDep) -> TotpSetupOut:
    return TotpSetupOut(provision_uri=await service.setup())


@router.post("/totp/verify", response_model=DetailOut, responses=_errors(400, 401, 403))
async def totp_verify(body: TotpVerifyIn, service: TwoFactorServiceDep) -> DetailOut:
    await service.verify(body.code)
    return DetailOut(detail="enabled")


@router.post("/totp/disable", response_model=DetailOut, responses=_errors(400, 401, 403))
async def totp_disable(body: TotpDisableIn, service: TwoFactorServiceDep) -> DetailOut:
    await service.disable(body.password)
    return DetailOut(detail="disabled")


@router.get("/sessions", response_model=SessionsOut, responses=_errors(401))
async def sessions(service: SessionServiceDep) -> SessionsOut:
    rows = await service.list_sessions()
    current = service.caller.session_id
    return SessionsOut(sessions=[
        SessionOut(id=row.id, created_at=row.created_at, last_used_at=row.last_used_at,
                   user_agent=row.user_agent, ip=row.ip, current=row.id == current)
        for row in rows
    ])


@router.delete("/sessions/{session_id}", response_model=StatusOut,
               responses=_errors(401, 403, 404))
async def revoke_session(session_id: SessionIdPath, service: SessionServiceDep) -> StatusOut:
    await service.revoke_session(session_id)
    return StatusOut(status="revoked")

