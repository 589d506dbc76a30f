"""Embedder registry: parse a spec (`effnet-lite0`, `clip:MODEL:TAG_OR_PATH`, `auto`) into an embedder."""

from __future__ import annotations

from functools import lru_cache

from detector.embedders.base import Embedder, NeuralFeatures
from detector.embedders.clip import ClipWeightsMissing

DEFAULT_EMBEDDER = "effnet-lite0"
AUTO_CLIP = "clip:ViT-B-32:laion2b_s34b_b79k"
"""The CLIP model `auto` picks when its weights are already cached; never downloaded implicitly."""

__all__ = ["DEFAULT_EMBEDDER", "ClipWeightsMissing", "Embedder", "NeuralFeatures", "load_embedder", "resolve_auto"]


def resolve_auto() -> list[str]:
    """`auto`: the offline default, plus CLIP when its weights are already on this machine."""
    from detector.embedders.clip import cached_hub_weights

    model, tag = AUTO_CLIP.split(":")[1:]
    try:
        has_clip = cached_hub_weights(model, tag) is not None
    except Exception:  # a broken hub cache must not stop the offline default
        has_clip = False
    return [DEFAULT_EMBEDDER, AUTO_CLIP] if has_clip else [DEFAULT_EMBEDDER]


def parse_spec(spec: str) -> tuple[str, str, str]:
    """Split `clip:MODEL:SOURCE` (SOURCE may contain ':') or return (spec, '', '')."""
    if spec.startswith("clip:"):
        parts = spec.split(":", 2)
        if len(parts) != 3 or not parts[1] or not parts[2]:
            raise ValueError(f"embedder '{spec}': expected clip:MODEL:TAG_OR_PATH")
        return "clip", parts[1], parts[2]
    if spec == DEFAULT_EMBEDDER:
        return spec, "", ""
    raise ValueError(f"unknown embedder '{spec}' (use auto, {DEFAULT_EMBEDDER} or clip:MODEL:TAG_OR_PATH)")


@lru_cache(maxsize=4)
def load_embedder(spec: str) -> Embedder:
    """Build (once per process) the embedder for `spec`; raises ClipWeightsMissing or ValueError."""
    kind, model, source = parse_spec(spec)
    if kind == "clip":
        from detector.embedders.clip import ClipEmbedder

        return ClipEmbedder(model, source)
    from detector.embedders.effnet import EffNetLite0Embedder

    return EffNetLite0Embedder()
