"""The scenario table. A scenario whose route the server does not serve (404/405, or absent
from its OpenAPI document) is reported as skipped, so routes light up once merged."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import httpx

from bench.load import Req

MESSAGE_BODY = json.dumps({"body": "Bench reply: bloods reviewed, no change to plan."})

ME = Req("GET", "/api/auth/me")
PATIENTS = Req("GET", "/api/patients?limit=50")
CONVERSATIONS = Req("GET", "/api/conversations?limit=50")
BUSY_LIST = Req("GET", "/api/conversations?limit=200")  # the busy clinician: 200 threads
PATIENT_READ = Req("GET", "/api/patients/bulk-{patient}")
CONVERSATION = Req("GET", "/api/conversations/{conv}")
POST_MESSAGE = Req("POST", "/api/conversations/{conv}/messages", MESSAGE_BODY)
# Web pages and the JSON routes they stand beside (the same service calls, plus HTML).
THREAD_PAGE = Req("GET", "/threads/{conv}")
PATIENTS_PAGE = Req("GET", "/patients")  # 25 patients a page
PATIENTS_25 = Req("GET", "/api/patients?limit=25")
FHIR_READ = Req("GET", "/fhir/Patient/bulk-{patient}")
FHIR_SEARCH = Req("GET", "/fhir/Patient?identifier=urn:bulk:mrn%7C{mrn}")

# Weights of a clinician's day: mostly reading threads, some lists, a few replies.
MIXED = (Req(ME.method, ME.path, weight=15), Req(PATIENTS.method, PATIENTS.path, weight=15),
         Req(CONVERSATIONS.method, CONVERSATIONS.path, weight=25),
         Req(CONVERSATION.method, CONVERSATION.path, weight=35),
         Req(POST_MESSAGE.method, POST_MESSAGE.path, POST_MESSAGE.body, weight=10))


PATIENT_READ_RATE = 100.0


@dataclass(frozen=True)
class Scenario:
    name: str
    requests: tuple[Req, ...]
    auth: str = "user"  # "user" (bench clinician bearer), "service" (facade token), "none"
    mixed: bool = False  # keep only the available requests instead of skipping
    # Open loop at half the throughput measured for auth_me (the same offered load with and
    # without the storm, so the p99s compare service, not saturation queueing).
    paced: bool = False
    storm: bool = False  # run logins at the ceiling beside these requests
    rate: float | None = None  # paced at this fixed rate (req/s) instead
    user: str = "bench"  # "bench" (clinician 0) or "busy" (the clinician in 200 threads)
    connections: int | None = None  # instead of the plan's


SCENARIOS = (
    Scenario("auth_me", (ME,)),
    Scenario("patients_list", (PATIENTS,)),
    Scenario("conversations_list", (CONVERSATIONS,)),
    Scenario("conversations_200", (BUSY_LIST,), user="busy", connections=4),
    Scenario("conversation_detail", (CONVERSATION,)),
    Scenario("post_message", (POST_MESSAGE,)),
    Scenario("mixed_clinician", MIXED, mixed=True),
    Scenario("auth_me_paced", (ME,), paced=True),
    Scenario("auth_me_login_storm", (ME,), paced=True, storm=True),
    Scenario("thread_page", (THREAD_PAGE,)),
    Scenario("patients_list_25", (PATIENTS_25,)),
    Scenario("patients_page", (PATIENTS_PAGE,)),
    Scenario("fhir_read", (FHIR_READ,), auth="service"),
    Scenario("fhir_search", (FHIR_SEARCH,), auth="service"),
    # The same offered rate with one and two workers: the audit chain's appends must not
    # make two workers queue behind each other.
    Scenario("patient_read_paced", (PATIENT_READ,), paced=True, rate=PATIENT_READ_RATE),
)
# Each page against its JSON counterpart: the page may cost at most 1.5x its p50.
PAGE_COUNTERPARTS = (("thread_page", "conversation_detail"),
                     ("patients_page", "patients_list_25"))
BARE = Scenario("bare", (Req("GET", "/bare"),), auth="none")


def _template(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path.split("?", 1)[0])


def documented_routes(base_url: str) -> set[tuple[str, str]]:
    """(METHOD, templated path) pairs from the server's OpenAPI document."""
    response = httpx.get(f"{base_url}/api/openapi.json", timeout=30)
    if response.status_code != 200:
        return set()
    paths: dict[str, dict[str, object]] = response.json().get("paths", {})
    return {(method.upper(), _template(path)) for path, ops in paths.items() for method in ops}


def fill(path: str, conversations: int, patients: int) -> str:
    return (path.replace("{conv}", "10" if conversations >= 10 else "1")
            .replace("{patient}", "1").replace("{mrn}", "MRN00000001"))


@dataclass(frozen=True)
class Probe:
    available: bool
    status: int
    detail: str


def probe(base_url: str, req: Req, headers: dict[str, str], routes: set[tuple[str, str]],
          conversations: int, patients: int) -> Probe:
    """One request through the route; 404/405 from an undocumented route = not available.

    The probe of a POST writes one row, as the scenario itself will.
    """
    path = fill(req.path, conversations, patients)
    response = httpx.request(req.method, base_url + path, headers=headers, content=req.body,
                             timeout=30)
    documented = (req.method, _template(req.path)) in routes
    if response.status_code in (404, 405) and not documented and not path.startswith("/fhir"):
        return Probe(False, response.status_code, "route not available")
    if response.status_code in (404, 405) and path.startswith("/fhir") and (
            "OperationOutcome" not in response.text):
        return Probe(False, response.status_code, "route not available (facade off?)")
    return Probe(True, response.status_code, response.text[:200])
