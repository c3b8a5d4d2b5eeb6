"""CBAC routes: a caller's competencies, the admin change, and the catalogue."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from quill.access.cbac import final_competencies, load_catalogue
from quill.auth.deps import AdminCaller, AuditorDep, CurrentCaller
from quill.competencies.schemas import (
    CatalogueOut,
    CompetenciesOut,
    CompetenciesPatch,
    CompetencyOut,
    ProfessionOut,
)
from quill.competencies.service import CompetencyService
from quill.identity.caller import UserIdentity
from quill.identity.models import User
from quill.web.deps import DbSession
from quill.web.routing import api_router

router = api_router("/cbac", tags=["cbac"])


async def get_service(request: Request, db: DbSession, caller: CurrentCaller,
                      auditor: AuditorDep) -> CompetencyService:
    # ``request`` unused: the same signature as every router's factory, so web pages
    # build this service the way they build the others.
    return CompetencyService(db=db, caller=caller, auditor=auditor)


CompetencyServiceDep = Annotated[CompetencyService, Depends(get_service)]


def competencies_out(user: User | UserIdentity) -> CompetenciesOut:
    additional = list(user.additional_competencies)
    removed = list(user.removed_competencies)
    return CompetenciesOut(
        user_id=user.id, username=user.username, base_profession=user.base_profession,
        additional_competencies=additional, removed_competencies=removed,
        final_competencies=final_competencies(user.base_profession, additional, removed),
    )


@router.get("/my-competencies", response_model=CompetenciesOut)
async def my_competencies(caller: CurrentCaller) -> CompetenciesOut:
    return competencies_out(caller.user)


@router.patch("/my-competencies", response_model=CompetenciesOut)
async def patch_competencies(body: CompetenciesPatch, caller: AdminCaller,
                             service: CompetencyServiceDep) -> CompetenciesOut:
    target = await service.change(body.user_id, additional=body.additional_competencies,
                                  removed=body.removed_competencies)
    return competencies_out(target)


@router.get("/catalogue", response_model=CatalogueOut)
async def catalogue(caller: CurrentCaller) -> CatalogueOut:
    data = load_catalogue()
    return CatalogueOut(
        competencies=[
            CompetencyOut(id=c.id, category=c.category, risk_level=c.risk,
                          description=c.description, clinical=c.is_clinical)
            for c in data.competencies.values()
        ],
        professions=[
            ProfessionOut(id=p.id, name=p.name, competencies=sorted(p.competencies))
            for p in data.professions.values()
        ],
    )
