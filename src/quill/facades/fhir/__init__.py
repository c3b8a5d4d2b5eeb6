"""The /fhir facade: an R4 REST subset over whichever FhirStore Quill runs on."""
