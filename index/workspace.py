"""A workspace directory: registry, vault, search-index caches, configuration and a lock.

Layout (default ./semblance-data, or --home / SEMBLANCE_HOME):
    config.json        embedders enabled, pixel cap, creation time
    registry.sqlite    works, descriptors, audit trail (source of truth)
    vault/             original files by SHA-256
    index/             FAISS caches + state.json (the registry generation they reflect)
    lock               advisory lock: one writer, many readers
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from index.registry import Registry, utc_now
from index.search_index import SignalIndex, file_sha256, write_state
from index.vault import Vault

DEFAULT_HOME = "semblance-data"

IndexRowsFn = Callable[[str, bytes], tuple[np.ndarray, np.ndarray]]
"""Turns a stored descriptor of a signal into its index rows and region ids."""


class WorkspaceError(RuntimeError):
    """A workspace that is missing, incompatible or misused; the message says what to do."""


def resolve_home(home: str | None) -> Path:
    return Path(home or os.environ.get("SEMBLANCE_HOME") or DEFAULT_HOME).expanduser().resolve()


class Workspace:
    def __init__(self, home: Path) -> None:
        self.home = home
        config_path = home / "config.json"
        if not config_path.is_file():
            raise WorkspaceError(f"no Semblance workspace at {home}; run `semblance --home {home} init` first")
        self.config: dict[str, object] = json.loads(config_path.read_text())
        self.registry = Registry(home / "registry.sqlite")
        self.vault = Vault(home / "vault")
        self.index_dir = home / "index"
        self.index_dir.mkdir(exist_ok=True)
        self._indexes: dict[str, SignalIndex] | None = None
        self._index_generation = -1

    @classmethod
    def create(
        cls, home: Path, embedders: list[tuple[str, str, str, int]], max_pixels: int, created_by: str
    ) -> Workspace:
        """Make a new workspace (refuses to overwrite one). `embedders`: (spec, id, weights sha256, dim).

        The registry and its embedder rows are written first and config.json last, atomically: a crash in
        between leaves no config, so the folder is not yet a workspace and `init` can simply be run again."""
        if (home / "config.json").exists():
            raise WorkspaceError(f"a workspace already exists at {home}")
        home.mkdir(parents=True, exist_ok=True)
        registry = Registry(home / "registry.sqlite")
        for _, embedder_id, sha, dim in embedders:
            registry.add_embedder(embedder_id, sha, dim)
        registry.set_meta("created_by", created_by)
        registry.close()
        config = {
            "created_at": utc_now(),
            "embedders": [e[0] for e in embedders],
            "max_pixels": max_pixels,
            "format": 1,
        }
        tmp = home / "config.json.tmp"
        tmp.write_text(json.dumps(config, indent=2))
        os.replace(tmp, home / "config.json")
        return cls(home)

    @property
    def embedder_specs(self) -> list[str]:
        return [str(e) for e in self.config["embedders"]]  # type: ignore[attr-defined]

    @property
    def max_pixels(self) -> int:
        return int(self.config["max_pixels"])  # type: ignore[call-overload]

    def close(self) -> None:
        self.registry.close()

    @contextmanager
    def lock(self, exclusive: bool) -> Iterator[None]:
        """Advisory lock on the workspace: writers exclude everyone, readers share."""
        with open(self.home / "lock", "a+") as f:
            fcntl.flock(f, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def recover(self) -> list[str]:
        """After a crash: drop vault files that no registration refers to. Call under the exclusive lock."""
        return self.vault.sweep(self.registry.referenced_hashes())

    # -- search-index caches ------------------------------------------------------------------------
    def indexes(self, layout: dict[str, tuple[str, int]], decode: IndexRowsFn) -> dict[str, SignalIndex]:
        """Search indexes for `layout` {signal key: (kind, dim)}, loaded from cache or rebuilt if stale."""
        generation = self.registry.generation()
        cached = self._indexes
        if cached is not None and self._index_generation == generation and layout.keys() <= cached.keys():
            return cached  # a superset is fine (scans use fewer signals than registration)
        state = self._state()
        loaded: dict[str, SignalIndex] = {}
        if state.get("generation") == generation:
            try:
                for key, (kind, dim) in layout.items():
                    stem = self.index_dir / _safe(key)
                    if (state.get("files") or {}).get(key) != file_sha256(stem.with_suffix(".faiss")):  # type: ignore[attr-defined]
                        raise ValueError("index file changed")
                    loaded[key] = SignalIndex.load(stem, kind, dim)
            except (OSError, ValueError, RuntimeError):
                loaded = {}
        if len(loaded) != len(layout):
            loaded = {key: self._rebuild(key, kind, dim, decode) for key, (kind, dim) in layout.items()}
        self._indexes, self._index_generation = loaded, generation
        return loaded

    def _rebuild(self, key: str, kind: str, dim: int, decode: IndexRowsFn) -> SignalIndex:
        idx = SignalIndex(kind, dim)
        rows, works, regions = [], [], []
        for work_id, data in self.registry.iter_descriptors(key):
            r, reg = decode(key, data)
            rows.append(r)
            regions.append(reg)
            works.append(np.full(len(r), work_id, dtype=np.int64))
        if rows:
            idx.add_batch(np.concatenate(rows), np.concatenate(works), np.concatenate(regions))
        return idx

    def note_added(self, key_rows: dict[str, tuple[np.ndarray, np.ndarray]], work_id: int) -> None:
        """Keep the in-memory indexes in step with a registration just committed."""
        if self._indexes is None:
            return
        for key, (rows, regions) in key_rows.items():
            self._indexes[key].add(rows, work_id, regions)
        self._index_generation = self.registry.generation()

    def save_indexes(self) -> None:
        """Persist the in-memory indexes, stamped with the generation they reflect. Call under the lock."""
        if self._indexes is None or self._index_generation != self.registry.generation():
            return
        files = {key: idx.save(self.index_dir / _safe(key)) for key, idx in self._indexes.items()}
        types = {key: idx.type_name for key, idx in self._indexes.items()}
        write_state(
            self.index_dir / "state.json",
            {"generation": self._index_generation, "files": files, "types": types, "saved_at": utc_now()},
        )

    def index_state(self) -> dict[str, object]:
        return self._state()

    def _state(self) -> dict[str, object]:
        try:
            return dict(json.loads((self.index_dir / "state.json").read_text()))
        except (OSError, ValueError):
            return {}


def _safe(key: str) -> str:
    """A file-name-safe, collision-free stem for a signal key (embedder specs may hold paths)."""
    import hashlib

    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", key)[:40]  # no '.': Path.with_suffix would cut the hash off
    return f"{slug}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"
