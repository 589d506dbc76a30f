"""The engine API: register original works and scan suspect images. The CLI, the HTTP service and batch
sweeps all call this module and never reach into the detector or the index directly.

    engine = Engine.open("semblance-data")
    engine.register(item, WorkMetadata(ref="night-cafe", title="The Night Café"))
    result = engine.scan(item)          # ScanResult, .to_json() is the CLI's JSON line
"""

from __future__ import annotations

import functools
import re
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import threadpoolctl

from detector import __version__
from detector.auto import resolve_auto
from detector.background import Baselines, load_background
from detector.background import packaged_path as packaged_background_path
from detector.calibration import (
    Calibration,
    CalibrationMismatch,
    CalibrationMissing,
    load_calibration,
    packaged_calibration,
)
from detector.embedders import ClipWeightsMissing, Embedder, SscdUnavailable, load_embedder
from detector.fusion import FusionModel
from detector.intake import DEFAULT_MAX_PIXELS, DecodedImage, IntakeError, decode_image, sha256_hex
from detector.matching import Match, SignalFailed, describe, overall_verdict
from detector.pipeline import score
from detector.signals import Signal, build_signals
from index.audit import Action
from index.keys import existing_fingerprint
from index.registry import DuplicateWork, WorkRecord
from index.retrieval import NEIGHBOURS_PER_ROW, nearest_works
from index.workspace import Workspace, WorkspaceError, is_disk_full, resolve_home
from service.inputs import InputError, InputItem
from service.prefetch import Fetched, prefetched
from service.results import EngineError, MatchResult, RegisterOutcome, ScanResult, WorkMetadata
from service.time_budget import DEFAULT_ITEM_SECONDS, ItemTimeout, time_budget

BLANK_WORK = (
    "refused: the picture is blank (one flat colour), so nothing in it can be matched, "
    "and as a registered work it would match every other blank picture"
)
BLANK_SUSPECT = "not compared: the picture is blank (one flat colour), so no signal can tell what it copies"

AnySignal = Signal[Any]


@functools.cache
def _numpy_blas_on_one_thread() -> None:
    """Run numpy's BLAS on one thread. The engine's products are small (a suspect's ~30 vectors against ~50
    candidates'), where OpenBLAS's hand-off between threads costs more than the product itself, and far more when
    the other core is busy (measured on 2 cores beside a second process: 2.5 scans/s on two threads, 5.3 on one).
    FAISS and torch keep their own thread pools. Process-wide, so done once per process."""
    controller = threadpoolctl.ThreadpoolController()
    for info in controller.info():
        if info.get("user_api") == "blas" and "numpy" in str(info.get("filepath", "")):
            controller.select(filepath=info["filepath"]).limit(limits=1)


class Engine:
    """A workspace opened for registering and scanning with one primary embedder."""

    def __init__(
        self,
        workspace: Workspace,
        embedder: str | None = None,
        model: FusionModel | None = None,
        calibration: Calibration | None = None,
    ) -> None:
        """`calibration` (or `model` alone, with the packaged background set) replaces the one the workspace would
        use: the evaluation collects features with it before any calibration exists."""
        _numpy_blas_on_one_thread()
        self.workspace = workspace
        specs = workspace.embedder_specs
        if embedder is not None and embedder not in specs:
            raise EngineError(
                f"embedder '{embedder}' is not enabled in {workspace.home} (enabled: "
                f"{', '.join(specs)}); its vectors would not be comparable"
            )
        self.embedder_spec = embedder or specs[0]
        self.item_seconds: float | None = DEFAULT_ITEM_SECONDS
        """Time budget of one input (service.time_budget); None for none."""
        self._embedders: dict[str, Embedder] = {}
        self.primary = self._embedder(self.embedder_spec)
        if calibration is None and model is not None:
            bg_path = packaged_background_path(self.primary.id)
            calibration = Calibration(model, load_background(self.primary.id), "given", bg_path)
        self._given = calibration
        """A calibration the caller fixed (the evaluation's provisional one); otherwise the workspace's is used."""
        if calibration is not None:
            self.__dict__["calibration"] = calibration
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
        self._backfill()

    def _backfill(self) -> None:
        """Compute, from the vault, every descriptor of an enabled signal that a registered work lacks without a
        recorded reason (a workspace made before that signal existed): a missing descriptor is never scored as 0.
        A read-only workspace cannot be backfilled, so it is refused with what to do."""
        reg = self.workspace.registry
        lacking = {s.key: ids for s in self.signals if (ids := reg.lacking(s.key))}
        if not lacking:
            return
        if self.workspace.read_only is not None:
            counts = ", ".join(f"{len(ids)} lack {key}" for key, ids in lacking.items())
            raise EngineError(
                f"works in {self.workspace.home} lack descriptors of enabled signals ({counts}), and the workspace is "
                f"read-only ({self.workspace.read_only}): open it once where it can be written (any command, e.g. "
                f"`semblance --home {self.workspace.home} info`) and they are computed from the vault"
            )
        by_key = {s.key: s for s in self.signals}
        try:
            with self.workspace.lock(exclusive=True, purpose="backfill"):
                for key in lacking:
                    for work_id in reg.lacking(key):  # again under the lock: another process may have done it
                        self._backfill_one(by_key[key], work_id)
        except WorkspaceError as exc:
            raise EngineError(str(exc)) from exc

    def _backfill_one(self, signal: AnySignal, work_id: int) -> None:
        work = self.workspace.registry.work_by("id", work_id)
        assert work is not None
        try:
            image = decode_image(self.workspace.vault.read(work.sha256), work.original_name, self.workspace.max_pixels)
            descriptors, not_run = describe([signal], image, query=False)
        except (OSError, IntakeError, SignalFailed) as exc:
            raise EngineError(
                f"work '{work.ref}' lacks its {signal.key} descriptor, and it cannot be computed from the original in "
                f"the vault ({exc}); restore {self.workspace.vault.path(work.sha256)} from a backup"
            ) from exc
        if signal.key in not_run:
            self.workspace.registry.backfill(work, None, (signal.key, not_run[signal.key]))
        else:
            data = signal.to_bytes(descriptors[signal.key])
            self.workspace.registry.backfill(work, (signal.key, signal.version, data), None)

    @cached_property
    def calibration(self) -> Calibration:
        """The calibration verdicts come from: the workspace's own (`semblance calibrate`), else the one packaged
        for the primary embedder. Loaded on first use (registering never needs one); never one made for another
        embedder. Raises EngineError naming `semblance calibrate` when there is none."""
        home = self.workspace.home
        command = f"semblance --home {home} calibrate" + (
            f" --embedder {self.embedder_spec}" if self.embedder_spec != self.workspace.embedder_specs[0] else ""
        )
        try:
            local = self.workspace.calibration_files(self.primary.id)
            if local is not None:
                return load_calibration(local[0], local[1], self.primary, "workspace")
            return packaged_calibration(self.primary)
        except CalibrationMissing as exc:
            raise EngineError(
                f"{exc}, so its similarities cannot be turned into verdicts with known error rates: run "
                f"`{command}` (synthetic copies of the registered works, or --manifest with labelled pairs) to fit "
                "one for this workspace"
            ) from exc
        except (CalibrationMismatch, OSError, ValueError, KeyError) as exc:
            raise EngineError(
                f"the calibration for embedder '{self.primary.id}' cannot be used ({exc}); run `{command}` again"
            ) from exc

    def reload_calibration(self) -> None:
        """Read the calibration again on next use (after `semblance calibrate` wrote the workspace's own): the
        engine keeps the one it loaded otherwise, and an open engine must never judge with a replaced one."""
        if self._given is None:
            self.__dict__.pop("calibration", None)
            self.__dict__.pop("baselines", None)

    @property
    def model(self) -> FusionModel:
        """The fusion model and verdict thresholds of `calibration`."""
        return self.calibration.model

    @cached_property
    def baselines(self) -> Baselines:
        """Background baselines of the works (detector.background), from the calibration's background set,
        loaded on first use: registering and listing works never need it."""
        return Baselines(self.calibration.background, self.signals)

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
    def open(
        cls,
        home: str | None,
        embedder: str | None = None,
        model: FusionModel | None = None,
        calibration: Calibration | None = None,
    ) -> Engine:
        try:
            workspace = Workspace(resolve_home(home))
        except WorkspaceError as exc:
            raise EngineError(str(exc)) from exc
        try:
            return cls(workspace, embedder, model, calibration)
        except BaseException:
            workspace.close()  # a refused open leaves no database file held open (a mount could not be released)
            raise

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
        return self.workspace.indexes(self._layout(signals), self._index_rows(signals))

    @staticmethod
    def _index_rows(signals: list[AnySignal]) -> Callable[[str, bytes], tuple[np.ndarray, np.ndarray]]:
        """A stored descriptor -> its index rows and region ids (for rebuilding and measuring the indexes)."""
        by_key = {s.key: s for s in signals}

        def rows(key: str, data: bytes) -> tuple[np.ndarray, np.ndarray]:
            entries = by_key[key].index_entries(by_key[key].from_bytes(data))
            assert entries is not None
            return entries.rows, entries.region_ids

        return rows

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
        """Register works one transaction each, yielding each outcome as soon as it is committed, so that a crash
        later in the batch never hides what was registered. A bad file is its own error outcome; only a workspace
        fault (a full disk) ends the batch, as an EngineError saying what was kept and what to do."""
        signals = self._all_signals()
        try:
            with self.workspace.lock(exclusive=True, purpose="register"):
                self.workspace.recover()
            try:
                pairs = iter(items)
                metas: deque[WorkMetadata] = deque()

                def inputs() -> Iterator[InputItem]:
                    for item, meta in pairs:
                        metas.append(meta)
                        yield item

                for item, fetch in prefetched(inputs(), self._decode):
                    yield self._register_one(item, fetch, metas.popleft(), signals)
            finally:  # leave the index caches current (rebuilt if a crash left them stale), for the next process
                with self.workspace.lock(exclusive=True, purpose="register"):
                    self._indexes(signals)
                    self.workspace.save_indexes(self._index_rows(signals))
                    self._store_missing_baselines()
        except WorkspaceError as exc:
            raise EngineError(str(exc)) from exc

    def _register_one(
        self, item: InputItem, fetch: Callable[[], Fetched], meta: WorkMetadata, signals: list[AnySignal]
    ) -> RegisterOutcome:
        raw_name = item.name_bytes_b64

        def outcome(status: str, ref: str = "", sha256: str = "", message: str = "") -> RegisterOutcome:
            return RegisterOutcome(item.name, status, ref, sha256, message, raw_name)

        try:  # reading, decoding and describing run under the budget; the commit below is never interrupted
            with time_budget(self.item_seconds):
                data, image = fetch().picture()  # read and decoded on the prefetch worker
        except (InputError, IntakeError) as exc:
            return outcome("error", meta.ref, message=exc.reason)
        except ItemTimeout as exc:
            return outcome("error", meta.ref, message=str(exc))
        if image.is_blank:
            return outcome("error", meta.ref, image.sha256, BLANK_WORK)
        ref = meta.ref or _default_ref(item.name)
        reg = self.workspace.registry
        dup = reg.find_duplicate(image.sha256, ref)  # before describing: a duplicate costs no descriptors
        if dup is not None and dup.existing.sha256 == image.sha256:
            return outcome("duplicate", dup.existing.ref, image.sha256, dup.reason)
        if dup is not None:
            if meta.ref:
                return outcome("error", ref, image.sha256, dup.reason)
            ref = f"{ref}-{image.sha256[:8]}"  # a derived ref collided: disambiguate by content
        try:
            with time_budget(self.item_seconds):
                descriptors, not_run = describe(signals, image, query=False)
        except (ItemTimeout, SignalFailed) as exc:
            return outcome("error", meta.ref, image.sha256, str(exc))
        extra = dict(meta.extra)
        if raw_name is not None:
            extra["original_name_bytes_b64"] = raw_name
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
            metadata=extra,
        )
        stored = [s for s in signals if s.key in descriptors]
        rows = [(s.key, s.version, s.to_bytes(descriptors[s.key])) for s in stored]
        baselines = self._baselines_as_stored({key: data for key, _, data in rows})
        added = {}
        for s in stored:
            entries = s.index_entries(descriptors[s.key])
            if entries is not None:
                added[s.key] = (entries.rows, entries.region_ids)
        # exclusive for this work's writes only: scans (and other writers) run between the works of a batch
        with self.workspace.lock(exclusive=True, purpose="register"):
            self._indexes(signals)  # brought up to date first, should another process have registered meanwhile
            try:
                self.workspace.vault.put(image.sha256, data)
                record = reg.add_work(record, rows, not_run, baselines)
            except DuplicateWork as exc:
                return outcome("duplicate", exc.existing.ref, image.sha256, exc.reason)
            except (OSError, sqlite3.OperationalError) as exc:
                raise EngineError(self._write_failed(item.name, exc)) from exc
            self.workspace.note_added(added, record.id)
        note = "; ".join(f"{key.split(':', 1)[0]} not computed: {why}" for key, why in not_run.items())
        return outcome("registered", ref, image.sha256, note)

    def _background_digest(self) -> str | None:
        """SHA-256 of the calibration's background set, or None when there is none to judge against (no calibration
        yet, as in a CLIP workspace before `calibrate`, or a calibration without a background set)."""
        try:
            background = self.calibration.background
        except EngineError:
            return None
        return background.digest if background is not None else None

    def _baselines_as_stored(self, stored: dict[str, bytes]) -> tuple[str, dict[str, float]] | None:
        """A work's background baselines from its descriptors as the registry stores them (the same numbers a scan
        and `reproduce` compute from stored descriptors), with the background's SHA-256; None without one."""
        digest = self._background_digest()
        return None if digest is None else (digest, self._baselines_of(stored))

    def _baselines_of(self, stored: dict[str, bytes]) -> dict[str, float]:
        by_key = {s.key: s for s in self.signals}
        return self.baselines.of({key: by_key[key].from_bytes(data) for key, data in stored.items() if key in by_key})

    def _store_missing_baselines(self) -> None:
        """Store the baselines of works registered before this background set (or before v3 of the registry); call
        under the exclusive lock. A cache: a failure to write it is announced, and scans compute what is missing."""
        digest = self._background_digest()
        if digest is None or self.workspace.read_only is not None:
            return
        reg = self.workspace.registry
        lacking = reg.lacking_baselines(digest)
        for start in range(0, len(lacking), 500):
            chunk = lacking[start : start + 500]
            stored = {s.key: reg.descriptors(chunk, s.key) for s in self.signals}
            values = {w: self._baselines_of({key: rows[w] for key, rows in stored.items() if w in rows}) for w in chunk}
            try:
                reg.store_baselines(digest, values)
            except (OSError, sqlite3.OperationalError) as exc:
                self.workspace.notify(f"background baselines could not be stored ({exc}); scans compute them")
                return

    def _write_failed(self, name: str, exc: BaseException) -> str:
        """What to tell the user when the workspace could not be written while registering `name`."""
        home = self.workspace.home
        what = "the disk holding the workspace is full" if is_disk_full(exc) else "the workspace could not be written"
        return (
            f"{what} while registering {name} ({exc}); works reported as registered are committed and safe, "
            f"{name} and those after it were not registered. Free space on the file system of {home} (or fix the "
            "fault) and run the same command again: what is already registered is reported as a duplicate"
        )

    # -- scanning -----------------------------------------------------------------------------------
    def scan(self, item: InputItem, top_k: int = 5, near_misses: bool = False) -> ScanResult:
        return next(self.scan_many([item], top_k, near_misses))

    def scan_many(self, items: Iterable[InputItem], top_k: int = 5, near_misses: bool = False) -> Iterator[ScanResult]:
        """Scan each suspect; unreadable ones, and any one whose comparison fails, yield a result with `error` set.
        Without a calibration for the primary embedder nothing is scanned (EngineError naming `calibrate`)."""
        indexes = self._ready()
        for item, fetch in prefetched(items, self._decode):
            yield self._scan_one(item, fetch, indexes, top_k, near_misses)

    def _decode(self, data: bytes, name: str) -> DecodedImage:
        return decode_image(data, name, self.workspace.max_pixels)

    def _scan_one(
        self, item: InputItem, fetch: Callable[[], Fetched], indexes: dict[str, Any], top_k: int, near_misses: bool
    ) -> ScanResult:
        started = time.perf_counter()
        data = b""

        def failed(reason: str, sha256: str = "") -> ScanResult:  # the bytes' hash is kept when they could be read
            digest = sha256 or (sha256_hex(data) if data else "")
            return ScanResult(item.name, digest, error=reason, path_bytes_b64=item.name_bytes_b64)

        try:
            with time_budget(self.item_seconds):
                fetched = fetch()  # read and decoded on the prefetch worker, waited for inside the budget
                data = fetched.data  # kept for the error line's SHA-256 should decoding have failed
                image = fetched.picture()[1]
                if image.is_blank:
                    return failed(BLANK_SUSPECT, image.sha256)
                query, not_run = describe(self.signals, image, query=True)
                matches = self._match(image, query, not_run, indexes, top_k, near_misses)
        except (InputError, IntakeError) as exc:
            return failed(exc.reason)
        except (ItemTimeout, SignalFailed) as exc:
            return failed(str(exc))
        except MemoryError:
            return failed("not compared: it needed more memory than this machine has")
        except (sqlite3.Error, OSError) as exc:
            home = self.workspace.home
            raise EngineError(f"the workspace {home} could not be read while scanning {item.name} ({exc})") from exc
        except Exception as exc:  # a fault of Semblance on this one picture: report it, and go on with the batch
            return failed(f"not compared: internal error ({type(exc).__name__}: {exc}); please report this file")
        return ScanResult(
            path=item.name,
            sha256=image.sha256,
            verdict=overall_verdict(m.verdict for m in matches),
            matches=matches,
            width=image.width,
            height=image.height,
            format=image.format,
            elapsed_ms=(time.perf_counter() - started) * 1000,
            image=image,
            signals_not_run={key.split(":", 1)[0]: why for key, why in not_run.items()},
            path_bytes_b64=item.name_bytes_b64,
            intake_notes=image.notes,
        )

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
        return self._match(image, query, not_run, self._ready(), top_k, near_misses)

    def _ready(self) -> dict[str, Any]:
        """The calibration and its background set (EngineError without one), then the search indexes, current with
        the registry: what judging a suspect needs, loaded before any suspect is read."""
        _ = self.baselines
        try:
            with self.workspace.lock(exclusive=False):
                return self._indexes(self.signals)
        except WorkspaceError as exc:
            raise EngineError(str(exc)) from exc

    def describe_query(self, image: DecodedImage) -> dict[str, object]:
        """Descriptors of a suspect under the primary signals (for reports and reproduction); signals that cannot
        describe the picture are absent."""
        return describe(self.signals, image, query=True)[0]

    def _match(
        self,
        image: DecodedImage,
        query: dict[str, object],
        not_run: dict[str, str],
        indexes: dict[str, Any],
        top_k: int,
        near_misses: bool,
    ) -> list[MatchResult]:
        candidates: set[int] = set()
        for s in self.signals:
            if s.key not in query:
                continue
            entries = s.query_entries(query[s.key])
            if entries is None or s.key not in indexes:
                continue
            candidates |= nearest_works(indexes[s.key].search(entries.rows, NEIGHBOURS_PER_ROW), entries.views)
        if not candidates:
            return []
        reg = self.workspace.registry
        stored = {s.key: reg.descriptors(candidates, s.key) for s in self.signals}
        refs: dict[int, dict[str, object]] = {
            w: {s.key: s.from_bytes(stored[s.key][w]) for s in self.signals if w in stored[s.key]} for w in candidates
        }
        digest = self._background_digest()
        known = reg.baselines(candidates, digest) if digest is not None else {}
        assessed = score(
            self.model,
            self.signals,
            query,
            refs,
            lambda w, descriptors: known[w] if w in known else self.baselines.of(descriptors, cache_key=w),
            [v.kind for v in image.views],
            skip_hopeless=not near_misses,  # only `no_match` candidates are skipped, and they are not returned
        )
        kept = [m for m in assessed if near_misses or m.verdict != "no_match"][:top_k]
        works = reg.works_by_ids(m.work_id for m in kept)
        gaps = reg.gaps(m.work_id for m in kept)

        def not_compared(m: Match) -> dict[str, dict[str, object]]:
            """Signals that would have compared this pair but could not run on one side, with the reason."""
            wanted = [s for s in self.signals if s.role == "candidate" or s.name in m.verified_by]
            out: dict[str, dict[str, object]] = {}
            for s in wanted:
                if s.key in not_run:
                    out[s.name] = {"not_run": f"on the suspect: {not_run[s.key]}"}
                elif s.key not in refs[m.work_id]:
                    why = gaps.get(m.work_id, {}).get(s.key, "no reason was recorded")
                    out[s.name] = {"not_run": f"the registered work has no descriptor of this signal: {why}"}
            return out

        return [
            MatchResult(
                ref=works[m.work_id].ref,
                title=works[m.work_id].title,
                score=m.score,
                verdict=m.verdict,
                signals={**not_compared(m), **m.signal_evidence()},
                region=m.query_region,
                reference_region=m.reference_region,
                region_source=m.region_source,
                agreeing_signals=m.agreeing,
                work_sha256=works[m.work_id].sha256,
                score_basis=m.score_basis,
                view=m.view_name,
                features=dict(m.features),
                views=[dict(v) for v in m.views],
                geometry=m.geometry(),
                verified_by=sorted(m.verified_by),
                view_verified_by={name: sorted(vs) for name, vs in m.view_verified_by.items()},
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
        """Add an audit entry for an action outside registration (a scan batch, an evidence report), by the current
        actor (index.audit). A read-only workspace's trail cannot be written, and a failure to write is announced:
        neither fails the action itself. Returns whether the entry was written."""
        if self.workspace.read_only is not None:
            return False
        try:
            self.workspace.registry.record(action, details, ref, sha256)
        except (OSError, sqlite3.OperationalError) as exc:
            self.workspace.notify(f"the audit trail could not be written ({exc}); the {action} itself is complete")
            return False
        return True

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


def _load(spec: str) -> Embedder:
    try:
        return load_embedder(spec)
    except (ClipWeightsMissing, SscdUnavailable, ValueError) as exc:
        raise EngineError(str(exc)) from exc


def _default_ref(name: str) -> str:
    stem = Path(name.split("!")[-1]).stem
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-") or "work"
