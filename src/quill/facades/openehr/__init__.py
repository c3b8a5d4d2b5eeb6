"""``/openehr/v1``: the openEHR REST API subset Quill serves over its embedded store.

It exists so another Quill (its EHRbase adapter) and openEHR REST clients can use this
one as their openEHR server. Callers need an admin session or the service token.
"""

from quill.facades.openehr.router import router

__all__ = ["router"]
