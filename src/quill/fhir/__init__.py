"""FHIR: the store port and its embedded (SQL) and HTTP stores."""

from quill.fhir.port import (
    ConditionalDelete,
    ConditionalPut,
    Create,
    Delete,
    FhirGateway,
    FhirStore,
    HistoryEntry,
    Put,
    Resource,
    SearchPage,
    SearchParams,
    TransactionEntry,
    TransactionResult,
    etag,
    iter_search,
    parse_etag,
    reference,
    reference_to,
    split_reference,
    version_of,
)

__all__ = [
    "ConditionalDelete", "ConditionalPut", "Create", "Delete", "FhirGateway", "FhirStore",
    "HistoryEntry", "Put", "Resource", "SearchPage", "SearchParams", "TransactionEntry",
    "TransactionResult", "etag", "iter_search", "parse_etag", "reference", "reference_to",
    "split_reference", "version_of",
]
