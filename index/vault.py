"""Content-addressed store of the registered original files, byte for byte as received, never altered.

A file's address is its SHA-256; writes go to a temporary file that is fsynced and atomically renamed, so a
crash leaves either the whole file or nothing under its address.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


class Vault:
    """Files under `root/ab/<sha256>`, where ab are the first two hex digits."""

    def __init__(self, root: Path, create: bool = True) -> None:
        self.root = root
        if create:
            root.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def put(self, sha256: str, data: bytes) -> Path:
        """Store `data` under its hash (idempotent); returns the path."""
        target = self.path(sha256)
        if target.exists() and target.stat().st_size == len(data):
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o444)
            os.replace(tmp, target)
            _fsync_dir(target.parent)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    def read(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def addresses(self) -> Iterator[str]:
        """Every stored hash."""
        for sub in self.root.iterdir():
            if sub.is_dir():
                for f in sub.iterdir():
                    if f.is_file() and not f.name.startswith("."):
                        yield f.name

    def sweep(self, keep: set[str]) -> list[str]:
        """Delete half-written temporaries and files no registration refers to (left by a crash); return them."""
        removed: list[str] = []
        for sub in self.root.iterdir():
            if not sub.is_dir():
                continue
            for f in sub.iterdir():
                if f.name.startswith(".incoming-") or (f.is_file() and f.name not in keep):
                    f.unlink(missing_ok=True)
                    removed.append(f.name)
        return removed


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
