"""The embedder interface: a network that maps an image to a global vector and regional vectors.

Embedders are pluggable so a workspace can hold vectors from several (the offline EfficientNet default, CLIP);
each is identified by `id` and by the SHA-256 of its weights, so a query is never compared with vectors made
by a different network.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from detector.geometry import Box


@dataclass(frozen=True)
class NeuralFeatures:
    """Global and regional L2-normalised embeddings of one image.

    `vectors[0]` is the whole image; the others describe `boxes[i]` (normalised coordinates).
    """

    vectors: np.ndarray
    boxes: tuple[Box, ...]
    layout: np.ndarray | None = None
    """Optional L2-normalised spatial layout of mid-level features (where each channel fires on a coarse grid):
    what neural style transfer preserves by construction, so it survives AI re-renderings better than
    pooled features do."""

    @property
    def global_vector(self) -> np.ndarray:
        return self.vectors[0]


class Embedder(ABC):
    """A network producing `NeuralFeatures`."""

    id: str
    weights_sha256: str
    dim: int

    @abstractmethod
    def features(self, rgb: np.ndarray) -> NeuralFeatures:
        """Embed an RGB uint8 image (h, w, 3)."""

    def global_vector(self, rgb: np.ndarray) -> np.ndarray:
        """The whole-image vector alone (what a global-descriptor peer compares); override when regions cost extra."""
        return self.features(rgb).global_vector

    def query_features(self, rgb: np.ndarray) -> NeuralFeatures:
        """Embed a suspect; by default the same as `features`."""
        return self.features(rgb)

    def describe(self) -> dict[str, object]:
        return {"id": self.id, "weights_sha256": self.weights_sha256, "dim": self.dim}


THREADS_ENV = "SEMBLANCE_INTRA_OP_THREADS"
"""A process's share of the cores for an embedder's intra-op threads, when its loader is given none: set by a
server's scan workers (service.scan_pool), so two workers on two cores do not each start a thread per core."""


def threads_from_env() -> int | None:
    """The thread count THREADS_ENV gives this process, or None (the runtime's own default)."""
    return int(os.environ.get(THREADS_ENV, "0") or 0) or None


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a weights file, streamed."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
