"""The registry: one SQLite database holding works, their signal descriptors, embedders and an audit trail.

SQLite is the single source of truth. Every registration or removal is one transaction that also bumps a
`generation` counter; the FAISS files are caches stamped with the generation they were built from, so a crash
at any point leaves either a complete registration or none, and stale caches are rebuilt.

The schema is versioned (`meta.schema_version`, by index.migrations like every SQLite file Semblance writes):
opening an older registry runs the migrations it lacks (index/registry_schema.py), each in one transaction; a
registry from a newer Semblance is refused. Each thread gets its own SQLite connection, so one registry serves a
server's worker threads.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from index.audit import GENESIS, Action, Actor, ChainReport, Entry, current_actor, entry_hash, verify
from index.connections import ThreadConnections, durable_connection, read_only_connection
from index.migrations import SchemaVersionError, migrate, refuse_newer
from index.registry_schema import CHAINED, REGISTRY
from index.registry_schema import SCHEMA_VERSION as SCHEMA_VERSION  # the version a registry is written at

MMAP_BYTES = 1 << 30
"""SQLite reads the registry through a memory map of up to 1 GiB: the exact re-scoring reads ~50 candidates'
descriptors per suspect by key, straight from the page cache, and the descriptors never need to sit in the
process's own memory (at a million works they are tens of GB on disk)."""
UNKNOWN_ACTOR = Actor("unknown (before the audit chain)", "")


RegistryVersionError = SchemaVersionError
"""The registry was written by a newer Semblance than this one."""


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class WorkRecord:
    """A registered work as stored (everything a report quotes about the reference)."""

    ref: str
    sha256: str
    size_bytes: int
    width: int
    height: int
    format: str
    original_name: str
    title: str = ""
    author: str = ""
    rights_holder: str = ""
    registration_no: str = ""
    source_url: str = ""
    categories: str = ""
    """The priority areas the work belongs to, comma-separated keys (service.supervision.categories)."""
    registered_at: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    id: int = 0

    def to_json(self) -> dict[str, object]:
        return asdict(self)


WORK_METADATA: dict[str, str] = {
    "title": "Title",
    "author": "Author",
    "rights_holder": "Rights holder",
    "registration_no": "Registration number",
    "source_url": "Source",
    "categories": "Categories",
}
"""The metadata a rights holder gives a work (each a WorkRecord field and a column of `works`), with the label
reports and pages print beside it (translated by the locale files). A new field is added here, in WorkRecord, in
index/registry_schema.py's migrations and where a person types it in (the CLI's options, the API's form)."""

_COLUMNS = tuple(f.name for f in fields(WorkRecord) if f.name != "id")
"""The columns of `works` a new work is written with, named as WorkRecord's fields."""


class DuplicateWork(Exception):
    """The file or the ref is already registered."""

    def __init__(self, existing: WorkRecord, reason: str) -> None:
        super().__init__(reason)
        self.existing = existing
        self.reason = reason


class Registry:
    """Typed access to the SQLite registry; every write is one transaction.

    `read_only` opens an existing registry without writing anything to its folder (a read-only mount, evidence
    media): not even SQLite's WAL index, which a read-only folder cannot hold, so it is then opened immutable."""

    def __init__(self, path: Path, read_only: bool = False) -> None:
        self.path = path
        self.read_only = read_only
        self._connections = ThreadConnections(
            (lambda: _connect_read_only(path)) if read_only else (lambda: _connect(path))
        )
        db = self.db  # the first connection: a damaged file fails here, at open
        try:
            if not read_only:
                migrate(db, REGISTRY, path, self._migrated)
                db.execute("INSERT OR IGNORE INTO meta VALUES ('generation', '0')")
            self.schema_version = int(self.get_meta("schema_version") or 1)
            refuse_newer(self.schema_version, REGISTRY, path)  # read-only: refused without migrating
        except RegistryVersionError:
            self.close()
            raise

    @property
    def db(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use)."""
        return self._connections.get()

    def _migrated(self, found: int, target: int) -> None:
        """Inside the transaction that brought the registry to `target`: chain the audit entries written before the
        chain existed, and record the migration in the trail (not for a registry being created)."""
        if target == CHAINED:
            self._chain_existing()
        if found > 0:
            self._audit(Action.MIGRATE, "", "", {"from_schema": target - 1, "to_schema": target})

    def close(self) -> None:
        self._connections.close_all()

    # -- meta and embedders -------------------------------------------------------------------------
    def generation(self) -> int:
        return int(self.db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0])

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def add_embedder(self, embedder_id: str, weights_sha256: str, dim: int) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO embedders VALUES (?, ?, ?, ?)", (embedder_id, weights_sha256, dim, utc_now())
        )

    def embedders(self) -> list[dict[str, object]]:
        rows = self.db.execute("SELECT id, weights_sha256, dim, added_at FROM embedders ORDER BY rowid")
        return [{"id": r[0], "weights_sha256": r[1], "dim": r[2], "added_at": r[3]} for r in rows]

    # -- works --------------------------------------------------------------------------------------
    def find_duplicate(self, sha256: str, ref: str) -> DuplicateWork | None:
        """The reason `sha256`/`ref` cannot be registered again, if any."""
        by_hash = self.work_by("sha256", sha256)
        if by_hash is not None:
            return DuplicateWork(by_hash, f"same file already registered as '{by_hash.ref}'")
        by_ref = self.work_by("ref", ref)
        if by_ref is not None:
            return DuplicateWork(by_ref, f"ref '{ref}' is already used by another file")
        return None

    def add_work(
        self,
        work: WorkRecord,
        descriptors: Iterable[tuple[str, int, bytes]],
        gaps: dict[str, str] | None = None,
        baselines: tuple[str, dict[str, float]] | None = None,
    ) -> WorkRecord:
        """Insert a work, its descriptors, why any signal has none (`gaps`: signal key -> reason), its background
        baselines (`baselines`: background SHA-256, feature -> value) and an audit line atomically; raises
        DuplicateWork."""
        dup = self.find_duplicate(work.sha256, work.ref)
        if dup is not None:
            raise dup
        work.registered_at = work.registered_at or utc_now()
        with self._transaction():
            values = asdict(work) | {"metadata": json.dumps(work.metadata, sort_keys=True)}
            cur = self.db.execute(
                f"INSERT INTO works ({', '.join(_COLUMNS)}) VALUES ({','.join('?' * len(_COLUMNS))})",
                [values[c] for c in _COLUMNS],
            )
            work.id = int(cur.lastrowid or 0)
            self.db.executemany(
                "INSERT INTO descriptors VALUES (?, ?, ?, ?)",
                [(work.id, sig, ver, data) for sig, ver, data in descriptors],
            )
            self.db.executemany(
                "INSERT INTO descriptor_gaps VALUES (?, ?, ?)", [(work.id, k, why) for k, why in (gaps or {}).items()]
            )
            if baselines is not None:
                self.db.execute(
                    "INSERT INTO baselines VALUES (?, ?, ?)",
                    (work.id, baselines[0], json.dumps(baselines[1], sort_keys=True)),
                )
            self._audit(Action.REGISTER, work.ref, work.sha256, {"original_name": work.original_name})
            self._bump()
        return work

    def remove_work(self, ref: str, reason: str = "") -> WorkRecord | None:
        """Delete a work and its descriptors (the vault keeps the file); leaves an audit record."""
        work = self.work_by("ref", ref)
        if work is None:
            return None
        with self._transaction():
            self.db.execute("DELETE FROM works WHERE id=?", (work.id,))
            # the whole record goes into the trail: evidence that cites the work can still say what it was
            details: dict[str, object] = {"reason": reason, "title": work.title, "work": asdict(work)}
            self._audit(Action.REMOVE, work.ref, work.sha256, details)
            self._bump()
        return work

    def work_by(self, column: str, value: object) -> WorkRecord | None:
        assert column in ("ref", "sha256", "id")
        row = self.db.execute(f"SELECT {_WORK_COLUMNS} FROM works WHERE {column}=?", (value,)).fetchone()
        return None if row is None else _work(row)

    def works(self) -> list[WorkRecord]:
        return [_work(r) for r in self.db.execute(f"SELECT {_WORK_COLUMNS} FROM works ORDER BY id")]

    def works_by_ids(self, ids: Iterable[int]) -> dict[int, WorkRecord]:
        ids = list(ids)
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.db.execute(f"SELECT {_WORK_COLUMNS} FROM works WHERE id IN ({marks})", ids)
        return {w.id: w for w in map(_work, rows)}

    def count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM works").fetchone()[0])

    def descriptors(self, work_ids: Iterable[int], signal: str) -> dict[int, bytes]:
        ids = list(work_ids)
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.db.execute(
            f"SELECT work_id, data FROM descriptors WHERE signal=? AND work_id IN ({marks})", [signal, *ids]
        )
        return {int(r[0]): bytes(r[1]) for r in rows}

    def iter_descriptors(self, signal: str) -> Iterator[tuple[int, bytes]]:
        rows = self.db.execute("SELECT work_id, data FROM descriptors WHERE signal=? ORDER BY work_id", (signal,))
        for r in rows:
            yield int(r[0]), bytes(r[1])

    def signal_versions(self) -> dict[str, set[int]]:
        """Every signal key stored, with the descriptor versions present."""
        out: dict[str, set[int]] = {}
        for key, version in self.db.execute("SELECT DISTINCT signal, version FROM descriptors"):
            out.setdefault(str(key), set()).add(int(version))
        return out

    def gaps(self, work_ids: Iterable[int]) -> dict[int, dict[str, str]]:
        """Why a signal has no descriptor of each of these works (work id -> signal key -> reason), where recorded."""
        ids = list(work_ids)
        if not ids or self.schema_version < 2:  # a read-only registry of release 1 records none
            return {}
        marks = ",".join("?" * len(ids))
        out: dict[int, dict[str, str]] = {}
        for work_id, signal, reason in self.db.execute(
            f"SELECT work_id, signal, reason FROM descriptor_gaps WHERE work_id IN ({marks})", ids
        ):
            out.setdefault(int(work_id), {})[str(signal)] = str(reason)
        return out

    def lacking(self, signal: str) -> list[int]:
        """Works with neither a descriptor of `signal` nor a recorded reason for having none: made before the signal
        existed (or its embedder was enabled), to be backfilled, never scored as if the signal had said 0."""
        query = (
            "SELECT w.id FROM works w"
            " WHERE NOT EXISTS (SELECT 1 FROM descriptors d WHERE d.work_id = w.id AND d.signal = ?)"
        )
        args = [signal]
        if self.schema_version >= 2:  # a read-only registry of release 1 records no reasons
            query += " AND NOT EXISTS (SELECT 1 FROM descriptor_gaps g WHERE g.work_id = w.id AND g.signal = ?)"
            args.append(signal)
        return [int(r[0]) for r in self.db.execute(query + " ORDER BY w.id", args)]

    def backfill(
        self, work: WorkRecord, descriptor: tuple[str, int, bytes] | None, gap: tuple[str, str] | None
    ) -> None:
        """Add one signal's missing descriptor of a registered work (or the reason it has none), with an audit line,
        in one transaction; the generation moves, so index caches are rebuilt."""
        with self._transaction():
            if descriptor is not None:
                self.db.execute("INSERT INTO descriptors VALUES (?, ?, ?, ?)", (work.id, *descriptor))
            if gap is not None:
                self.db.execute("INSERT INTO descriptor_gaps VALUES (?, ?, ?)", (work.id, *gap))
            signal = descriptor[0] if descriptor else gap[0] if gap else ""
            self._audit(Action.BACKFILL, work.ref, work.sha256, {"signal": signal, "computed": descriptor is not None})
            self._bump()

    def set_index_state(self, state_json: str) -> None:
        """Record the saved search index's state (format, generation, files' SHA-256): the registry names the index
        files it vouches for, so an index swapped behind its back is noticed (the files' hashes differ)."""
        with self._transaction():
            self.set_meta("index_state", state_json)

    def baselines(self, work_ids: Iterable[int], background_sha256: str) -> dict[int, dict[str, float]]:
        """Stored background baselines of these works against one background set (work id -> feature -> value)."""
        ids = list(work_ids)
        if not ids or self.schema_version < 3:  # a read-only older registry stores none: they are computed
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.db.execute(
            f"SELECT work_id, data FROM baselines WHERE background_sha256=? AND work_id IN ({marks})",
            [background_sha256, *ids],
        )
        return {int(r[0]): {str(k): float(v) for k, v in json.loads(r[1]).items()} for r in rows}

    def lacking_baselines(self, background_sha256: str) -> list[int]:
        """Works with no stored baselines against this background set (registered before it, or before v3)."""
        rows = self.db.execute(
            "SELECT w.id FROM works w WHERE NOT EXISTS (SELECT 1 FROM baselines b WHERE b.work_id = w.id"
            " AND b.background_sha256 = ?) ORDER BY w.id",
            (background_sha256,),
        )
        return [int(r[0]) for r in rows]

    def store_baselines(self, background_sha256: str, values: dict[int, dict[str, float]]) -> None:
        """Store baselines (work id -> feature -> value) in one transaction. A cache of a pure function of the
        work's descriptors and the background set, so the generation does not move."""
        with self._transaction():
            self.db.executemany(
                "INSERT OR REPLACE INTO baselines VALUES (?, ?, ?)",
                [(w, background_sha256, json.dumps(v, sort_keys=True)) for w, v in values.items()],
            )

    def signals_of(self, work_id: int) -> set[str]:
        rows = self.db.execute("SELECT signal FROM descriptors WHERE work_id=?", (work_id,))
        return {str(r[0]) for r in rows}

    def record(self, action: Action, details: dict[str, object], ref: str = "", sha256: str = "") -> None:
        """An audit line for an event outside registration (a calibration fitted, a scan, a report), in its own
        transaction, attributed to the current actor (index.audit)."""
        with self._transaction():
            self._audit(action, ref, sha256, details)

    def audit_trail(self, ref: str | None = None) -> list[dict[str, object]]:
        """Audit entries (of one work's ref, or all) in order: when, what, which file, who, from where."""
        return [
            {
                "id": e.id,
                "at": e.at,
                "action": e.action,
                "ref": e.ref,
                "sha256": e.sha256,
                "details": json.loads(e.details),
                "who": e.who,
                "origin": e.origin,
                "hash": e.hash,
            }
            for e in self._entries(ref)
        ]

    def verify_audit(self) -> ChainReport:
        """Check the audit trail's hash chain (index.audit.verify): edited, deleted, reordered or cut-off entries."""
        if self.schema_version < CHAINED:
            return ChainReport(0, [f"this registry (schema {self.schema_version}) predates the audit chain"], None)
        return verify(self._entries(None), self._head())

    def _entries(self, ref: str | None) -> list[Entry]:
        chained = self.schema_version >= CHAINED  # a read-only older registry has no chain columns
        extra = ", who, origin, prev_hash, hash" if chained else ", '', '', '', ''"
        q = f"SELECT id, at, action, ref, sha256, details{extra} FROM audit"
        rows = self.db.execute(q + " WHERE ref=? ORDER BY id", (ref,)) if ref else self.db.execute(q + " ORDER BY id")
        return [
            Entry(int(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5]), r[6], r[7], r[8], r[9])
            for r in rows
        ]

    def _head(self) -> tuple[int, str] | None:
        raw = self.get_meta("audit_head")
        if raw is None:
            return None
        entry_id, digest = raw.split(":", 1)
        return int(entry_id), digest

    def _chain_existing(self) -> None:
        """Migration 4: chain the entries written before the chain existed, in id order, as they are."""
        prev = GENESIS
        last: tuple[int, str] | None = None
        rows = self.db.execute("SELECT id, at, action, ref, sha256, details FROM audit ORDER BY id").fetchall()
        for entry_id, at, action, ref, sha256, details in rows:
            who, origin = UNKNOWN_ACTOR.who, UNKNOWN_ACTOR.origin
            digest = entry_hash(entry_id, at, action, ref, sha256, details, who, origin, prev)
            self.db.execute(
                "UPDATE audit SET who=?, origin=?, prev_hash=?, hash=? WHERE id=?",
                (who, origin, prev, digest, entry_id),
            )
            prev, last = digest, (entry_id, digest)
        if last is not None:
            self.set_meta("audit_head", f"{last[0]}:{last[1]}")

    def referenced_hashes(self) -> set[str]:
        """Hashes the vault must keep: registered works and removed ones (kept as evidence)."""
        rows = self.db.execute("SELECT sha256 FROM works UNION SELECT sha256 FROM audit")
        return {str(r[0]) for r in rows}

    # -- internals ----------------------------------------------------------------------------------
    def _audit(self, action: Action, ref: str, sha256: str, details: dict[str, object]) -> None:
        """Append an entry inside the caller's transaction: hash-chained to the head, by the current actor."""
        at, text = utc_now(), json.dumps(details, sort_keys=True)
        if int(self.get_meta("schema_version") or 1) < CHAINED:  # a migration older than the chain is being logged
            self.db.execute(
                "INSERT INTO audit (at, action, ref, sha256, details) VALUES (?,?,?,?,?)",
                (at, action, ref, sha256, text),
            )
            return
        actor = current_actor()
        head = self._head()
        prev = head[1] if head else GENESIS
        cur = self.db.execute(
            "INSERT INTO audit (at, action, ref, sha256, details, who, origin, prev_hash) VALUES (?,?,?,?,?,?,?,?)",
            (at, action, ref, sha256, text, actor.who, actor.origin, prev),
        )
        entry_id = int(cur.lastrowid or 0)
        digest = entry_hash(entry_id, at, action, ref, sha256, text, actor.who, actor.origin, prev)
        self.db.execute("UPDATE audit SET hash=? WHERE id=?", (digest, entry_id))
        self.set_meta("audit_head", f"{entry_id}:{digest}")

    def _bump(self) -> None:
        self.db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='generation'")

    def _transaction(self) -> _Transaction:
        return _Transaction(self.db)


def _connect(path: Path) -> sqlite3.Connection:
    db = durable_connection(path)
    db.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
    return db


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection: shared with live writers where SQLite can, immutable where the folder is read-only."""
    return read_only_connection(path, "SELECT value FROM meta WHERE key='generation'")


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")


_WORK_COLUMNS = ", ".join(("id", *_COLUMNS))


def _work(r: tuple[Any, ...]) -> WorkRecord:
    """A `works` row, read as `SELECT {_WORK_COLUMNS}`, as its WorkRecord."""
    row = dict(zip(("id", *_COLUMNS), r, strict=True))
    return WorkRecord(**row | {"metadata": json.loads(str(row["metadata"]))})
