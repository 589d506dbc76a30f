"""Batches of suspects scanned in the background, resumable across a server restart.

A job's items are written with the job, each naming a suspect already kept in the evidence vault (or the reason
it could not be read), so a restart loses nothing: the runner picks the job up at its first pending item. Each item
is claimed in a write transaction before it is scanned, so two runners (two processes on one workspace) never scan
the same item; a claim whose process died is taken over. An item is marked done in the same store as its finding;
one scanned twice after a crash still has one finding, because the findings store keeps one per suspect.
"""

from __future__ import annotations

import os
import secrets
import socket
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from service.store.database import Database, utc_now

OPEN_STATES = ("queued", "running")


@dataclass(frozen=True)
class Job:
    id: int
    case_id: int
    created_by: int
    state: str
    total: int
    done: int
    failed: int
    created_at: str
    updated_at: str

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "case_id": self.case_id,
            "state": self.state,
            "total": self.total,
            "done": self.done,
            "failed": self.failed,
            "progress": round((self.done + self.failed) / self.total, 4) if self.total else 1.0,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True)
class JobItem:
    job_id: int
    seq: int
    suspect_id: int | None
    name: str
    state: str
    error: str


class Jobs:
    """Jobs and their items in the service database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def create(self, case_id: int, user_id: int, items: Sequence[tuple[str, int | None, str]]) -> Job:
        """A job over `items` (name, suspect id or None, error): items with an error are counted failed at once."""
        now = utc_now()
        failed = sum(1 for _, _, error in items if error)
        with self._db.transaction() as db:
            cur = db.execute(
                "INSERT INTO jobs (case_id, created_by, state, total, failed, created_at, updated_at) "
                "VALUES (?,?,?,?,?,?,?)",
                (case_id, user_id, "queued" if failed < len(items) else "done", len(items), failed, now, now),
            )
            job_id = int(cur.lastrowid or 0)
            db.executemany(
                "INSERT INTO job_items (job_id, seq, suspect_id, name, state, error) VALUES (?,?,?,?,?,?)",
                [
                    (job_id, seq, sid, name, "error" if error else "pending", error)
                    for seq, (name, sid, error) in enumerate(items)
                ],
            )
        job = self.job(job_id)
        assert job is not None
        return job

    def job(self, job_id: int) -> Job | None:
        row = self._db.db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
        return None if row is None else _job(row)

    def in_case(self, case_id: int, job_id: int) -> Job | None:
        row = self._db.db.execute("SELECT * FROM jobs WHERE id=? AND case_id=?", (job_id, case_id)).fetchone()
        return None if row is None else _job(row)

    def of_case(self, case_id: int) -> list[Job]:
        rows = self._db.db.execute("SELECT * FROM jobs WHERE case_id=? ORDER BY id DESC", (case_id,))
        return [_job(r) for r in rows.fetchall()]

    def open_jobs(self) -> list[Job]:
        """Jobs not finished nor cancelled, oldest first: what a (re)started runner works through."""
        rows = self._db.db.execute("SELECT * FROM jobs WHERE state IN ('queued', 'running') ORDER BY id")
        return [_job(r) for r in rows.fetchall()]

    def items(self, job_id: int) -> list[JobItem]:
        rows = self._db.db.execute("SELECT * FROM job_items WHERE job_id=? ORDER BY seq", (job_id,))
        return [_item(r) for r in rows.fetchall()]

    def pending(self, job_id: int) -> list[JobItem]:
        rows = self._db.db.execute(
            "SELECT * FROM job_items WHERE job_id=? AND state='pending' ORDER BY seq", (job_id,)
        ).fetchall()
        return [_item(r) for r in rows]

    def start(self, job_id: int) -> None:
        with self._db.transaction() as db:
            db.execute(
                "UPDATE jobs SET state='running', updated_at=? WHERE id=? AND state='queued'", (utc_now(), job_id)
            )

    def claim(self, job_id: int, claimant: str) -> JobItem | None:
        """The job's next pending item, claimed for `claimant` (a Claimant string) in one write transaction, so two
        runners, even in two processes, never take the same item; None when every pending item is someone else's.
        An item stays claimed until it is finished, unless its claimant's process is gone (a crash or a kill): then
        it is taken over."""
        with self._db.transaction() as db:
            rows = db.execute(
                "SELECT * FROM job_items WHERE job_id=? AND state='pending' ORDER BY seq", (job_id,)
            ).fetchall()
            for r in rows:
                if r["claimed_by"] in ("", claimant) or _abandoned(r["claimed_by"]):
                    db.execute(
                        "UPDATE job_items SET claimed_by=? WHERE job_id=? AND seq=?", (claimant, job_id, r["seq"])
                    )
                    return _item(r)
        return None

    def release(self, claimant: str) -> int:
        """Give back the items `claimant` claimed and did not finish (its runner is stopping), so another runner,
        in this process or the next, takes them up; returns how many."""
        with self._db.transaction() as db:
            cur = db.execute("UPDATE job_items SET claimed_by='' WHERE claimed_by=? AND state='pending'", (claimant,))
        return int(cur.rowcount)

    def release_all(self) -> int:
        """Give back every claim on a pending item: called by a server that holds its workspace's serve lock, so
        no other runner can hold one, whatever became of the one that made it (another host, a reused pid)."""
        with self._db.transaction() as db:
            cur = db.execute("UPDATE job_items SET claimed_by='' WHERE state='pending' AND claimed_by<>''")
        return int(cur.rowcount)

    def finish_item(self, job_id: int, seq: int, error: str = "") -> None:
        """Mark one item done (or failed with `error`) and count it, once."""
        state = "error" if error else "done"
        column = "failed" if error else "done"
        with self._db.transaction() as db:
            cur = db.execute(
                "UPDATE job_items SET state=?, error=? WHERE job_id=? AND seq=? AND state='pending'",
                (state, error, job_id, seq),
            )
            if cur.rowcount:
                db.execute(f"UPDATE jobs SET {column} = {column} + 1, updated_at=? WHERE id=?", (utc_now(), job_id))

    def finish(self, job_id: int) -> None:
        """Mark the job done once no item of it is pending (another runner may still hold some)."""
        with self._db.transaction() as db:
            db.execute(
                "UPDATE jobs SET state='done', updated_at=? WHERE id=? AND state='running' AND NOT EXISTS "
                "(SELECT 1 FROM job_items WHERE job_id=? AND state='pending')",
                (utc_now(), job_id, job_id),
            )

    def cancel(self, job_id: int) -> Job | None:
        with self._db.transaction() as db:
            db.execute(
                "UPDATE jobs SET state='cancelled', updated_at=? WHERE id=? AND state IN ('queued', 'running')",
                (utc_now(), job_id),
            )
        return self.job(job_id)


def _job(r: sqlite3.Row) -> Job:
    return Job(
        r["id"],
        r["case_id"],
        r["created_by"],
        r["state"],
        r["total"],
        r["done"],
        r["failed"],
        r["created_at"],
        r["updated_at"],
    )


def claimant() -> str:
    """A new name for one job runner's claims: host, pid and a token of its own, so two runners in one process never
    share claims, and a claim whose process is gone can be taken over."""
    return f"{socket.gethostname()} {os.getpid()} {secrets.token_hex(4)}"


def _abandoned(claimed_by: str) -> bool:
    """Whether a claim was made by a process of this host that no longer runs (claims of other hosts are kept)."""
    parts = claimed_by.split(" ")
    host, pid = (parts[0], parts[1]) if len(parts) >= 2 else ("", "")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)  # PermissionError too means it is alive (another user's)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass
    return False


def _item(r: sqlite3.Row) -> JobItem:
    return JobItem(r["job_id"], r["seq"], r["suspect_id"], r["name"], r["state"], r["error"])
