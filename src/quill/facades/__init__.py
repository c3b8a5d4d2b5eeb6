"""The standard interfaces third-party clients use: FHIR R4 at /fhir, openEHR REST at /openehr/v1.

Adapters over the FHIR and openEHR ports, like the JSON routers are over the services.
"""
