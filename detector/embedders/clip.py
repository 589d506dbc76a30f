"""CLIP through open_clip: optional, stronger on AI re-renderings, loaded only from weights already on disk.

Spec forms: `clip:MODEL:TAG` (a hub tag whose weights are already cached; nothing is downloaded here, see
`semblance models fetch`), `clip:MODEL:/path/weights.safetensors` or `clip:MODEL:local-dir:/path`.
Regions come from embedding a 2x2 grid of crops next to the whole image (a ViT has no cheap feature map
to pool, so this costs 5 forward passes).
"""

from __future__ import annotations

import os

import numpy as np
import torch
from PIL import Image

from detector.embedders.base import Embedder, NeuralFeatures, file_sha256, l2_normalise
from detector.geometry import Box

CROP_BOXES = (
    Box(0.0, 0.0, 1.0, 1.0),
    Box(0.0, 0.0, 0.6, 0.6),
    Box(0.4, 0.0, 1.0, 0.6),
    Box(0.0, 0.4, 0.6, 1.0),
    Box(0.4, 0.4, 1.0, 1.0),
)


class ClipWeightsMissing(RuntimeError):
    """The requested CLIP weights are not on this machine (and will not be downloaded implicitly)."""


def resolve_weights(model: str, source: str) -> str:
    """Path of the weights file for `source` (a file, `local-dir:DIR`, or a cached hub tag), or raise."""
    if source.startswith("local-dir:"):
        folder = source.removeprefix("local-dir:")
        for name in ("open_clip_model.safetensors", "open_clip_pytorch_model.bin", "model.safetensors"):
            candidate = os.path.join(folder, name)
            if os.path.isfile(candidate):
                return candidate
        raise ClipWeightsMissing(f"no open_clip weights file in {folder}")
    if os.path.sep in source or source.endswith((".safetensors", ".bin", ".pt", ".pth")):
        if not os.path.isfile(source):
            raise ClipWeightsMissing(f"CLIP weights file not found: {source}")
        return source
    cached = cached_hub_weights(model, source)
    if cached is None:
        raise ClipWeightsMissing(
            f"CLIP {model} '{source}' weights are not on this machine; run `semblance models fetch "
            f"clip:{model}:{source}` while online, or import a weights file"
        )
    return cached


def cached_hub_weights(model: str, tag: str) -> str | None:
    """The locally cached file for an open_clip hub tag, looked up without any network access."""
    import open_clip
    from huggingface_hub import try_to_load_from_cache

    cfg = open_clip.get_pretrained_cfg(model, tag)
    hub = cfg.get("hf_hub", "") if cfg else ""
    if not hub:
        return None
    repo = hub.rstrip("/")
    for filename in ("open_clip_model.safetensors", "open_clip_pytorch_model.bin"):
        path = try_to_load_from_cache(repo, filename)
        if isinstance(path, str) and os.path.isfile(path):
            return path
    return None


class ClipEmbedder(Embedder):
    """open_clip image tower; global embedding plus a 2x2 grid of crop embeddings."""

    def __init__(self, model: str, source: str, threads: int | None = None) -> None:
        import open_clip

        if threads:
            torch.set_num_threads(threads)
        path = resolve_weights(model, source)
        self.id = f"clip:{model}:{source}"
        self.weights_sha256 = file_sha256(path)
        net, _, preprocess = open_clip.create_model_and_transforms(model, pretrained=path)
        self.model = net.eval()
        self.preprocess = preprocess
        self.dim = int(self.model.visual.output_dim)

    def features(self, rgb: np.ndarray) -> NeuralFeatures:
        h, w = rgb.shape[:2]
        crops = []
        for b in CROP_BOXES:
            y0, y1 = round(b.y0 * h), max(round(b.y0 * h) + 1, round(b.y1 * h))
            x0, x1 = round(b.x0 * w), max(round(b.x0 * w) + 1, round(b.x1 * w))
            crops.append(self.preprocess(Image.fromarray(rgb[y0:y1, x0:x1])))
        with torch.inference_mode():
            vecs = self.model.encode_image(torch.stack(crops)).float().numpy()
        return NeuralFeatures(vectors=l2_normalise(vecs), boxes=CROP_BOXES)
