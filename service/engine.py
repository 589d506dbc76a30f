"""The engine API: register original works and scan suspect images. The CLI, the HTTP service and batch
sweeps all call this module and never reach into the detector or the index directly.

    engine = Engine.open("semblance-data")
    engine.register(item, WorkMetadata(ref="night-cafe", title="The Night Café"))
    result = engine.scan(item)          # ScanResult, .to_json() is the CLI's JSON line

`Engine` is a facade: the opened workspace, its signals and calibration are `service.session.Session`; registering
and scanning are the use cases `service.usecases.registration` and `service.usecases.scanning`; what is here is
each one's entry point and the small actions on works (list, remove, audit, info) that need nothing more.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator

from detector import __version__
from detector.intake import DecodedImage
from index.audit import Action
from index.keys import existing_fingerprint
from index.registry import WorkRecord
from index.workspace import WorkspaceError
from service.inputs import InputItem
from service.results import EngineError, MatchResult, RegisterOutcome, ScanResult, WorkMetadata
from service.session import Session
from service.usecases import registration, scanning

__all__ = ["Engine", "EngineError", "MatchResult", "RegisterOutcome", "ScanResult", "WorkMetadata"]


class Engine(Session):
    """A workspace opened for registering and scanning with one primary embedder."""

    # -- registration -------------------------------------------------------------------------------
    def register(self, item: InputItem, meta: WorkMetadata) -> RegisterOutcome:
        return self.register_many([(item, meta)])[0]

    def register_many(
        self, items: Iterable[tuple[InputItem, WorkMetadata]], progress: Callable[[RegisterOutcome], None] | None = None
    ) -> list[RegisterOutcome]:
        """Register works one transaction each; bad files and duplicates are reported, never fatal."""
        out = []
        for outcome in self.register_each(items):
            out.append(outcome)
            if progress:
                progress(outcome)
        return out

    def register_each(self, items: Iterable[tuple[InputItem, WorkMetadata]]) -> Iterator[RegisterOutcome]:
        """Register works one transaction each, yielding each outcome as soon as it is committed
        (service.usecases.registration)."""
        return registration.register_each(self, items)

    # -- scanning -----------------------------------------------------------------------------------
    def scan(self, item: InputItem, top_k: int = 5, near_misses: bool = False) -> ScanResult:
        return next(self.scan_many([item], top_k, near_misses))

    def scan_many(self, items: Iterable[InputItem], top_k: int = 5, near_misses: bool = False) -> Iterator[ScanResult]:
        """Scan each suspect; unreadable ones, and any one whose comparison fails, yield a result with `error` set
        (service.usecases.scanning)."""
        return scanning.scan_many(self, items, top_k, near_misses)

    def match(
        self,
        image: DecodedImage,
        query: dict[str, object],
        not_run: dict[str, str],
        top_k: int = 5,
        near_misses: bool = False,
    ) -> list[MatchResult]:
        """Judge a suspect whose descriptors are already computed (`detector.matching.describe`): candidate search,
        exact re-scoring, verification and verdicts. `scan` does this after decoding and describing; batch runners
        that describe elsewhere call it directly."""
        return scanning.judge(self, image, query, not_run, self.ready(), top_k, near_misses)

    # -- works and info -----------------------------------------------------------------------------
    def works(self) -> list[WorkRecord]:
        return self.workspace.registry.works()

    def work(self, ref: str) -> WorkRecord | None:
        return self.workspace.registry.work_by("ref", ref)

    def remove(self, ref: str, reason: str = "") -> WorkRecord | None:
        """Unregister a work (its file stays in the vault as evidence); leaves an audit record."""
        try:
            with self.workspace.lock(exclusive=True, purpose="remove"):
                removed = self.workspace.registry.remove_work(ref, reason)
        except WorkspaceError as exc:
            raise EngineError(str(exc)) from exc
        except (OSError, sqlite3.OperationalError) as exc:
            home = self.workspace.home
            raise EngineError(f"the workspace {home} could not be written ({exc}); nothing was removed") from exc
        if "baselines" in self.__dict__:  # only if loaded: the next work may be given the removed one's id
            self.baselines.forget()
        return removed

    def record(self, action: Action, details: dict[str, object], ref: str = "", sha256: str = "") -> bool:
        """Add an audit entry for an action outside registration, by the current actor (Workspace.record: a
        read-only workspace's trail is not written, a failure to write is announced; neither fails the action)."""
        return self.workspace.record(action, details, ref, sha256)

    def audit(self, ref: str | None = None) -> list[dict[str, object]]:
        return self.workspace.registry.audit_trail(ref)

    def info(self) -> dict[str, object]:
        ws = self.workspace
        state = ws.index_state()
        return {
            "home": str(ws.home),
            "version": __version__,
            "works": ws.registry.count(),
            "generation": ws.registry.generation(),
            "embedders": ws.registry.embedders(),
            "primary_embedder": self.embedder_spec,
            "signals": [s.describe() for s in self.signals],
            "index": {
                "format": state.get("format"),
                "generation": state.get("generation"),
                "types": state.get("types", {}),
                "files": state.get("files", {}),
                "training": state.get("training", {}),
            },
            "max_pixels": ws.max_pixels,
            "signing_key_fingerprint": existing_fingerprint(ws.home),
            **self._calibration_info(),
        }

    def _calibration_info(self) -> dict[str, object]:
        """The calibration in use for `info`, or why there is none (listing must work without one)."""
        try:
            cal = self.calibration
        except EngineError as exc:
            return {"calibration": {"missing": str(exc)}, "thresholds": None, "background": None}
        return {
            "calibration": cal.describe(),
            "thresholds": cal.model.describe(),
            "background": self.baselines.describe(),
        }
