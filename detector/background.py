"""Background normalisation: judge a similarity against how similar the same work is to unrelated images.

Some works resemble everything (a plain stripe wallpaper, a gradient, flat clip art): their raw similarities to
any suspect are high, so a fixed threshold either floods investigators with false alarms or misses real
re-renderings of more distinctive works. Following DISC21 practice, every work gets a *baseline* per feature:
the mean of its K highest similarities to a fixed background set of unrelated images. Fusion then sees the
*excess* (similarity minus baseline), which is comparable across works.

The background set ships with the package (`detector/background/<embedder>.npz`, built by
`scripts/build_background.py`), is identified by its SHA-256 and never changes at run time, so a baseline is a
pure function of (background set, work descriptor): reports record the digest and `reproduce` recomputes it.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from detector.signals.base import Signal

TOP_K = 10
"""Baseline = mean of the work's K highest background similarities: robust to one odd background image, yet
still sensitive to a work that resembles a whole family of unrelated images."""
EXCESS_SUFFIX = ".excess"


@dataclass(frozen=True)
class BackgroundSet:
    """Descriptors of unrelated images, per signal key, with the SHA-256 of every source image."""

    embedder_id: str
    descriptors: dict[str, list[bytes]]
    source_sha256: frozenset[str]
    description: str
    digest: str

    def describe(self) -> dict[str, object]:
        return {
            "embedder": self.embedder_id,
            "images": len(self.source_sha256),
            "top_k": TOP_K,
            "sha256": self.digest,
            "description": self.description,
        }


def packaged_path(embedder_id: str) -> Path:
    return Path(str(resources.files("detector").joinpath("background", f"{embedder_id}.npz")))


def load_background(embedder_id: str, path: Path | None = None) -> BackgroundSet | None:
    """The background set shipped for `embedder_id`, or None when there is none (e.g. CLIP)."""
    path = path or packaged_path(embedder_id)
    if not path.is_file():
        return None
    raw = path.read_bytes()
    with np.load(io.BytesIO(raw), allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        descriptors: dict[str, list[bytes]] = {}
        for key in meta["signal_keys"]:
            blob = z[f"data:{key}"].tobytes()
            offsets = z[f"offsets:{key}"]
            descriptors[key] = [blob[int(a) : int(b)] for a, b in itertools.pairwise(offsets)]
    return BackgroundSet(
        embedder_id=str(meta["embedder"]),
        descriptors=descriptors,
        source_sha256=frozenset(meta["source_sha256"]),
        description=str(meta.get("description", "")),
        digest=hashlib.sha256(raw).hexdigest(),
    )


def save_background(
    path: Path,
    embedder_id: str,
    descriptors: Mapping[str, Sequence[bytes]],
    source_sha256: Sequence[str],
    description: str,
) -> None:
    """Write a background set (scripts/build_background.py, `semblance calibrate`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_background(embedder_id, descriptors, source_sha256, description))


def encode_background(
    embedder_id: str, descriptors: Mapping[str, Sequence[bytes]], source_sha256: Sequence[str], description: str
) -> bytes:
    """The .npz bytes of a background set: per signal key the descriptors' bytes and offsets, plus metadata."""
    arrays: dict[str, Any] = {}
    for key, items in descriptors.items():
        arrays[f"data:{key}"] = np.frombuffer(b"".join(items), dtype=np.uint8)
        arrays[f"offsets:{key}"] = np.cumsum([0, *[len(b) for b in items]], dtype=np.int64)
    meta = {
        "embedder": embedder_id,
        "signal_keys": sorted(descriptors),
        "source_sha256": sorted(source_sha256),
        "description": description,
    }
    arrays["meta"] = np.asarray(json.dumps(meta))
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


class Baselines:
    """Per-work baselines of every background-normalised feature, computed once per work and kept."""

    def __init__(self, background: BackgroundSet | None, signals: Sequence[Signal[Any]]) -> None:
        self.background = background
        self._stacked: dict[str, tuple[Signal[Any], object]] = {}
        if background is not None:
            for s in signals:
                if s.background_features and s.key in background.descriptors:
                    decoded = [s.from_bytes(b) for b in background.descriptors[s.key]]
                    self._stacked[s.key] = (s, s.stack_background(decoded))
        self._cache: dict[object, dict[str, float]] = {}

    def of(self, reference: Mapping[str, object], cache_key: object = None) -> dict[str, float]:
        """Baseline per feature for one work's descriptors (by signal key); memoised under `cache_key`."""
        if cache_key is not None and cache_key in self._cache:
            return self._cache[cache_key]
        out: dict[str, float] = {}
        for key, (signal, stacked) in self._stacked.items():
            if key in reference:
                out.update(baseline(signal.compare_background(stacked, reference[key])))
        if cache_key is not None:
            self._cache[cache_key] = out
        return out

    def forget(self) -> None:
        """Drop memoised baselines (a removed work's id may be given to the next registered one)."""
        self._cache.clear()

    def describe(self) -> dict[str, object] | None:
        return None if self.background is None else self.background.describe()


def baseline(values: Mapping[str, np.ndarray], k: int = TOP_K) -> dict[str, float]:
    """Mean of the k highest background similarities, per feature."""
    out = {}
    for name, v in values.items():
        top = np.sort(np.asarray(v, dtype=np.float64))[-k:]
        out[name] = float(top.mean()) if len(top) else 0.0
    return out


def with_excess(features: Mapping[str, float], baselines: Mapping[str, float]) -> dict[str, float]:
    """Features plus `<name>.excess` = similarity minus the work's baseline, for every feature with a baseline."""
    out = dict(features)
    for name, b in baselines.items():
        if name in features:
            out[name + EXCESS_SUFFIX] = features[name] - b
    return out
