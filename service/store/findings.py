"""Suspects as received and what scanning them found: the findings store that the HTTP service and batch sweeps
both write.

A suspect's bytes are kept as received, content-addressed by SHA-256 in the workspace's `evidence/` vault (never
altered, fsynced before the row that names them), so a report made months later scans exactly what arrived. A
finding is the scan's JSON, the same as `semblance scan` prints, plus the verdict and best match as columns to sort
and count by. A finding belongs to a case (uploads) or to none (sweeps, which link it to listings instead).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from index.vault import Vault
from service.store.database import Database, utc_now

SEVERITY = {"copy": 0, "derivative": 1, "no_match": 2}
"""Order of findings for a person: copies first, then derivatives, then the rest; unreadable files last."""


@dataclass(frozen=True)
class Suspect:
    id: int
    case_id: int | None
    sha256: str
    name: str
    size_bytes: int
    received_at: str
    received_by: str
    origin: str

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "sha256": self.sha256,
            "name": self.name,
            "size_bytes": self.size_bytes,
            "received_at": self.received_at,
            "received_by": self.received_by,
        }


@dataclass(frozen=True)
class Finding:
    id: int
    suspect: Suspect
    case_id: int | None
    source: str
    verdict: str | None
    top_ref: str
    top_score: float | None
    result: dict[str, Any]
    scanned_at: str
    job_id: int | None

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "suspect": self.suspect.to_json(),
            "verdict": self.verdict,
            "top_ref": self.top_ref,
            "top_score": self.top_score,
            "scanned_at": self.scanned_at,
            "job_id": self.job_id,
            "result": self.result,
        }


class Findings:
    """Suspects received and their findings, in the service database and the evidence vault."""

    def __init__(self, db: Database, evidence_root: Path, create: bool = True) -> None:
        self._db = db
        self.vault = Vault(evidence_root, create=create)

    def receive(self, case_id: int | None, name: str, data: bytes, sha256: str, who: str, origin: str) -> Suspect:
        """Keep a suspect's bytes (fsynced) and record its arrival; the same bytes twice are two arrivals."""
        self.vault.put(sha256, data)
        with self._db.transaction() as db:
            suspect_id = record_suspect(db, case_id, sha256, name, len(data), who, origin)
        suspect = self.suspect(suspect_id)
        assert suspect is not None
        return suspect

    def suspect(self, suspect_id: int) -> Suspect | None:
        row = self._db.db.execute("SELECT * FROM suspects WHERE id=?", (suspect_id,)).fetchone()
        return None if row is None else _suspect(row)

    def data(self, suspect: Suspect) -> bytes:
        return self.vault.read(suspect.sha256)

    def record(self, suspect: Suspect, result: dict[str, Any], source: str, job_id: int | None = None) -> Finding:
        """Store a scan's JSON as the suspect's finding (at most one per suspect: a retry replaces nothing)."""
        with self._db.transaction() as db:
            record_finding(db, suspect.id, suspect.case_id, result, source, job_id)
        found = self.of_suspect(suspect.id)
        assert found is not None
        return found

    def of_suspect(self, suspect_id: int) -> Finding | None:
        row = self._db.db.execute(f"{_SELECT} WHERE f.suspect_id=?", (suspect_id,)).fetchone()
        return None if row is None else _finding(row)

    def in_case(self, case_id: int, finding_id: int) -> Finding | None:
        """A finding of this case, or None (also when it belongs to another case)."""
        row = self._db.db.execute(f"{_SELECT} WHERE f.id=? AND f.case_id=?", (finding_id, case_id)).fetchone()
        return None if row is None else _finding(row)

    def of_case(self, case_id: int, job_id: int | None = None) -> list[Finding]:
        """A case's findings, most severe first, then best score, then newest."""
        q, args = f"{_SELECT} WHERE f.case_id=?", [case_id]
        if job_id is not None:
            q += " AND f.job_id=?"
            args.append(job_id)
        found = [_finding(r) for r in self._db.db.execute(q, args).fetchall()]
        return sorted(found, key=lambda f: (SEVERITY.get(f.verdict or "", 3), -(f.top_score or 0.0), -f.id))

    def counts(self, case_id: int) -> dict[str, int]:
        rows = self._db.db.execute(
            "SELECT COALESCE(verdict, 'error'), COUNT(*) FROM findings WHERE case_id=? GROUP BY 1", (case_id,)
        )
        return {str(r[0]): int(r[1]) for r in rows}


def record_suspect(
    db: sqlite3.Connection, case_id: int | None, sha256: str, name: str, size_bytes: int, who: str, origin: str
) -> int:
    """Inside the caller's transaction: a suspect's arrival (an upload, or a sweep's image); returns its id."""
    cur = db.execute(
        "INSERT INTO suspects (case_id, sha256, name, size_bytes, received_at, received_by, origin) "
        "VALUES (?,?,?,?,?,?,?)",
        (case_id, sha256, name, size_bytes, utc_now(), who, origin),
    )
    return int(cur.lastrowid or 0)


def headline(result: dict[str, Any]) -> tuple[str | None, str, float | None]:
    """A scan result's verdict and its best match (ref, score): the finding's columns to sort and count by."""
    matches = result.get("matches") or []
    top = matches[0] if matches else {}
    return result.get("verdict"), str(top.get("ref", "")), top.get("score")


def matched_works(result: dict[str, Any]) -> list[tuple[str, str, float]]:
    """(ref, verdict, score) of each match that names a work, in the result's order: the finding_matches rows (a
    work named twice keeps its first row)."""
    return [(str(m["ref"]), str(m["verdict"]), float(m["score"])) for m in result.get("matches") or [] if m.get("ref")]


def record_finding(
    db: sqlite3.Connection,
    suspect_id: int,
    case_id: int | None,
    result: dict[str, Any],
    source: str,
    job_id: int | None = None,
) -> int:
    """Inside the caller's transaction: the suspect's finding (the first one stays) and its matched works, one row
    each, for the offender queries; returns the finding's id."""
    db.execute(
        "INSERT OR IGNORE INTO findings (suspect_id, case_id, source, verdict, top_ref, top_score, result_json, "
        "scanned_at, job_id) VALUES (?,?,?,?,?,?,?,?,?)",
        (suspect_id, case_id, source, *headline(result), json.dumps(result, ensure_ascii=False), utc_now(), job_id),
    )
    finding_id = int(db.execute("SELECT id FROM findings WHERE suspect_id=?", (suspect_id,)).fetchone()[0])
    db.executemany(
        "INSERT OR IGNORE INTO finding_matches (finding_id, ref, verdict, score) VALUES (?,?,?,?)",
        [(finding_id, *work) for work in matched_works(result)],
    )
    if case_id is not None:  # a case's hits count in the case's region (a sweep's: service.store.listings)
        db.execute(
            "INSERT OR IGNORE INTO hit_facts SELECT f.id, fm.ref, fm.verdict, f.scanned_at, c.province_code, "
            "c.region_code, '', NULL, NULL, c.id, '' FROM findings f JOIN finding_matches fm ON fm.finding_id = f.id "
            "JOIN cases c ON c.id = f.case_id WHERE f.id = ? AND fm.verdict IN ('copy', 'derivative')",
            (finding_id,),
        )
    return finding_id


_SELECT = (
    "SELECT f.id AS f_id, f.case_id AS f_case, f.source, f.verdict, f.top_ref, f.top_score, f.result_json, "
    "f.scanned_at, f.job_id, s.* FROM findings f JOIN suspects s ON s.id = f.suspect_id"
)


def _suspect(r: sqlite3.Row) -> Suspect:
    return Suspect(
        r["id"], r["case_id"], r["sha256"], r["name"], r["size_bytes"], r["received_at"], r["received_by"], r["origin"]
    )


def _finding(r: sqlite3.Row) -> Finding:
    return Finding(
        r["f_id"],
        _suspect(r),
        r["f_case"],
        r["source"],
        r["verdict"],
        r["top_ref"],
        r["top_score"],
        json.loads(r["result_json"]),
        r["scanned_at"],
        r["job_id"],
    )
