"""Imports every table module so the metadata is complete (Alembic, tests, create_all).

Add a line here when a domain gains a models.py.
"""

from __future__ import annotations

import quill.access.models
import quill.audit.models
import quill.auth.models
import quill.email.models
import quill.external_access.models
import quill.fhir.models
import quill.identity.models
import quill.messaging.models
import quill.openehr.models
import quill.patients.models
import quill.push.models  # noqa: F401
from quill.db.base import Base

metadata = Base.metadata
