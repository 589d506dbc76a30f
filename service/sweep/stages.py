"""The stages of a sweep, as functions any runner calls: acquire an image (fetch or read), scan it, describe it for
deduplication, and shape its result line. The local runner (run.py) and Ray (ray_runner.py) call the same ones, so
their findings cannot differ."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from detector.signals.pdq import PDQ_MIN_QUALITY, pdq_of
from service.engine import Engine
from service.inputs import InputError, InputItem, expand
from service.sweep.fetch import Fetcher, now
from service.sweep.listings import ImageRef
from service.untrusted import IMAGE_KINDS, sniff


@dataclass
class Acquired:
    """An image's bytes and how they were obtained, or why there are none."""

    source: str
    data: bytes | None = None
    sha256: str = ""
    provenance: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def acquire(ref: ImageRef, fetcher: Fetcher | None) -> Acquired:
    """Fetch a URL (through the guarded fetcher) or read a local file (the CLI's file rules); never raises."""
    try:
        return _acquire(ref, fetcher)
    except Exception as exc:  # a hostile listing (a NUL in a path, ...) is this item's error, never the sweep's
        return Acquired(ref.source, provenance={"source": ref.source}, error=f"{type(exc).__name__}: {exc}")


def _acquire(ref: ImageRef, fetcher: Fetcher | None) -> Acquired:
    if ref.url:
        if fetcher is None:
            return Acquired(ref.url, error="fetching is off for this sweep")
        got = fetcher.fetch(ref.url)
        return Acquired(ref.url, got.data, got.sha256, got.provenance(), got.error)
    items = list(expand([ref.path], all_files=True))
    if len(items) != 1 or items[0].error:
        why = items[0].error if items and items[0].error else "not one readable file"
        return Acquired(ref.path, provenance={"path": ref.path, "read_at": now()}, error=why)
    try:
        data = items[0].read()
    except InputError as exc:
        return Acquired(ref.path, provenance={"path": ref.path, "read_at": now()}, error=exc.reason)
    if sniff(data) not in IMAGE_KINDS:
        return Acquired(ref.path, provenance={"path": ref.path}, error="not an image (judged by its content)")
    sha = hashlib.sha256(data).hexdigest()
    return Acquired(ref.path, data, sha, {"path": ref.path, "read_at": now(), "sha256": sha, "size_bytes": len(data)})


def scan(engine: Engine, source: str, data: bytes, top_k: int) -> tuple[dict[str, Any], str]:
    """The scan's JSON (exactly `semblance scan`'s) and the picture's PDQ hash in hex ('' when PDQ's quality is too
    low to link re-uploads by)."""
    result = engine.scan(InputItem(source, reader=lambda: data), top_k=top_k)
    pdq = ""
    if result.image is not None:
        packed, quality = pdq_of(result.image.rgb)
        pdq = packed.hex() if quality >= PDQ_MIN_QUALITY else ""
    return result.to_json(), pdq
