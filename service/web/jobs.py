"""The background runner of batch scans: one thread, working through open jobs oldest first.

A job's suspects are already kept when the job is created (service/store/jobs.py), so the runner needs nothing
but the store: after a restart it finds the jobs still queued or running and goes on at their first pending item.
Cancelling is checked between items.
"""

from __future__ import annotations

import logging
import threading

from index.audit import Actor
from service.gate import EngineGate
from service.scan_pool import PoolBusy
from service.store import Store
from service.store.jobs import Job
from service.store.jobs import claimant as default_claimant
from service.usecases import casework
from service.web.metrics import ServiceMetrics

log = logging.getLogger("semblance.jobs")


class JobRunner:
    def __init__(
        self, store: Store, gate: EngineGate, metrics: ServiceMetrics | None = None, claimant: str | None = None
    ) -> None:
        """`claimant` names this runner on the items it takes (service.store.jobs.claimant(): host and pid)."""
        self.claimant = claimant or default_claimant()
        self.store = store
        self.gate = gate
        self.metrics = metrics
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="semblance-jobs", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """A job was created or cancelled: look again now."""
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the item in hand (its finding is stored; the rest stay pending for the next start)."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if not self._thread.is_alive():  # its item in hand is finished: what it still held goes back to the queue
            self.store.jobs.release(self.claimant)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            for job in self.store.jobs.open_jobs():
                if self._stop.is_set():
                    return
                try:
                    self._work(job)
                except Exception:  # one broken job must not stop the others; it stays open and is retried later
                    log.exception("job %s failed; it stays open", job.id)
            self._wake.wait(5.0)

    def _work(self, job: Job) -> None:
        jobs, findings = self.store.jobs, self.store.findings
        jobs.start(job.id)
        owner = self.store.accounts.user(job.created_by)
        actor = Actor(f"user:{owner.username if owner else job.created_by}", f"job {job.id}")
        while (item := jobs.claim(job.id, self.claimant)) is not None:
            current = jobs.job(job.id)
            if self._stop.is_set() or current is None or current.state == "cancelled":
                return
            suspect = findings.suspect(item.suspect_id) if item.suspect_id is not None else None
            if suspect is None:
                jobs.finish_item(job.id, item.seq, "the kept file is missing from the store")
                continue
            try:
                counted = self.metrics.count_finding if self.metrics is not None else None
                finding = casework.scan(self.gate, self.store, actor, suspect, job.id, on_finding=counted)
            except PoolBusy:  # the workers are full of single scans: this item is still ours, take it again soon
                self._stop.wait(1.0)
                continue
            except OSError as exc:  # the kept file vanished or cannot be read: this item fails, the job goes on
                jobs.finish_item(job.id, item.seq, f"the kept file cannot be read ({exc.strerror or exc})")
                continue
            jobs.finish_item(job.id, item.seq, str(finding.result.get("error") or ""))
        jobs.finish(job.id)
