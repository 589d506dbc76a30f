"""Calibrations: for each embedder, the fusion model, its verdict thresholds, the rates measured at them, and the
background set its baselines come from.

A verdict is only as good as the calibration behind it, and a calibration fitted on one network's similarities
means nothing for another's. So calibration is per embedder, identified by the embedder's id *and* the SHA-256 of
its weights, and the engine never gives verdicts from a calibration made for another embedder.

Packaged calibrations live beside this module (`<embedder>.toml`, written by `scripts/evaluate.py`) with their
background sets in `detector/background/<embedder>.npz` (`scripts/build_background.py`). A workspace may hold
its own (`semblance calibrate`, for an embedder nothing is packaged for, such as a CLIP file of one's own);
`index.workspace` finds it and passes it in.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

from detector.background import BackgroundSet, load_background
from detector.background import packaged_path as packaged_background_path
from detector.embedders.base import Embedder
from detector.fusion import FusionModel, load_model

__all__ = [
    "Calibration",
    "CalibrationMismatch",
    "CalibrationMissing",
    "load_calibration",
    "packaged_calibration",
    "packaged_calibration_exists",
    "packaged_model_path",
    "provisional_model",
]


class CalibrationMissing(LookupError):
    """No calibration exists for an embedder: its similarities cannot be turned into verdicts."""


class CalibrationMismatch(ValueError):
    """A calibration file was made for another embedder (or other weights) than the one it is used with."""


@dataclass(frozen=True)
class Calibration:
    """Everything that turns one embedder's features into verdicts with known error rates."""

    model: FusionModel
    background: BackgroundSet | None
    origin: str
    """'packaged' (shipped, fitted by scripts/evaluate.py), 'workspace' (`semblance calibrate`) or 'given'."""
    background_path: Path | None = None

    def describe(self) -> dict[str, object]:
        return {
            "origin": self.origin,
            "embedder": self.model.embedder,
            "version": self.model.version,
            "derivation": self.model.derivation,
            "background_sha256": None if self.background is None else self.background.digest,
        }


def provisional_model(embedder_id: str, weights_sha256: str, background_sha256: str) -> FusionModel:
    """A stand-in for collecting features before an embedder is calibrated: the effnet-lite0 file's shape with this
    embedder's identity. Its scores and verdicts are never reported; the fit replaces every number in it."""
    base = load_model(packaged_model_path("effnet-lite0"))
    return replace(
        base,
        embedder=embedder_id,
        weights_sha256=weights_sha256,
        background_sha256=background_sha256,
        version="provisional",
        rates={},
    )


def packaged_model_path(embedder_id: str) -> Path:
    return Path(str(resources.files("detector").joinpath("calibration", f"{embedder_id}.toml")))


def packaged_calibration_exists(embedder_id: str) -> bool:
    return "/" not in embedder_id and ":" not in embedder_id and packaged_model_path(embedder_id).is_file()


def check_matches(model: FusionModel, embedder: Embedder) -> None:
    """Raise CalibrationMismatch unless `model` was fitted for `embedder` (same id, same weights when recorded)."""
    if model.embedder != embedder.id:
        raise CalibrationMismatch(
            f"the calibration {model.source} was made for embedder '{model.embedder}', not '{embedder.id}'"
        )
    if model.weights_sha256 and model.weights_sha256 != embedder.weights_sha256:
        raise CalibrationMismatch(
            f"the calibration {model.source} was made for other '{embedder.id}' weights "
            f"(sha256 {model.weights_sha256[:12]}…, these are {embedder.weights_sha256[:12]}…)"
        )


def load_calibration(model_path: Path, background_path: Path | None, embedder: Embedder, origin: str) -> Calibration:
    """Read a calibration (fusion model file and optional background set) and check it fits `embedder`."""
    model = load_model(model_path)
    check_matches(model, embedder)
    background = load_background(embedder.id, background_path) if background_path is not None else None
    if background is not None and background.embedder_id != embedder.id:
        raise CalibrationMismatch(f"the background set {background_path} was made for '{background.embedder_id}'")
    if model.background_sha256 and (background is None or background.digest != model.background_sha256):
        found = "none" if background is None else background.digest[:12] + "…"
        raise CalibrationMismatch(
            f"the calibration {model_path} was fitted with background set {model.background_sha256[:12]}…, "
            f"but {found} is installed"
        )
    return Calibration(model, background, origin, background_path if background is not None else None)


def packaged_calibration(embedder: Embedder) -> Calibration:
    """The calibration shipped for `embedder`, or raise CalibrationMissing / CalibrationMismatch."""
    if not packaged_calibration_exists(embedder.id):
        raise CalibrationMissing(f"no calibration ships for embedder '{embedder.id}'")
    bg = packaged_background_path(embedder.id)
    return load_calibration(packaged_model_path(embedder.id), bg if bg.is_file() else None, embedder, "packaged")
