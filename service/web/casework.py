"""What the service does with a suspect: keep it on arrival (custody), scan it, store the finding.

Both the synchronous scan endpoint and the job runner go through here, so a finding is made the same way
whichever path a file took, and every arrival and every scan leaves its audit entry with the file's SHA-256.
"""

from __future__ import annotations

import hashlib

from index.audit import Actor
from service.inputs import InputItem
from service.store import Store
from service.store.findings import Finding, Suspect
from service.web.gate import EngineGate


def receive(gate: EngineGate, store: Store, actor: Actor, case_id: int, name: str, data: bytes) -> Suspect:
    """Keep an uploaded file's bytes as evidence and record its arrival (SHA-256, size, who, from where)."""
    sha256 = hashlib.sha256(data).hexdigest()
    suspect = store.findings.receive(case_id, name, data, sha256, actor.who, actor.origin)
    gate.record(
        actor,
        "receive",
        {"case_id": case_id, "suspect_id": suspect.id, "name": name, "size_bytes": len(data)},
        sha256=sha256,
    )
    return suspect


def scan(
    gate: EngineGate, store: Store, actor: Actor, suspect: Suspect, job_id: int | None = None, top_k: int = 5
) -> Finding:
    """Scan a kept suspect and store its finding (one per suspect: a second scan returns the first finding)."""
    existing = store.findings.of_suspect(suspect.id)
    if existing is not None:
        return existing
    data = store.findings.data(suspect)
    with gate.use(actor) as engine:
        result = engine.scan(InputItem(suspect.name, reader=lambda: data), top_k=top_k).to_json()
        engine.record(
            "scan",
            {
                "case_id": suspect.case_id,
                "suspect_id": suspect.id,
                "name": suspect.name,
                "verdict": result.get("verdict"),
                "error": result.get("error"),
                "job_id": job_id,
            },
            sha256=suspect.sha256,
        )
    return store.findings.record(suspect, result, "upload", job_id)
