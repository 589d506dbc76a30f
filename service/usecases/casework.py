"""What the service does with cases and suspects: open, share and close a case; keep a suspect on arrival
(custody), scan it, store the finding.

The web's API, its pages and its job runner all go through here, so each action is done, and audited, the same
way whichever door it came through, and every arrival and every scan leaves its audit entry with the file's SHA-256.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from index.audit import Action, Actor
from service.gate import EngineGate
from service.store import Store
from service.store.cases import Case, CaseError
from service.store.findings import Finding, Suspect
from service.supervision.regions import region_table


def open_case(
    gate: EngineGate, store: Store, actor: Actor, user_id: int, number: str, title: str, region: str = ""
) -> Case:
    """A new case, shared with the investigator who opened it; raises CaseError for a bad number or title, or a
    region that names no province or city for certain (its findings are counted there by supervision)."""
    placed = region_table().place(region) if region.strip() else None
    if placed is not None and (placed.problem or placed.province is None):
        raise CaseError(f"the case's region: {placed.problem or 'names no province'}")
    where = (region.strip(), placed.province.code, placed.code) if placed and placed.province else ("", "", "")
    case = store.cases.create(number, title, user_id, where)
    gate.record(actor, Action.CASE_OPENED, {"case_id": case.id, "number": case.number})
    return case


def share_case(gate: EngineGate, store: Store, actor: Actor, case: Case, username: str, viewer: int) -> Case:
    """Share a case with another investigator; raises CaseError when `username` is not one. Returns the case as
    `viewer` now sees it."""
    user = store.accounts.by_name(username)
    if user is None or user.disabled or user.role != "investigator":
        raise CaseError(f"{username!r} is not an investigator's username: cases are shared with investigators")
    store.cases.share(case.id, user.id)
    gate.record(actor, Action.CASE_SHARED, {"case_id": case.id, "with": user.username})
    return _as_seen(store, case, viewer)


def close_case(gate: EngineGate, store: Store, actor: Actor, case: Case, viewer: int) -> Case:
    """Close a case: no more scans; its findings and reports stay."""
    store.cases.close(case.id)
    gate.record(actor, Action.CASE_CLOSED, {"case_id": case.id})
    return _as_seen(store, case, viewer)


def _as_seen(store: Store, case: Case, viewer: int) -> Case:
    seen = store.cases.visible(case.id, viewer)
    assert seen is not None  # the viewer is a member: they just acted on it
    return seen


def receive(gate: EngineGate, store: Store, actor: Actor, case_id: int, name: str, data: bytes) -> Suspect:
    """Keep an uploaded file's bytes as evidence and record its arrival (SHA-256, size, who, from where)."""
    sha256 = hashlib.sha256(data).hexdigest()
    suspect = store.findings.receive(case_id, name, data, sha256, actor.who, actor.origin)
    gate.record(
        actor,
        Action.RECEIVE,
        {"case_id": case_id, "suspect_id": suspect.id, "name": name, "size_bytes": len(data)},
        sha256=sha256,
    )
    return suspect


def scan(
    gate: EngineGate,
    store: Store,
    actor: Actor,
    suspect: Suspect,
    job_id: int | None = None,
    top_k: int = 5,
    on_finding: Callable[[Finding], None] | None = None,
) -> Finding:
    """Scan a kept suspect and store its finding (one per suspect: a second scan returns the first finding), then
    hand the new finding to `on_finding` (the server counts it by verdict, whether it came alone or in a job)."""
    existing = store.findings.of_suspect(suspect.id)
    if existing is not None:
        return existing
    data = store.findings.data(suspect)
    result = gate.scan(actor, suspect.name, data, top_k)
    details: dict[str, object] = {"case_id": suspect.case_id, "suspect_id": suspect.id, "name": suspect.name}
    details |= {"verdict": result.get("verdict"), "error": result.get("error"), "job_id": job_id}
    gate.record(actor, Action.SCAN, details, sha256=suspect.sha256)
    finding = store.findings.record(suspect, result, "upload", job_id)
    if on_finding is not None:
        on_finding(finding)
    return finding
