"""What the embedder `auto` means: the best calibrated built-in embedder installed, plus CLIP when its weights are
already here. It needs both the embedders and the calibrations, so it lives above both packages (neither imports
the other for it)."""

from __future__ import annotations

from detector.calibration import packaged_calibration_exists
from detector.embedders import DEFAULT_EMBEDDER, installed

AUTO_PREFERENCE = ("sscd-distilled", "effnet-lite0")
"""`auto`'s primary embedder: the first of these that is installed and has a packaged calibration. The order
comes from docs/EVALUATION.md (the side-by-side table of calibrated embedders on the report split), taking
speed into account: see its section "Which embedder `auto` picks"."""
AUTO_CLIP = "clip:ViT-B-32:laion2b_s34b_b79k"
"""The CLIP model `auto` adds as a second embedder when its weights are already cached; never downloaded."""


def resolve_auto() -> list[str]:
    """`auto`: the best calibrated built-in embedder installed, plus CLIP when its weights are already here."""
    from detector.embedders.clip import cached_hub_weights

    primary = next((s for s in AUTO_PREFERENCE if installed(s) and packaged_calibration_exists(s)), DEFAULT_EMBEDDER)
    model, tag = AUTO_CLIP.split(":")[1:]
    try:
        has_clip = cached_hub_weights(model, tag) is not None
    except Exception:  # a broken hub cache must not stop the offline default
        has_clip = False
    return [primary, AUTO_CLIP] if has_clip else [primary]
