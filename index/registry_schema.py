"""The registry's schema as data: the tables release 1 made and each migration since, with why it was needed
(applied by index.migrations when a registry is opened)."""

from __future__ import annotations

from index.migrations import Schema

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS embedders (
    id TEXT PRIMARY KEY, weights_sha256 TEXT NOT NULL, dim INTEGER NOT NULL, added_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS works (
    id INTEGER PRIMARY KEY,
    ref TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL DEFAULT '',
    author TEXT NOT NULL DEFAULT '',
    rights_holder TEXT NOT NULL DEFAULT '',
    registration_no TEXT NOT NULL DEFAULT '',
    source_url TEXT NOT NULL DEFAULT '',
    registered_at TEXT NOT NULL,
    sha256 TEXT NOT NULL UNIQUE,
    size_bytes INTEGER NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    format TEXT NOT NULL,
    original_name TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS descriptors (
    work_id INTEGER NOT NULL REFERENCES works(id) ON DELETE CASCADE,
    signal TEXT NOT NULL,
    version INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (work_id, signal));
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY, at TEXT NOT NULL, action TEXT NOT NULL, ref TEXT NOT NULL,
    sha256 TEXT NOT NULL, details TEXT NOT NULL DEFAULT '{}');
"""
"""The schema as release 1 made it (version 1); `MIGRATIONS` bring it to `SCHEMA_VERSION`."""

MIGRATIONS: dict[int, str] = {
    1: SCHEMA,
    2: """
    CREATE TABLE IF NOT EXISTS descriptor_gaps (
        work_id INTEGER NOT NULL REFERENCES works(id) ON DELETE CASCADE,
        signal TEXT NOT NULL,
        reason TEXT NOT NULL,
        PRIMARY KEY (work_id, signal));
    CREATE INDEX IF NOT EXISTS audit_by_ref ON audit(ref);
    """,
    3: """
    CREATE TABLE IF NOT EXISTS baselines (
        work_id INTEGER NOT NULL REFERENCES works(id) ON DELETE CASCADE,
        background_sha256 TEXT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (work_id, background_sha256));
    """,
    4: """
    ALTER TABLE audit ADD COLUMN who TEXT NOT NULL DEFAULT '';
    ALTER TABLE audit ADD COLUMN origin TEXT NOT NULL DEFAULT '';
    ALTER TABLE audit ADD COLUMN prev_hash TEXT NOT NULL DEFAULT '';
    ALTER TABLE audit ADD COLUMN hash TEXT NOT NULL DEFAULT '';
    """,
    5: """
    ALTER TABLE works ADD COLUMN categories TEXT NOT NULL DEFAULT '';
    UPDATE works SET categories = lower(json_extract(metadata, '$.categories'))
        WHERE json_extract(metadata, '$.categories') IS NOT NULL;
    CREATE INDEX IF NOT EXISTS works_rights_holder ON works(rights_holder);
    """,
}
"""Version -> the SQL that brings a registry from the version before it. 1: the tables (a new registry). 2: why a
signal has no descriptor of a work (a strip too thin for keypoints), so a missing descriptor is a recorded fact,
never a silent 0; and the audit trail indexed by ref (`works show` reads it per work). 3: each work's background
baselines (detector.background), keyed by the background set's SHA-256, stored when the work is registered instead
of computed by every process that meets the work. 4: the audit trail becomes a hash chain (index.audit) recording
who acted and from where; entries written before it are chained as they are, attributed to "unknown (before the
audit chain)". 5: a work's categories, the priority areas supervision counts it under (a `categories` column a
manifest gave before, kept among the extra metadata, is copied in), and works indexed by rights holder."""

CHAINED = 4
"""The schema version from which audit entries are hash-chained."""
REGISTRY = Schema("registry", MIGRATIONS)
"""The registry's schema (index.migrations): a new file is created by migration 1."""
SCHEMA_VERSION = REGISTRY.version
