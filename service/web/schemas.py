"""What the JSON API answers, one Pydantic model per body, so /openapi.json tells a client what comes back.

Each model reproduces the JSON its route returned before it had one: same keys, same order, nullable where the
value can be null. A response model drops the keys it does not declare, so every answer is a `Reply`, which refuses
them instead: a key added to a `to_json()` and not here fails the response (a 500 the tests catch) rather than
vanishing for clients. The published schemas stay open (no `additionalProperties: false`): a field added later does
not break a client. Keys only some answers carry (a scan's `signals_not_run`, a registration's `error`) are fields
with a default, and their routes set `response_model_exclude_unset`, so an absent key stays absent.

Free-form fields, the only ones typed with `Any` here, each because its content is not the API's to fix:
- `Match.signals` (signal name -> `dict[str, Any]`): each signal's own evidence (similarities, distances, boxes),
  whose keys differ per signal and change with the signals' versions (detector.signals).
- `Finding.result`: the finding's stored scan, the JSON of `semblance scan` as it was when the suspect was scanned,
  kept verbatim as evidence; findings scanned by older versions keep their older shape.
- `AuditEntry.details`: what each audited action records (a reason, a case id...), hashed into the chain as written.

Error bodies (`Problem`, by `ERRORS` on each router) are made by the app's error handlers, not by these models.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import JsonDict, SkipJsonSchema

from detector.fusion import Verdict


def _open(schema: JsonDict) -> None:
    schema.pop("additionalProperties", None)


class Reply(BaseModel):
    """Base of every answer: a key the model does not declare is refused, never silently dropped."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_open)


# -- errors ---------------------------------------------------------------------------------------------------
class ProblemDetail(BaseModel):
    """One thing wrong with an invalid request."""

    where: str = Field(description="The parameter or body field, dotted (e.g. body.username)")
    problem: str


class Problem(BaseModel):
    """Every error: what went wrong, in words a person can act on."""

    error: str
    details: list[ProblemDetail] = Field(default_factory=list, description="Only for an invalid request (422)")


ERRORS: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": Problem, "description": "Refused: the request, the credentials or the state does not allow it"},
    "5XX": {"model": Problem, "description": "A server fault (logged on the server)"},
}
"""The error answers of every route, for the routers' `responses`."""


def file_answer(description: str, *media_types: str) -> dict[int | str, dict[str, Any]]:
    """`responses` of a route that answers with a file, not JSON: the media types its 200 may have."""
    text, binary = {"type": "string"}, {"type": "string", "format": "binary"}
    content = {m: {"schema": text if m.startswith("text/") else binary} for m in media_types}
    return {200: {"description": description, "content": content}}


# -- accounts -------------------------------------------------------------------------------------------------
class User(Reply):
    """A user account (never its password)."""

    id: int
    username: str
    role: Literal["admin", "registrar", "investigator", "auditor", "supervisor"]
    language: str = Field(description="en, zh, or empty to follow the browser")
    created_at: str
    disabled: bool


class ApiKey(Reply):
    """An API key's record: its prefix identifies it; its secret is never shown again."""

    id: int
    user_id: int
    prefix: str
    label: str
    created_at: str
    revoked_at: str | None


class Users(Reply):
    """Every user."""

    users: list[User]


class OneUser(Reply):
    """One user."""

    user: User


class ApiKeys(Reply):
    """Every API key, revoked ones included."""

    api_keys: list[ApiKey]


class NewApiKey(Reply):
    """A key just created, with its secret: shown in this answer only."""

    api_key: ApiKey
    secret: str
    note: str


class OneApiKey(Reply):
    """One API key."""

    api_key: ApiKey


# -- system: health, the caller, sessions, audit --------------------------------------------------------------
class Status(Reply):
    """A plain status: "ok" (the server is up), "signed out"."""

    status: str


class Me(Reply):
    """The caller: their account, how they authenticated, and their session's CSRF token."""

    user: User
    via: Literal["key", "session"]
    csrf_token: str | None = Field(description="For a session's changing requests (X-CSRF-Token); null for a key")


class LanguageChosen(Reply):
    """The interface language now chosen."""

    language: str


class SignedIn(Reply):
    """A session started (its cookie is set): the user and the CSRF token its changing requests must send."""

    user: User
    csrf_token: str


class AuditEntry(Reply):
    """One entry of the audit trail, linked to the one before it by its hash."""

    id: int
    at: str
    action: str
    ref: str
    sha256: str
    details: dict[str, Any] = Field(description="Free-form: what this action records (see the module docstring)")
    who: str
    origin: str
    hash: str


class AuditTrail(Reply):
    """A page of the audit trail, newest first, and how many entries there are in all."""

    total: int
    entries: list[AuditEntry]


class AuditHead(Reply):
    """The newest audit entry as recorded beside the chain."""

    id: int
    hash: str


class AuditCheck(Reply):
    """Whether the audit hash chain is intact, and what is wrong with it if not."""

    intact: bool
    entries: int
    problems: list[str]
    head: AuditHead | None


# -- works ----------------------------------------------------------------------------------------------------
class Work(Reply):
    """A registered work as stored: everything a report quotes about the reference."""

    ref: str
    sha256: str
    size_bytes: int
    width: int
    height: int
    format: str
    original_name: str
    title: str
    author: str
    rights_holder: str
    registration_no: str
    source_url: str
    categories: str
    registered_at: str
    metadata: dict[str, str]
    id: int


class Works(Reply):
    """A page of the registered works, and how many match in all."""

    total: int
    works: list[Work]


class OneWork(Reply):
    """One registered work."""

    work: Work


class RemovedWork(Reply):
    """The work just removed (its file stays in the vault)."""

    removed: Work


class Registration(Reply):
    """What became of one uploaded file: registered, a duplicate of a registered work, or an error."""

    path: str
    status: Literal["registered", "duplicate", "error"]
    ref: str
    sha256: str
    error: str = Field(default="", description="Present only when status is error: why")
    message: str = Field(default="", description="Present only for a note on a registration or a duplicate")
    path_bytes_b64: str = Field(default="", description="Present only when the file name is not UTF-8: its bytes")


class Registrations(Reply):
    """The outcome of each file of an upload, in order."""

    results: list[Registration]


# -- cases, jobs, findings ------------------------------------------------------------------------------------
class Case(Reply):
    """A case and the investigators it is shared with."""

    id: int
    number: str
    title: str
    created_at: str
    closed_at: str | None
    members: list[str]
    region: str
    region_code: str = Field(description="Its division code (service.supervision.regions); empty when none given")


class CaseWithCounts(Case):
    """A case with how many of its findings have each verdict."""

    counts: dict[str, int] = Field(description="Findings per verdict (copy, derivative, no_match; error)")


class Cases(Reply):
    """The cases shared with the caller, newest first."""

    cases: list[CaseWithCounts]


class OneCase(Reply):
    """One case."""

    case: Case


class Job(Reply):
    """A scan job and its progress."""

    id: int
    case_id: int
    state: Literal["queued", "running", "done", "cancelled"]
    total: int
    done: int
    failed: int
    progress: float = Field(description="(done + failed) / total, 0 to 1")
    created_at: str
    updated_at: str


class CaseDetail(Reply):
    """One case with its counts and its scan jobs, newest first."""

    case: CaseWithCounts
    jobs: list[Job]


class OneJob(Reply):
    """One scan job."""

    job: Job


class FailedItem(Reply):
    """A file of a job that could not be scanned, and why."""

    name: str
    error: str


class JobProgress(Reply):
    """A scan job and the files of it that failed."""

    job: Job
    failed_items: list[FailedItem]


class Suspect(Reply):
    """A suspect file as received (kept unaltered in the evidence vault)."""

    id: int
    sha256: str
    name: str
    size_bytes: int
    received_at: str
    received_by: str


class Finding(Reply):
    """What scanning one suspect found: the verdict and best match, and the scan's JSON itself."""

    id: int
    suspect: Suspect
    verdict: Verdict | None = Field(description="null when the file could not be scanned")
    top_ref: str
    top_score: float | None
    scanned_at: str
    job_id: int | None
    result: dict[str, Any] = Field(description="Free-form: the stored JSON of `semblance scan` (module docstring)")


class Findings(Reply):
    """A page of a case's findings, most severe first, and how many there are in all."""

    total: int
    findings: list[Finding]


class OneFinding(Reply):
    """One finding."""

    finding: Finding


class Match(Reply):
    """A registered work the suspect matched, with the evidence of each signal."""

    ref: str
    title: str
    score: float
    verdict: Verdict
    signals: dict[str, dict[str, Any]] = Field(description="Free-form: each signal's evidence (module docstring)")
    region: list[list[float]] | None = Field(description="The matched region in the suspect, [x, y] points")
    reference_region: list[list[float]] | None = Field(description="The same region in the work, [x, y] points")
    region_source: str | None
    agreeing_signals: list[str]
    work_sha256: str
    score_basis: str
    view: str


class ScannedSuspect(Reply):
    """One suspect scanned at once: the JSON of `semblance scan`, with its finding's and suspect's ids."""

    path: str
    sha256: str
    verdict: Verdict
    matches: list[Match]
    width: int
    height: int
    format: str
    elapsed_ms: float
    signals_not_run: dict[str, str] = Field(default_factory=dict, description="Present only if a signal could not run")
    intake_notes: list[str] = Field(default_factory=list, description="Present only when intake overlooked faults")
    path_bytes_b64: str = Field(default="", description="Present only when the file name is not UTF-8: its bytes")
    finding_id: int
    suspect_id: int


class UnreadableScan(Reply):
    """A suspect kept as evidence but that could not be scanned: why, and its finding's and suspect's ids."""

    path: str
    sha256: str
    verdict: None
    error: str
    path_bytes_b64: str = Field(default="", description="Present only when the file name is not UTF-8: its bytes")
    finding_id: int
    suspect_id: int


class ScanRefused(Problem):
    """A scan refused: the request was invalid, or the one image could not be scanned (then `result` says why)."""

    result: UnreadableScan | SkipJsonSchema[None] = None


# -- offenders ------------------------------------------------------------------------------------------------
class ScoreWeight(Reply):
    """A component of a seller's score: its weight, and why it weighs that much."""

    weight: float
    why: str


class LinkedSeller(Reply):
    """Another seller account that offered the same infringing images."""

    seller_id: int
    marketplace: str
    seller: str
    shared_images: int


class Seller(Reply):
    """A seller's row in the ranking: the score, each of its components, and the counts they come from."""

    seller_id: int
    marketplace: str
    seller: str
    name: str
    score: float
    score_components: dict[str, float]
    works_copied: int
    works_derived_only: int
    works: list[str]
    hit_listings: int
    hit_images: int
    first_seen: str
    last_seen: str
    linked_sellers: list[LinkedSeller]


class SharedImage(Reply):
    """An infringing image offered by several sellers."""

    image_group: str
    sellers: int
    seller_ids: list[int]
    listings: int
    works: list[str]
    first_seen: str
    last_seen: str


class InfringedWork(Reply):
    """A registered work and how widely it is offered without right."""

    ref: str
    sellers: int
    listings: int
    marketplaces: int
    copies: int
    first_seen: str
    last_seen: str


class OffenderRanking(Reply):
    """Sellers ranked by evidence, with the score's weights, images shared between sellers, works most infringed."""

    score_weights: dict[str, ScoreWeight]
    sellers: list[Seller]
    shared_images: list[SharedImage]
    works_most_infringed: list[InfringedWork]


class ListingHit(Reply):
    """One image of a seller's listing that matched a work, with the finding and sweep behind it."""

    listing_id: int
    listing_key: str
    marketplace: str
    listing_url: str
    title: str
    source: str
    sha256: str
    seen_at: str
    ref: str
    verdict: Verdict
    score: float
    finding_id: int
    run_key: str


class SellerEvidence(Reply):
    """The listings and findings behind one seller's row."""

    seller_id: int
    evidence: list[ListingHit]
