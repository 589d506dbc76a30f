"""The engine API: register original works and scan suspect images. The CLI, the HTTP service and batch
sweeps all call this module and never reach into the detector or the index directly.

    engine = Engine.open("semblance-data")
    engine.register(item, WorkMetadata(ref="night-cafe", title="The Night Café"))
    result = engine.scan(item)          # ScanResult, .to_json() is the CLI's JSON line
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from detector import __version__
from detector.background import Baselines, load_background
from detector.embedders import ClipWeightsMissing, Embedder, load_embedder, resolve_auto
from detector.fusion import FusionModel, load_model
from detector.geometry import Polygon
from detector.intake import DEFAULT_MAX_PIXELS, DecodedImage, IntakeError, decode_image, sha256_hex
from detector.matching import VERIFY_SIGNALS, Match, assess, compare, overall_verdict, prescore
from detector.signals import Signal, build_signals
from index.keys import existing_fingerprint
from index.registry import DuplicateWork, WorkRecord
from index.workspace import Workspace, WorkspaceError, resolve_home
from service.inputs import InputError, InputItem

CANDIDATES_PER_SIGNAL = 24
"""Works kept from each signal's nearest-neighbour search before exact re-scoring."""
NEIGHBOURS_PER_ROW = 32
BLANK_WORK = (
    "refused: the picture is blank (one flat colour), so nothing in it can be matched, "
    "and as a registered work it would match every other blank picture"
)
BLANK_SUSPECT = "not compared: the picture is blank (one flat colour), so no signal can tell what it copies"
VERIFY_TOP = 8  # plus two per detected collage panel
"""Candidates that get keypoint verification (the expensive signal), best pre-score first; matches ranked below
them in a long `--top` list carry no keypoint evidence."""

AnySignal = Signal[Any]


class EngineError(RuntimeError):
    """A problem the user must fix (workspace, embedder, arguments); the message says how."""


@dataclass
class WorkMetadata:
    ref: str = ""
    title: str = ""
    author: str = ""
    rights_holder: str = ""
    registration_no: str = ""
    source_url: str = ""
    extra: dict[str, str] = field(default_factory=dict)


@dataclass
class RegisterOutcome:
    path: str
    status: str
    """registered | duplicate | error"""
    ref: str = ""
    sha256: str = ""
    message: str = ""

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"path": self.path, "status": self.status, "ref": self.ref, "sha256": self.sha256}
        if self.message:
            out["error" if self.status == "error" else "message"] = self.message
        return out


@dataclass
class MatchResult:
    """One (suspect, work) match as the public JSON contract presents it."""

    ref: str
    title: str
    score: float
    verdict: str
    signals: dict[str, dict[str, object]]
    region: Polygon | None
    reference_region: Polygon | None
    region_source: str | None
    agreeing_signals: list[str]
    work_sha256: str
    score_basis: str = "combined"
    """Which calibrated expert gave the score (detector.fusion): combined, layout or pdq."""
    view: str = "whole"
    """What of the suspect was judged: "whole", or "panel N" when one collage panel alone scored highest."""
    internal: Match | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "ref": self.ref,
            "title": self.title,
            "score": round(self.score, 4),
            "verdict": self.verdict,
            "signals": self.signals,
            "region": _poly(self.region),
            "reference_region": _poly(self.reference_region),
            "region_source": self.region_source,
            "agreeing_signals": self.agreeing_signals,
            "work_sha256": self.work_sha256,
            "score_basis": self.score_basis,
            "view": self.view,
        }


@dataclass
class ScanResult:
    path: str
    sha256: str = ""
    verdict: str = "no_match"
    matches: list[MatchResult] = field(default_factory=list)
    error: str | None = None
    width: int = 0
    height: int = 0
    format: str = ""
    elapsed_ms: float = 0.0
    image: DecodedImage | None = None

    def to_json(self) -> dict[str, object]:
        if self.error is not None:
            return {"path": self.path, "sha256": self.sha256, "verdict": None, "error": self.error}
        return {
            "path": self.path,
            "sha256": self.sha256,
            "verdict": self.verdict,
            "matches": [m.to_json() for m in self.matches],
            "width": self.width,
            "height": self.height,
            "format": self.format,
            "elapsed_ms": round(self.elapsed_ms, 1),
        }


class Engine:
    """A workspace opened for registering and scanning with one primary embedder."""

    def __init__(self, workspace: Workspace, embedder: str | None = None, model: FusionModel | None = None) -> None:
        self.workspace = workspace
        specs = workspace.embedder_specs
        if embedder is not None and embedder not in specs:
            raise EngineError(
                f"embedder '{embedder}' is not enabled in {workspace.home} (enabled: "
                f"{', '.join(specs)}); its vectors would not be comparable"
            )
        self.embedder_spec = embedder or specs[0]
        self._embedders: dict[str, Embedder] = {}
        self.model = model or load_model()
        self.primary = self._embedder(self.embedder_spec)
        self.signals: list[AnySignal] = build_signals(self.primary)
        stored = workspace.registry.signal_versions()
        stale = [
            f"{s.key} v{sorted(stored[s.key])} (this version computes v{s.version})"
            for s in self.signals
            if s.key in stored and stored[s.key] != {s.version}
        ]
        if stale:
            raise EngineError(
                f"{workspace.home} holds descriptors from another version of Semblance: "
                f"{'; '.join(stale)}; register the works again in a new workspace"
            )

    @cached_property
    def baselines(self) -> Baselines:
        """Background baselines of the works (detector.background), loaded on first use: registering and
        listing works never need the background set."""
        return Baselines(load_background(self.primary.id), self.signals)

    # -- opening ------------------------------------------------------------------------------------
    @classmethod
    def init(
        cls, home: str | None, embedders: Iterable[str] = ("auto",), max_pixels: int = DEFAULT_MAX_PIXELS
    ) -> Engine:
        """Create a workspace with the given embedder specs (`auto` expands to what is available)."""
        specs: list[str] = []
        for spec in embedders:
            for s in resolve_auto() if spec == "auto" else [spec]:
                if s not in specs:
                    specs.append(s)
        loaded = [(s, _load(s)) for s in specs]  # validate before anything is written
        rows = [(s, e.id, e.weights_sha256, e.dim) for s, e in loaded]
        try:
            ws = Workspace.create(resolve_home(home), rows, max_pixels, f"semblance {__version__}")
        except WorkspaceError as exc:
            raise EngineError(str(exc)) from exc
        return cls(ws)

    @classmethod
    def open(cls, home: str | None, embedder: str | None = None, model: FusionModel | None = None) -> Engine:
        try:
            return cls(Workspace(resolve_home(home)), embedder, model)
        except WorkspaceError as exc:
            raise EngineError(str(exc)) from exc

    def close(self) -> None:
        self.workspace.close()

    def _embedder(self, spec: str) -> Embedder:
        if spec not in self._embedders:
            e = _load(spec)
            recorded = {str(r["id"]): str(r["weights_sha256"]) for r in self.workspace.registry.embedders()}
            if recorded.get(e.id) != e.weights_sha256:
                raise EngineError(
                    f"embedder '{spec}' weights (sha256 {e.weights_sha256[:12]}…) differ from those this workspace "
                    f"was built with ({(recorded.get(e.id) or 'none')[:12]}…); vectors would not be comparable"
                )
            self._embedders[spec] = e
        return self._embedders[spec]

    def _all_signals(self) -> list[AnySignal]:
        """Signals computed at registration: the shared ones once, an embedding signal per embedder."""
        out: dict[str, AnySignal] = {s.key: s for s in self.signals}
        for spec in self.workspace.embedder_specs:
            for s in build_signals(self._embedder(spec)):
                out.setdefault(s.key, s)
        return list(out.values())

    def _layout(self, signals: list[AnySignal]) -> dict[str, tuple[str, int]]:
        return {s.key: lay for s in signals if (lay := s.index_layout()) is not None}

    def _indexes(self, signals: list[AnySignal]) -> dict[str, Any]:
        by_key = {s.key: s for s in signals}

        def rows(key: str, data: bytes) -> tuple[np.ndarray, np.ndarray]:
            entries = by_key[key].index_entries(by_key[key].from_bytes(data))
            assert entries is not None
            return entries.rows, entries.region_ids

        return self.workspace.indexes(self._layout(signals), rows)

    # -- registration -------------------------------------------------------------------------------
    def register(self, item: InputItem, meta: WorkMetadata) -> RegisterOutcome:
        return self.register_many([(item, meta)])[0]

    def register_many(
        self, items: Iterable[tuple[InputItem, WorkMetadata]], progress: Callable[[RegisterOutcome], None] | None = None
    ) -> list[RegisterOutcome]:
        """Register works one transaction each; bad files and duplicates are reported, never fatal."""
        out = []
        signals = self._all_signals()
        with self.workspace.lock(exclusive=True):
            self.workspace.recover()
            self._indexes(signals)
            try:
                for item, meta in items:
                    outcome = self._register_one(item, meta, signals)
                    out.append(outcome)
                    if progress:
                        progress(outcome)
            finally:
                self.workspace.save_indexes()
        return out

    def _register_one(self, item: InputItem, meta: WorkMetadata, signals: list[AnySignal]) -> RegisterOutcome:
        try:
            data = item.read()
            image = decode_image(data, item.name, self.workspace.max_pixels)
        except (InputError, IntakeError) as exc:
            return RegisterOutcome(item.name, "error", meta.ref, message=exc.reason)
        if image.is_blank:
            return RegisterOutcome(item.name, "error", meta.ref, image.sha256, BLANK_WORK)
        ref = meta.ref or _default_ref(item.name)
        reg = self.workspace.registry
        dup = reg.find_duplicate(image.sha256, ref)
        if dup is not None and dup.existing.sha256 == image.sha256:
            return RegisterOutcome(item.name, "duplicate", dup.existing.ref, image.sha256, dup.reason)
        if dup is not None:
            if meta.ref:
                return RegisterOutcome(item.name, "error", ref, image.sha256, dup.reason)
            ref = f"{ref}-{image.sha256[:8]}"  # a derived ref collided: disambiguate by content
        descriptors = {s.key: s.compute(image) for s in signals}
        self.workspace.vault.put(image.sha256, data)
        record = WorkRecord(
            ref=ref,
            sha256=image.sha256,
            size_bytes=image.size_bytes,
            width=image.width,
            height=image.height,
            format=image.format,
            original_name=Path(item.name.split("!")[-1]).name,
            title=meta.title,
            author=meta.author,
            rights_holder=meta.rights_holder,
            registration_no=meta.registration_no,
            source_url=meta.source_url,
            metadata=meta.extra,
        )
        try:
            record = reg.add_work(record, [(s.key, s.version, s.to_bytes(descriptors[s.key])) for s in signals])
        except DuplicateWork as exc:
            return RegisterOutcome(item.name, "duplicate", exc.existing.ref, image.sha256, exc.reason)
        added = {}
        for s in signals:
            entries = s.index_entries(descriptors[s.key])
            if entries is not None:
                added[s.key] = (entries.rows, entries.region_ids)
        self.workspace.note_added(added, record.id)
        return RegisterOutcome(item.name, "registered", ref, image.sha256)

    # -- scanning -----------------------------------------------------------------------------------
    def scan(self, item: InputItem, top_k: int = 5, near_misses: bool = False) -> ScanResult:
        return next(self.scan_many([item], top_k, near_misses))

    def scan_many(self, items: Iterable[InputItem], top_k: int = 5, near_misses: bool = False) -> Iterator[ScanResult]:
        """Scan each suspect; unreadable ones yield a result with `error` set."""
        with self.workspace.lock(exclusive=False):
            indexes = self._indexes(self.signals)
        for item in items:
            started = time.perf_counter()
            data = b""
            try:
                data = item.read()
                image = decode_image(data, item.name, self.workspace.max_pixels)
            except (InputError, IntakeError) as exc:  # the bytes' hash is still recorded when they could be read
                yield ScanResult(item.name, sha256_hex(data) if data else "", error=exc.reason)
                continue
            if image.is_blank:
                yield ScanResult(item.name, image.sha256, error=BLANK_SUSPECT)
                continue
            matches = self._match(image, indexes, top_k, near_misses)
            yield ScanResult(
                path=item.name,
                sha256=image.sha256,
                verdict=overall_verdict([m.internal for m in matches if m.internal]),
                matches=matches,
                width=image.width,
                height=image.height,
                format=image.format,
                elapsed_ms=(time.perf_counter() - started) * 1000,
                image=image,
            )

    def describe_query(self, image: DecodedImage) -> dict[str, object]:
        """Descriptors of a suspect under the primary signals (for reports and reproduction)."""
        return {s.key: s.compute_query(image) for s in self.signals}

    def _match(self, image: DecodedImage, indexes: dict[str, Any], top_k: int, near_misses: bool) -> list[MatchResult]:
        query = self.describe_query(image)
        candidates: set[int] = set()
        for s in self.signals:
            entries = s.query_entries(query[s.key])
            if entries is None or s.key not in indexes:
                continue
            best: dict[int, float] = {}
            for hit in indexes[s.key].search(entries.rows, NEIGHBOURS_PER_ROW):
                best[hit.work_id] = max(best.get(hit.work_id, -1.0), hit.similarity)
            candidates.update(sorted(best, key=best.__getitem__, reverse=True)[:CANDIDATES_PER_SIGNAL])
        if not candidates:
            return []
        reg = self.workspace.registry
        stored = {s.key: reg.descriptors(candidates, s.key) for s in self.signals}
        refs: dict[int, dict[str, object]] = {
            w: {s.key: s.from_bytes(stored[s.key][w]) for s in self.signals if w in stored[s.key]} for w in candidates
        }
        cheap = frozenset(s.name for s in self.signals) - VERIFY_SIGNALS
        first = {w: compare(self.signals, query, refs[w], cheap) for w in candidates}
        ordered = sorted(candidates, key=lambda w: prescore(first[w]), reverse=True)
        verified = set(ordered[: VERIFY_TOP + 2 * len(image.panels)])  # a collage's panels each need a verification
        assessed = []
        for w in ordered:
            comps = first[w]
            if w in verified:
                comps = {**comps, **compare(self.signals, query, refs[w], VERIFY_SIGNALS)}
            assessed.append(assess(self.model, w, comps, self.baselines.of(refs[w], cache_key=w)))
        assessed.sort(key=lambda m: m.score, reverse=True)
        kept = [m for m in assessed if near_misses or m.verdict != "no_match"][:top_k]
        works = reg.works_by_ids(m.work_id for m in kept)
        return [
            MatchResult(
                ref=works[m.work_id].ref,
                title=works[m.work_id].title,
                score=m.score,
                verdict=m.verdict,
                signals=m.signal_evidence(),
                region=m.query_region,
                reference_region=m.reference_region,
                region_source=m.region_source,
                agreeing_signals=m.agreeing,
                work_sha256=works[m.work_id].sha256,
                score_basis=m.score_basis,
                view=m.view_name,
                internal=m,
            )
            for m in kept
        ]

    # -- works and info -----------------------------------------------------------------------------
    def works(self) -> list[WorkRecord]:
        return self.workspace.registry.works()

    def work(self, ref: str) -> WorkRecord | None:
        return self.workspace.registry.work_by("ref", ref)

    def remove(self, ref: str, reason: str = "") -> WorkRecord | None:
        """Unregister a work (its file stays in the vault as evidence); leaves an audit record."""
        with self.workspace.lock(exclusive=True):
            removed = self.workspace.registry.remove_work(ref, reason)
        if "baselines" in self.__dict__:  # only if loaded: the next work may be given the removed one's id
            self.baselines.forget()
        return removed

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
                "generation": state.get("generation"),
                "types": state.get("types", {}),
                "files": state.get("files", {}),
            },
            "max_pixels": ws.max_pixels,
            "signing_key_fingerprint": existing_fingerprint(ws.home),
            "thresholds": self.model.describe(),
            "background": self.baselines.describe(),
        }


def _load(spec: str) -> Embedder:
    try:
        return load_embedder(spec)
    except (ClipWeightsMissing, ValueError) as exc:
        raise EngineError(str(exc)) from exc


def _default_ref(name: str) -> str:
    stem = Path(name.split("!")[-1]).stem
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-") or "work"


def _poly(p: Polygon | None) -> list[list[float]] | None:
    return None if not p else [[round(x, 1), round(y, 1)] for x, y in p]
