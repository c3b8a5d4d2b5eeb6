"""CBAC request and response bodies."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from quill.db.keyset import DbId

# Competency ids from the catalogue; unknown ones are a 400 later.
CompetencyId = Annotated[str, Field(max_length=64)]


class CompetenciesOut(BaseModel):
    user_id: int
    username: str
    base_profession: str
    additional_competencies: list[str]
    removed_competencies: list[str]
    final_competencies: list[str]


class CompetenciesPatch(BaseModel):
    """Admins change another user's additions and removals (never their own)."""

    model_config = ConfigDict(extra="forbid")

    user_id: DbId = Field(
        description="The user whose competencies change; not the caller.")
    additional_competencies: list[CompetencyId] | None = Field(default=None, max_length=100)
    removed_competencies: list[CompetencyId] | None = Field(default=None, max_length=100)


class CompetencyOut(BaseModel):
    id: str
    category: str
    risk_level: str
    description: str
    clinical: bool


class ProfessionOut(BaseModel):
    id: str
    name: str
    competencies: list[str]


class CatalogueOut(BaseModel):
    competencies: list[CompetencyOut]
    professions: list[ProfessionOut]
