"""Versioned schemas for every SQLite file Semblance writes (the registry, the service database, a sweep's run
record), migrated by one mechanism.

A file records its schema version in its `meta` table (`schema_version`). Opening it applies the migrations it
lacks in order, each in its own write transaction with its version bump, so a crash leaves the file at one
version or the next, never between; two processes opening one file at once migrate it once (the second finds the
version already raised inside its transaction). A file made by a newer Semblance is refused, never changed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

META = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"


class SchemaVersionError(RuntimeError):
    """The file was written by a newer Semblance than this one."""


@dataclass(frozen=True)
class Schema:
    """What one kind of file holds: `migrations` maps each version to the SQL that brings a file from the version
    before it; a file with no recorded version is at `unversioned` (the version files written before versions were
    recorded are at)."""

    name: str
    """What the file is, in an error message ("registry", "service database", "sweep run record")."""
    migrations: Mapping[int, str]
    unversioned: int = 0
    rebuilds: frozenset[int] = frozenset()
    """Versions that rebuild a table (SQLite cannot alter a CHECK): run with foreign keys off, as SQLite's own
    procedure for such changes says, and checked with `foreign_key_check` before they commit."""

    @property
    def version(self) -> int:
        """The version this Semblance writes."""
        return max(self.migrations, default=self.unversioned)


def recorded_version(db: sqlite3.Connection, schema: Schema) -> int:
    row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    return schema.unversioned if row is None else int(row[0])


def migrate(
    db: sqlite3.Connection,
    schema: Schema,
    path: Path,
    applied: Callable[[int, int], None] | None = None,
) -> int:
    """Bring the file open on `db` (autocommit, as index.connections makes them) to `schema.version`; `applied` is
    called with the version the file had and each version reached, inside that version's transaction (the registry
    chains its old audit entries and audits the migration there). Returns the version the file had;
    SchemaVersionError for a file from a newer Semblance."""
    db.execute(META)
    found = recorded_version(db, schema)
    refuse_newer(found, schema, path)
    for target in range(found + 1, schema.version + 1):
        rebuild = target in schema.rebuilds
        keys_were_on = bool(db.execute("PRAGMA foreign_keys").fetchone()[0])
        if rebuild:
            db.execute("PRAGMA foreign_keys=OFF")  # a no-op inside a transaction: set before BEGIN
        try:
            _apply(db, schema, found, target, path, rebuild, applied)
        finally:
            if rebuild and keys_were_on:
                db.execute("PRAGMA foreign_keys=ON")
    return found


def _apply(
    db: sqlite3.Connection,
    schema: Schema,
    found: int,
    target: int,
    path: Path,
    rebuild: bool,
    applied: Callable[[int, int], None] | None,
) -> None:
    """Migration `target` and its version bump in one write transaction."""
    db.execute("BEGIN IMMEDIATE")
    try:
        if recorded_version(db, schema) < target:  # else another process migrated first
            for statement in statements(schema.migrations[target]):
                db.execute(statement)
            if rebuild and db.execute("PRAGMA foreign_key_check").fetchone() is not None:
                raise sqlite3.IntegrityError(f"{path}: migration {target} would break a reference")
            db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(target),))
            if applied is not None:
                applied(found, target)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def refuse_newer(found: int, schema: Schema, path: Path) -> None:
    """SchemaVersionError, naming the file and its kind, when `found` is newer than this Semblance writes (also for a
    file opened read-only, which is never migrated)."""
    if found > schema.version:
        raise SchemaVersionError(
            f"{path} ({schema.name}) has schema version {found}, made by a newer Semblance than this one (which "
            f"reads up to {schema.version}); upgrade Semblance to open it"
        )


def statements(script: str) -> list[str]:
    """The SQL statements of a migration script (none of ours holds a ';' inside a literal)."""
    return [part.strip() for part in script.split(";") if part.strip()]
