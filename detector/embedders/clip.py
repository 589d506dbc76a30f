"""CLIP through open_clip: optional, stronger on AI re-renderings, loaded only from weights already on disk.

Spec forms: `clip:MODEL:TAG` (a hub tag whose weights are already cached; nothing is downloaded here, see
`semblance models fetch`), `clip:MODEL:/path/weights.safetensors` or `clip:MODEL:local-dir:/path`.
For the two local forms, an `open_clip_config.json` (open_clip's hub format: `model_cfg`, `preprocess_cfg`)
beside the weights defines the architecture and preprocessing, so models open_clip has no built-in config for
work too; without one, MODEL must be an open_clip built-in architecture.
Regions come from embedding a 2x2 grid of crops next to the whole image (a ViT has no cheap feature map
to pool, so this costs 5 forward passes).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
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


CONFIG_NAME = "open_clip_config.json"


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
    # open_clip's hub entries are `org/repo/` (default file names) or `org/repo/file.bin`
    repo, filename = os.path.split(hub)
    names = [filename] if filename else ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
    if filename.endswith((".bin", ".pth")):
        names.insert(0, filename[:-4] + ".safetensors")  # fetched in preference when the hub has it
    for name in names:
        path = try_to_load_from_cache(repo, name)
        if isinstance(path, str) and os.path.isfile(path):
            return path
    return None


class ClipEmbedder(Embedder):
    """open_clip image tower; global embedding plus a 2x2 grid of crop embeddings."""

    def __init__(self, model: str, source: str, threads: int | None = None) -> None:
        import open_clip  # torch and open_clip load with the model, not with every command that names this module
        import torch

        if threads:
            torch.set_num_threads(threads)
        path = resolve_weights(model, source)
        self.id = f"clip:{model}:{source}"
        self.weights_sha256 = file_sha256(path)
        config = os.path.join(os.path.dirname(path), CONFIG_NAME)
        local = source.startswith("local-dir:") or path == source
        try:
            if local and os.path.isfile(config):
                # architecture and preprocessing from the config; weights strictly from the resolved file only
                with _quiet_random_init():
                    net, _, preprocess = open_clip.create_model_and_transforms(
                        f"local-dir:{os.path.dirname(path)}", load_weights=False, pretrained_text=False
                    )
                open_clip.load_checkpoint(net, path)
            else:
                if model.replace("/", "-") not in open_clip.list_models():
                    raise ValueError(
                        f"open_clip has no built-in architecture '{model}'; put its {CONFIG_NAME} beside the weights"
                    )
                tag = open_clip.get_pretrained_cfg(model, source) if not local else {}
                net, _, preprocess = open_clip.create_model_and_transforms(
                    model,
                    pretrained=path,
                    pretrained_text=False,
                    image_mean=tag.get("mean"),  # the tag's preprocessing (a file path alone gives OpenAI's)
                    image_std=tag.get("std"),
                    image_interpolation=tag.get("interpolation"),
                    image_resize_mode=tag.get("resize_mode"),
                )
        except (RuntimeError, ValueError, OSError, KeyError, TypeError) as exc:
            raise ValueError(f"cannot load CLIP {model} from {path}: {exc}") from exc
        self.model = net.eval()
        self.preprocess = preprocess
        self.dim = int(self.model.visual.output_dim)

    def features(self, rgb: np.ndarray) -> NeuralFeatures:
        import torch

        h, w = rgb.shape[:2]
        crops = []
        for b in CROP_BOXES:
            y0, y1 = round(b.y0 * h), max(round(b.y0 * h) + 1, round(b.y1 * h))
            x0, x1 = round(b.x0 * w), max(round(b.x0 * w) + 1, round(b.x1 * w))
            crops.append(self.preprocess(Image.fromarray(rgb[y0:y1, x0:x1])))
        with torch.inference_mode():
            vecs = self.model.encode_image(torch.stack(crops)).float().numpy()
        return NeuralFeatures(vectors=l2_normalise(vecs), boxes=CROP_BOXES)


@contextmanager
def _quiet_random_init() -> Iterator[None]:
    """Drop open_clip's 'initialized randomly' warning (its root logger) while weights are loaded right after."""

    def keep(record: logging.LogRecord) -> bool:
        return "initialized randomly" not in record.getMessage()

    root = logging.getLogger()
    root.addFilter(keep)
    try:
        yield
    finally:
        root.removeFilter(keep)
