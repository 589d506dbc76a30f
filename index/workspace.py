"""A workspace directory: registry, vault, search-index caches, configuration and a lock.

Layout (default ./semblance-data, or --home / SEMBLANCE_HOME):
    config.json        embedders enabled, pixel cap, creation time
    registry.sqlite    works, descriptors, audit trail (source of truth)
    vault/             original files by SHA-256
    index/             FAISS caches + state.json (the registry generation they reflect)
    calibration/       the workspace's own calibrations (`semblance calibrate`), a folder per embedder:
                       model.toml, background.npz
    lock               advisory lock: one writer, many readers
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING

import numpy as np

from index.audit import Action
from index.registry import Registry, RegistryVersionError, utc_now
from index.vault import Vault

if TYPE_CHECKING:  # the search index (faiss) loads with the first search, not with every command that reads records
    from index.search_index import SignalIndex

DEFAULT_HOME = "semblance-data"

IndexRowsFn = Callable[[str, bytes], tuple[np.ndarray, np.ndarray]]
"""Turns a stored descriptor of a signal into its index rows and region ids."""


class WorkspaceError(RuntimeError):
    """A workspace that is missing, incompatible or misused; the message says what to do."""


DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


NEARLY_FULL_BYTES = 1 << 20
"""Free space under which SQLite's bare "disk I/O error" is read as a full disk: opening a database in WAL mode
maps its shared-memory file, which fails that way, not as "disk is full", when not one page is left."""


def is_disk_full(exc: BaseException, where: Path | None = None) -> bool:
    """True for the errors a full file system (or quota) gives, from the OS or from SQLite; with `where`, also
    SQLite's I/O error while the file system holding `where` has (nearly) no space left."""
    if isinstance(exc, OSError):
        return exc.errno in DISK_FULL
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    if "disk is full" in str(exc):
        return True
    if where is None or "disk I/O error" not in str(exc):
        return False
    try:
        return shutil.disk_usage(where).free < NEARLY_FULL_BYTES
    except OSError:
        return False


def resolve_home(home: str | None) -> Path:
    return Path(home or os.environ.get("SEMBLANCE_HOME") or DEFAULT_HOME).expanduser().resolve()


class Workspace:
    """An open workspace. A folder that cannot be written (a read-only mount, evidence media) opens in read-only
    mode: listing, scanning and reporting elsewhere work; registering and removing are refused (`read_only`)."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.config = _read_config(home)
        self.read_only: str | None = _unwritable(home)
        """Why the workspace is read-only (the OS's reason), or None when it can be written."""
        self.notify: Callable[[str], None] = lambda _message: None
        """Where notices go (a wait for the lock); the CLI prints them on stderr."""
        self.registry = self._open_registry()
        self.vault = Vault(home / "vault", create=self.read_only is None)
        self.index_dir = home / "index"
        if self.read_only is None:
            self.index_dir.mkdir(exist_ok=True)
        self._indexes: dict[str, SignalIndex] | None = None
        self._index_generation = -1

    def _open_registry(self) -> Registry:
        path = self.home / "registry.sqlite"
        if not path.is_file():
            raise WorkspaceError(
                f"{path} is missing, though {self.home / 'config.json'} is there: restore the registry from a backup "
                f"(the original files are kept in {self.home / 'vault'})"
            )
        try:
            try:
                return Registry(path, read_only=self.read_only is not None)
            except RegistryVersionError as exc:
                raise WorkspaceError(str(exc)) from exc
            except sqlite3.OperationalError as exc:
                if "readonly" not in str(exc) and "read-only" not in str(exc):
                    raise
                self.read_only = f"the registry cannot be written ({exc})"
                return Registry(path, read_only=True)
        except sqlite3.DatabaseError as exc:
            if is_disk_full(exc, self.home):
                raise WorkspaceError(f"the disk holding {self.home} is full ({exc}); free space and try again") from exc
            raise WorkspaceError(
                f"{path} is not a readable Semblance registry ({exc}): restore it from a backup; the original files "
                f"are kept in {self.home / 'vault'}, and registering them into a new workspace rebuilds it"
            ) from exc

    def record(self, action: Action, details: dict[str, object], ref: str = "", sha256: str = "") -> bool:
        """Add an audit entry for an action outside registration (a scan batch, an evidence report, a read of the
        sellers' records), by the current actor (index.audit). A read-only workspace's trail cannot be written, and
        a failure to write is announced: neither fails the action itself. Returns whether the entry was written."""
        if self.read_only is not None:
            return False
        try:
            self.registry.record(action, details, ref, sha256)
        except (OSError, sqlite3.OperationalError) as exc:
            self.notify(f"the audit trail could not be written ({exc}); the {action} itself is complete")
            return False
        return True

    def require_writable(self, action: str) -> None:
        """Refuse `action` (e.g. "register") in a read-only workspace, saying why."""
        if self.read_only is not None:
            raise WorkspaceError(f"cannot {action}: {self.read_only_notice()}")

    def read_only_notice(self) -> str:
        return (
            f"the workspace {self.home} is read-only ({self.read_only}); listing, scanning and reporting into another "
            "folder work, registering and removing do not"
        )

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

    def calibration_dir(self, embedder_id: str) -> Path:
        """Where the workspace's own calibration for one embedder lives (one folder per embedder)."""
        return self.home / "calibration" / _safe(embedder_id)

    def calibration_files(self, embedder_id: str) -> tuple[Path, Path | None] | None:
        """(model.toml, background.npz or None) of the workspace's own calibration for `embedder_id`, or None."""
        model = self.calibration_dir(embedder_id) / "model.toml"
        if not model.is_file():
            return None
        background = model.parent / "background.npz"
        return model, background if background.is_file() else None

    def save_calibration(self, embedder_id: str, model_toml: str, background: bytes | None) -> Path:
        """Write the workspace's calibration atomically (background first, the model last: a model file is only
        ever beside the background it was fitted with). Returns the model file's path."""
        self.require_writable("calibrate")
        folder = self.calibration_dir(embedder_id)
        folder.mkdir(parents=True, exist_ok=True)
        files = [("background.npz", background)] if background is not None else []
        if background is None:
            (folder / "background.npz").unlink(missing_ok=True)
        for name, data in [*files, ("model.toml", model_toml.encode())]:
            tmp = folder / f".{name}.tmp"
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, folder / name)
        return folder / "model.toml"

    @contextmanager
    def lock(self, exclusive: bool, purpose: str = "") -> Iterator[None]:
        """Advisory lock on the workspace: writers exclude everyone, readers share. A wait is announced through
        `notify`, naming the writer (pid and purpose), so that a scan never waits in silence."""
        if exclusive:
            self.require_writable(purpose or "write")
        path = self.home / "lock"
        if self.read_only is not None and not path.is_file():
            yield  # a read-only folder without a lock file: nobody can be writing to it
            return
        with open(path, "r" if self.read_only is not None else "a+") as f:
            operation = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
            try:
                fcntl.flock(f, operation | fcntl.LOCK_NB)
            except BlockingIOError:
                self.notify(_waiting_message(f, exclusive))
                fcntl.flock(f, operation)
            try:
                if exclusive:
                    f.truncate(0)
                    f.write(f"pid {os.getpid()}: {purpose or 'writing'}\n")
                    f.flush()
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    @contextmanager
    def serving(self, address: str) -> Iterator[None]:
        """Be this workspace's one server while inside: a second one (another `semblance serve`, any port) is
        refused with a WorkspaceError naming the first's pid and address. Two servers would each run the job queue
        and each keep its own engine's caches; command-line writers beside a server are fine (the `lock` above)."""
        path = self.home / "serve.lock"
        try:
            f = open(path, "a+")  # noqa: SIM115 - held open for the whole block
        except OSError as exc:
            raise WorkspaceError(f"{self.home} cannot be served: {path} cannot be written ({exc})") from exc
        with f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.seek(0)
                other = f.read().strip() or "another process"
                raise WorkspaceError(
                    f"{self.home} is already served ({other}); stop that server first, or serve another workspace"
                ) from None
            f.seek(0)
            f.truncate()
            f.write(f"pid {os.getpid()} at {address}\n")
            f.flush()
            try:
                yield
            finally:
                f.seek(0)
                f.truncate()
                fcntl.flock(f, fcntl.LOCK_UN)

    def recover(self) -> list[str]:
        """After a crash: drop vault files that no registration refers to. Call under the exclusive lock."""
        return self.vault.sweep(self.registry.referenced_hashes())

    # -- search-index caches ------------------------------------------------------------------------
    def indexes(self, layout: dict[str, tuple[str, int]], decode: IndexRowsFn) -> dict[str, SignalIndex]:
        """Search indexes for `layout` {signal key: (kind, dim)}, loaded from cache or rebuilt if stale."""
        from index.search_index import INDEX_FORMAT, SignalIndex, file_sha256

        generation = self.registry.generation()
        cached = self._indexes
        if cached is not None and self._index_generation == generation and layout.keys() <= cached.keys():
            return cached  # a superset is fine (scans use fewer signals than registration)
        state = self._state()
        loaded: dict[str, SignalIndex] = {}
        if state.get("generation") == generation and state.get("format") == INDEX_FORMAT:
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
        from index.search_index import SignalIndex

        def chunks(size: int = 2000) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
            rows: list[np.ndarray] = []
            works: list[np.ndarray] = []
            regions: list[np.ndarray] = []
            for work_id, data in self.registry.iter_descriptors(key):
                r, reg = decode(key, data)
                rows.append(r)
                regions.append(reg)
                works.append(np.full(len(r), work_id, dtype=np.int64))
                if len(rows) == size:
                    yield np.concatenate(rows), np.concatenate(works), np.concatenate(regions)
                    rows, works, regions = [], [], []
            if rows:
                yield np.concatenate(rows), np.concatenate(works), np.concatenate(regions)

        return SignalIndex.build(kind, dim, chunks)

    def _check_recall(
        self, key: str, idx: SignalIndex, decode: IndexRowsFn, sample: int | None = None, retrain: bool = True
    ) -> None:
        """Measure a compact index's self-recall on a seeded sample of registered works' rows (their exact vectors
        from the registry), and train it again from the registry when it has dropped or the index outgrew its
        lists (SignalIndex.needs_training); a fresh one is measured, never retrained again. Call under the lock."""
        from index.search_index import RECALL_SAMPLE

        if not idx.recall_stale():
            return
        sample = sample or RECALL_SAMPLE
        works = np.unique(idx.work_ids)
        rng = np.random.default_rng(len(idx))
        chosen = rng.choice(works, min(len(works), max(1, sample // 8)), replace=False)
        at = np.nonzero(np.isin(idx.work_ids, chosen))[0]  # only the sampled works' rows: 14M at a million works
        position = {(int(idx.work_ids[i]), int(idx.region_ids[i])): int(i) for i in at}
        rows, positions = [], []
        for work_id, data in self.registry.descriptors(chosen.tolist(), key).items():
            r, reg = decode(key, data)
            for row, region in zip(r, reg, strict=True):
                if (work_id, int(region)) in position:
                    rows.append(row)
                    positions.append(position[(work_id, int(region))])
        if rows:
            idx.note_recall(np.asarray(rows, dtype=np.float32), np.asarray(positions))
        if retrain and idx.needs_training():
            self.notify(f"retraining the {key} search index ({len(idx)} rows; {idx.type_name})")
            assert self._indexes is not None
            self._indexes[key] = fresh = self._rebuild(key, idx.kind, idx.dim, decode)
            if fresh.compact:
                self._check_recall(key, fresh, decode, sample, retrain=False)

    def note_added(self, key_rows: dict[str, tuple[np.ndarray, np.ndarray]], work_id: int) -> None:
        """Keep the in-memory indexes in step with a registration just committed (under the exclusive lock). If
        any other commit happened since they were loaded, they are dropped and rebuilt on next use instead."""
        if self._indexes is None:
            return
        generation = self.registry.generation()
        if generation != self._index_generation + 1:
            self._indexes, self._index_generation = None, -1
            return
        for key, (rows, regions) in key_rows.items():
            self._indexes[key].add(rows, work_id, regions)
        self._index_generation = generation

    def save_indexes(self, decode: IndexRowsFn | None = None) -> None:
        """Persist the in-memory indexes, stamped with the generation they reflect and with their format, types,
        training and SHA-256 (also recorded in the registry, so a report can name the index that answered). With
        `decode`, a compact index's recall is measured first and it is retrained when it dropped. Call under the
        exclusive lock.

        The files are caches of the registry: when they cannot be written (a full disk), the next run rebuilds them,
        so that failure is announced, not raised."""
        from index.search_index import INDEX_FORMAT, write_state

        if self.read_only is not None or self._indexes is None or self._index_generation != self.registry.generation():
            return
        if decode is not None:
            for key, idx in list(self._indexes.items()):
                self._check_recall(key, idx, decode)
        try:
            files = {key: idx.save(self.index_dir / _safe(key)) for key, idx in self._indexes.items()}
            state = {
                "format": INDEX_FORMAT,
                "generation": self._index_generation,
                "files": files,
                "types": {key: idx.type_name for key, idx in self._indexes.items()},
                "training": {key: idx.training.to_json() for key, idx in self._indexes.items() if idx.training},
                "saved_at": utc_now(),
            }
            write_state(self.index_dir / "state.json", state)
            self.registry.set_index_state(json.dumps(state, sort_keys=True))
        except (OSError, sqlite3.OperationalError) as exc:
            self.notify(f"the search-index cache could not be saved ({exc}); it is rebuilt next time")

    def index_state(self) -> dict[str, object]:
        """The saved index files' state: format, registry generation, SHA-256 and type of each, compact training."""
        return self._state()

    def index_description(self) -> dict[str, object]:
        """Which index answers a scan, for evidence: the saved state when it matches the registry's generation (the
        files' SHA-256 then identify it), else the in-memory index built from the registry at this generation."""
        from index.search_index import INDEX_FORMAT

        state = self._state()
        generation = self.registry.generation()
        if state.get("generation") == generation:
            return {k: state.get(k) for k in ("format", "generation", "files", "types", "training")}
        live = self._indexes or {}
        return {
            "format": INDEX_FORMAT,
            "generation": generation,
            "files": None,
            "types": {key: idx.type_name for key, idx in live.items()},
            "training": {key: idx.training.to_json() for key, idx in live.items() if idx.training},
            "note": "built in memory from the registry (no saved index file at this generation)",
        }

    def _state(self) -> dict[str, object]:
        try:
            return dict(json.loads((self.index_dir / "state.json").read_text()))
        except (OSError, ValueError):
            return {}


def _read_config(home: Path) -> dict[str, object]:
    """config.json, checked: a missing or damaged one is a WorkspaceError that says what to do."""
    path = home / "config.json"
    if not path.is_file():
        raise WorkspaceError(f"no Semblance workspace at {home}; run `semblance --home {home} init` first")
    example = '{"embedders": ["effnet-lite0"], "max_pixels": 80000000, "format": 1}'
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise WorkspaceError(
            f"{path} is corrupt ({exc}): restore it from a backup, or write it again with the embedders the "
            f"workspace was made with, e.g. {example}; the registry and the vault are untouched"
        ) from exc
    problems = []
    if not isinstance(config, dict):
        problems.append("it is not a JSON object")
    else:
        embedders = config.get("embedders")
        if not isinstance(embedders, list) or not embedders or not all(isinstance(e, str) for e in embedders):
            problems.append("'embedders' must be a non-empty list of embedder specs")
        pixels = config.get("max_pixels")
        if not isinstance(pixels, int) or isinstance(pixels, bool) or pixels <= 0:
            problems.append("'max_pixels' must be a positive whole number")
    if problems:
        raise WorkspaceError(
            f"{path} is damaged ({'; '.join(problems)}): restore it from a backup, or write it again, e.g. {example}"
        )
    return dict(config)


def _unwritable(home: Path) -> str | None:
    """Why files cannot be created in `home` (read-only mount, permissions), or None when they can."""
    try:
        fd, name = tempfile.mkstemp(dir=home, prefix=".write-test-")
    except OSError as exc:
        return exc.strerror or str(exc)
    os.close(fd)
    os.unlink(name)
    return None


def _waiting_message(f: IO[str], exclusive: bool) -> str:
    f.seek(0)
    holder = f.read(200).strip()
    if exclusive:
        return "waiting for the other Semblance processes using this workspace to finish…"
    return f"waiting for a Semblance process that is writing to this workspace ({holder or 'another process'})…"


def _safe(key: str) -> str:
    """A file-name-safe, collision-free stem for a signal key (embedder specs may hold paths)."""
    import hashlib

    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", key)[:40]  # no '.': Path.with_suffix would cut the hash off
    return f"{slug}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"
