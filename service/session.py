"""A workspace opened for judging: its registry and search indexes, the signals of one primary embedder, the
calibration that turns their similarities into verdicts and the background baselines of the works. What every use
case reads (service.usecases.registration, service.usecases.scanning); `Engine` (service.engine) is this plus the
actions people take.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Iterable
from functools import cached_property
from typing import Any, Self

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
from detector.intake import DEFAULT_MAX_PIXELS, DecodedImage, IntakeError, decode_image
from detector.matching import SignalFailed, describe
from detector.signals import Signal, build_signals
from index.workspace import Workspace, WorkspaceError, resolve_home
from service.results import EngineError
from service.time_budget import DEFAULT_ITEM_SECONDS

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


class Session:
    """A workspace opened with one primary embedder: what registering and scanning read and keep current."""

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
    def init(cls, home: str | None, embedders: Iterable[str] = ("auto",), max_pixels: int = DEFAULT_MAX_PIXELS) -> Self:
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
    ) -> Self:
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

    def all_signals(self) -> list[AnySignal]:
        """Signals computed at registration: the shared ones once, an embedding signal per embedder."""
        out: dict[str, AnySignal] = {s.key: s for s in self.signals}
        for spec in self.workspace.embedder_specs:
            for s in build_signals(self._embedder(spec)):
                out.setdefault(s.key, s)
        return list(out.values())

    def _layout(self, signals: list[AnySignal]) -> dict[str, tuple[str, int]]:
        return {s.key: lay for s in signals if (lay := s.index_layout()) is not None}

    def indexes(self, signals: list[AnySignal]) -> dict[str, Any]:
        return self.workspace.indexes(self._layout(signals), self.index_rows(signals))

    @staticmethod
    def index_rows(signals: list[AnySignal]) -> Callable[[str, bytes], tuple[np.ndarray, np.ndarray]]:
        """A stored descriptor -> its index rows and region ids (for rebuilding and measuring the indexes)."""
        by_key = {s.key: s for s in signals}

        def rows(key: str, data: bytes) -> tuple[np.ndarray, np.ndarray]:
            entries = by_key[key].index_entries(by_key[key].from_bytes(data))
            assert entries is not None
            return entries.rows, entries.region_ids

        return rows

    def decode(self, data: bytes, name: str) -> DecodedImage:
        """Decode a picture under this workspace's pixel limit (IntakeError naming the file otherwise)."""
        return decode_image(data, name, self.workspace.max_pixels)

    def ready(self) -> dict[str, Any]:
        """The calibration and its background set (EngineError without one), then the search indexes, current with
        the registry: what judging a suspect needs, loaded before any suspect is read."""
        _ = self.baselines
        try:
            with self.workspace.lock(exclusive=False):
                return self.indexes(self.signals)
        except WorkspaceError as exc:
            raise EngineError(str(exc)) from exc

    def describe_query(self, image: DecodedImage) -> dict[str, object]:
        """Descriptors of a suspect under the primary signals (for reports and reproduction); signals that cannot
        describe the picture are absent."""
        return describe(self.signals, image, query=True)[0]

    # -- background baselines ---------------------------------------------------------------------------
    def background_digest(self) -> str | None:
        """SHA-256 of the calibration's background set, or None when there is none to judge against (no calibration
        yet, as in a CLIP workspace before `calibrate`, or a calibration without a background set)."""
        try:
            background = self.calibration.background
        except EngineError:
            return None
        return background.digest if background is not None else None

    def baselines_as_stored(self, stored: dict[str, bytes]) -> tuple[str, dict[str, float]] | None:
        """A work's background baselines from its descriptors as the registry stores them (the same numbers a scan
        and `reproduce` compute from stored descriptors), with the background's SHA-256; None without one."""
        digest = self.background_digest()
        return None if digest is None else (digest, self._baselines_of(stored))

    def _baselines_of(self, stored: dict[str, bytes]) -> dict[str, float]:
        by_key = {s.key: s for s in self.signals}
        return self.baselines.of({key: by_key[key].from_bytes(data) for key, data in stored.items() if key in by_key})

    def store_missing_baselines(self) -> None:
        """Store the baselines of works registered before this background set (or before v3 of the registry); call
        under the exclusive lock. A cache: a failure to write it is announced, and scans compute what is missing."""
        digest = self.background_digest()
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


def _load(spec: str) -> Embedder:
    try:
        return load_embedder(spec)
    except (ClipWeightsMissing, SscdUnavailable, ValueError) as exc:
        raise EngineError(str(exc)) from exc
