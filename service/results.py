"""What the engine hands back: the outcome of registering a file and of scanning one, each with the JSON the CLI
prints and the HTTP API returns (`to_json`; a public contract: extend, never break), and the error a user must
fix."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from detector.geometry import Polygon
from detector.intake import DecodedImage
from detector.matching import Geometry


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
    categories: str = ""
    extra: dict[str, str] = field(default_factory=dict)


METADATA_FIELDS = tuple(f.name for f in fields(WorkMetadata) if f.name != "extra")
"""A work's named metadata, as manifests (works.csv) and the registration form name its columns."""


@dataclass
class RegisterOutcome:
    path: str
    status: str
    """registered | duplicate | error"""
    ref: str = ""
    sha256: str = ""
    message: str = ""
    path_bytes_b64: str | None = None
    """The file name's raw bytes (base64) when it is not valid UTF-8; `path` then shows them as escapes."""

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"path": self.path, "status": self.status, "ref": self.ref, "sha256": self.sha256}
        if self.message:
            out["error" if self.status == "error" else "message"] = self.message
        if self.path_bytes_b64 is not None:
            out["path_bytes_b64"] = self.path_bytes_b64
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
    """Which calibrated expert gave the score (detector.fusion): combined, layout, pdq, descriptor or repainting."""
    view: str = "whole"
    """What of the suspect was judged: "whole", "panel N" when one collage panel alone scored highest, or "region N"
    when a region proposal did (a print on a product, the picture in a page; detector.views)."""
    features: dict[str, float] = field(default_factory=dict)
    """The fusion's inputs of the view that decided (raw values and `.excess`), as a calibration re-scores them."""
    views: list[dict[str, float]] = field(default_factory=list)
    """The same for every view of the suspect (whole, then each collage panel and region proposal)."""
    geometry: Geometry | None = None
    """The verified keypoint correspondence, when there is one (for figures)."""
    verified_by: list[str] = field(default_factory=list)
    """The costly verifiers that compared the whole suspect with this work (for a reproduction)."""
    view_verified_by: dict[str, list[int]] = field(default_factory=dict)
    """Per verifier, the views of the suspect it compared alone with this work (for a reproduction)."""

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
    signals_not_run: dict[str, str] = field(default_factory=dict)
    """Signals that could not describe this picture (degenerate geometry), with the reason; the others decided."""
    path_bytes_b64: str | None = None
    """The file name's raw bytes (base64) when it is not valid UTF-8; `path` then shows them as escapes."""
    intake_notes: tuple[str, ...] = ()
    """What intake overlooked to read the pixels (detector.intake.DecodedImage.notes)."""

    def to_json(self) -> dict[str, object]:
        out: dict[str, object]
        if self.error is not None:
            out = {"path": self.path, "sha256": self.sha256, "verdict": None, "error": self.error}
        else:
            out = {
                "path": self.path,
                "sha256": self.sha256,
                "verdict": self.verdict,
                "matches": [m.to_json() for m in self.matches],
                "width": self.width,
                "height": self.height,
                "format": self.format,
                "elapsed_ms": round(self.elapsed_ms, 1),
            }
            if self.signals_not_run:
                out["signals_not_run"] = self.signals_not_run
            if self.intake_notes:
                out["intake_notes"] = list(self.intake_notes)
        if self.path_bytes_b64 is not None:
            out["path_bytes_b64"] = self.path_bytes_b64
        return out


def _poly(p: Polygon | None) -> list[list[float]] | None:
    return None if not p else [[round(x, 1), round(y, 1)] for x, y in p]
