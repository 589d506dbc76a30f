"""The service database: one SQLite file, a connection per thread, versioned migrations, one transaction per write.

Like the registry, the schema carries its version (`meta.schema_version`, by index.migrations); opening an older
file runs the migrations it lacks, each in its own transaction, and a file from a newer Semblance is refused.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from index.connections import ThreadConnections, durable_connection, read_only_connection
from index.migrations import Schema, SchemaVersionError, migrate, recorded_version, refuse_newer
from index.registry import utc_now as utc_now  # one timestamp format for every record

SUPERVISION_BACKFILL = """
INSERT INTO listing_months SELECT DISTINCT listing_id, substr(seen_at, 1, 7) FROM listing_images;
INSERT INTO swept_monthly
    SELECT m.month, l.marketplace, l.province_code, l.region_code, COUNT(*)
    FROM listing_months m JOIN listings l ON l.id = m.listing_id GROUP BY 1, 2, 3, 4;
INSERT OR IGNORE INTO hit_facts
    SELECT f.id, fm.ref, fm.verdict, li.seen_at, l.province_code, l.region_code, l.marketplace, l.id, l.seller_id,
           NULL, li.image_group
    FROM listing_images li JOIN listings l ON l.id = li.listing_id
    JOIN findings f ON f.suspect_id = li.suspect_id JOIN finding_matches fm ON fm.finding_id = f.id
    WHERE fm.verdict IN ('copy', 'derivative');
INSERT OR IGNORE INTO hit_facts
    SELECT f.id, fm.ref, fm.verdict, f.scanned_at, c.province_code, c.region_code, '', NULL, NULL, c.id, ''
    FROM findings f JOIN cases c ON c.id = f.case_id JOIN finding_matches fm ON fm.finding_id = f.id
    WHERE fm.verdict IN ('copy', 'derivative');
"""
"""Fills the supervision tables (migration 5) from the listings, images and findings already in the store: run by
the migration on an older store, and by scripts/benchmark_sweep.py on a store it filled in SQL. Part of migration 5,
so never changed once released."""

MIGRATIONS: dict[int, str] = {
    1: """
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'registrar', 'investigator', 'auditor')),
    language TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    disabled_at TEXT
);
CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    prefix TEXT NOT NULL UNIQUE,
    secret_hash TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    csrf_token TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE TABLE cases (
    id INTEGER PRIMARY KEY,
    number TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    created_by INTEGER NOT NULL REFERENCES users(id),
    created_at TEXT NOT NULL,
    closed_at TEXT
);
CREATE TABLE case_members (
    case_id INTEGER NOT NULL REFERENCES cases(id),
    user_id INTEGER NOT NULL REFERENCES users(id),
    added_at TEXT NOT NULL,
    PRIMARY KEY (case_id, user_id)
);
CREATE TABLE suspects (
    id INTEGER PRIMARY KEY,
    case_id INTEGER REFERENCES cases(id),
    sha256 TEXT NOT NULL,
    name TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    received_at TEXT NOT NULL,
    received_by TEXT NOT NULL,
    origin TEXT NOT NULL DEFAULT ''
);
CREATE INDEX suspects_case ON suspects(case_id);
CREATE TABLE findings (
    id INTEGER PRIMARY KEY,
    suspect_id INTEGER NOT NULL UNIQUE REFERENCES suspects(id),
    case_id INTEGER REFERENCES cases(id),
    source TEXT NOT NULL,
    verdict TEXT,
    top_ref TEXT NOT NULL DEFAULT '',
    top_score REAL,
    result_json TEXT NOT NULL,
    scanned_at TEXT NOT NULL,
    job_id INTEGER
);
CREATE INDEX findings_case ON findings(case_id);
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    case_id INTEGER NOT NULL REFERENCES cases(id),
    created_by INTEGER NOT NULL REFERENCES users(id),
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'cancelled')),
    total INTEGER NOT NULL,
    done INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE job_items (
    job_id INTEGER NOT NULL REFERENCES jobs(id),
    seq INTEGER NOT NULL,
    suspect_id INTEGER REFERENCES suspects(id),
    name TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'done', 'error')),
    error TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (job_id, seq)
);
""",
    2: """
CREATE TABLE finding_matches (
    finding_id INTEGER NOT NULL REFERENCES findings(id),
    ref TEXT NOT NULL,
    verdict TEXT NOT NULL,
    score REAL NOT NULL,
    PRIMARY KEY (finding_id, ref)
);
CREATE INDEX finding_matches_ref ON finding_matches(ref, verdict);
INSERT OR IGNORE INTO finding_matches
    SELECT f.id, json_extract(m.value, '$.ref'), json_extract(m.value, '$.verdict'), json_extract(m.value, '$.score')
    FROM findings f, json_each(f.result_json, '$.matches') m;
CREATE TABLE sweeps (
    id INTEGER PRIMARY KEY,
    run_key TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    started_at TEXT NOT NULL
);
CREATE TABLE sellers (
    id INTEGER PRIMARY KEY,
    marketplace TEXT NOT NULL,
    seller_key TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    UNIQUE (marketplace, seller_key)
);
CREATE TABLE listings (
    id INTEGER PRIMARY KEY,
    marketplace TEXT NOT NULL,
    listing_key TEXT NOT NULL,
    seller_id INTEGER REFERENCES sellers(id),
    title TEXT NOT NULL DEFAULT '',
    price TEXT NOT NULL DEFAULT '',
    currency TEXT NOT NULL DEFAULT '',
    listing_url TEXT NOT NULL DEFAULT '',
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    UNIQUE (marketplace, listing_key)
);
CREATE INDEX listings_seller ON listings(seller_id);
CREATE TABLE listing_images (
    id INTEGER PRIMARY KEY,
    listing_id INTEGER NOT NULL REFERENCES listings(id),
    sweep_id INTEGER NOT NULL REFERENCES sweeps(id),
    source TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    pdq TEXT NOT NULL DEFAULT '',
    image_group TEXT NOT NULL,
    suspect_id INTEGER REFERENCES suspects(id),
    seen_at TEXT NOT NULL,
    UNIQUE (sweep_id, listing_id, source)
);
CREATE INDEX listing_images_group ON listing_images(image_group);
CREATE INDEX listing_images_suspect ON listing_images(suspect_id);
CREATE INDEX listing_images_listing ON listing_images(listing_id);
""",
    3: """
ALTER TABLE job_items ADD COLUMN claimed_by TEXT NOT NULL DEFAULT '';
""",
    4: """
CREATE TABLE users_new (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'registrar', 'investigator', 'auditor', 'supervisor')),
    language TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    disabled_at TEXT
);
INSERT INTO users_new SELECT id, username, password_hash, role, language, created_at, disabled_at FROM users;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
ALTER TABLE listings ADD COLUMN region_text TEXT NOT NULL DEFAULT '';
ALTER TABLE listings ADD COLUMN province_code TEXT NOT NULL DEFAULT '';
ALTER TABLE listings ADD COLUMN region_code TEXT NOT NULL DEFAULT '';
CREATE INDEX listings_region ON listings(province_code, region_code);
ALTER TABLE sellers ADD COLUMN business_name TEXT NOT NULL DEFAULT '';
CREATE TABLE seller_identifiers (
    seller_id INTEGER NOT NULL REFERENCES sellers(id),
    kind TEXT NOT NULL CHECK (kind IN ('licence', 'contact', 'payment')),
    value TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    PRIMARY KEY (seller_id, kind, value)
);
CREATE INDEX seller_identifiers_value ON seller_identifiers(kind, value);
CREATE INDEX listing_images_seen ON listing_images(seen_at);
ALTER TABLE cases ADD COLUMN region_text TEXT NOT NULL DEFAULT '';
ALTER TABLE cases ADD COLUMN province_code TEXT NOT NULL DEFAULT '';
ALTER TABLE cases ADD COLUMN region_code TEXT NOT NULL DEFAULT '';
""",
    5: """
CREATE TABLE listing_months (
    listing_id INTEGER NOT NULL REFERENCES listings(id),
    month TEXT NOT NULL,
    PRIMARY KEY (listing_id, month)
) WITHOUT ROWID;
CREATE TABLE swept_monthly (
    month TEXT NOT NULL,
    marketplace TEXT NOT NULL,
    province_code TEXT NOT NULL,
    region_code TEXT NOT NULL,
    listings INTEGER NOT NULL,
    PRIMARY KEY (month, marketplace, province_code, region_code)
) WITHOUT ROWID;
CREATE TABLE hit_facts (
    finding_id INTEGER NOT NULL REFERENCES findings(id),
    ref TEXT NOT NULL,
    verdict TEXT NOT NULL,
    seen_at TEXT NOT NULL,
    province_code TEXT NOT NULL,
    region_code TEXT NOT NULL,
    marketplace TEXT NOT NULL,
    listing_id INTEGER,
    seller_id INTEGER,
    case_id INTEGER,
    image_group TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (finding_id, ref)
);
CREATE INDEX hit_facts_seen ON hit_facts(seen_at);
"""
    + SUPERVISION_BACKFILL,
}
"""Version -> the SQL that brings the service database from the version before it. 4: the supervision picture
(#24): a `supervisor` role (the users table rebuilt, as SQLite cannot alter a CHECK); where a listing is offered
from and a case belongs (the text as given, its province and most precise division code, service.supervision.
regions); a shop's registered business name; the identifiers that link seller accounts to one entity (business
licence number as given; contact and payment identifiers only as keyed hashes, service.supervision.identifiers);
listing images indexed by when they were seen, for periods. 5: the supervision figures' own tables, kept by every
write that changes them (service.store.listings, service.store.findings) and filled from the rows already there:
each listing once per month it was swept (`listing_months`), listings swept per month, marketplace and region
(`swept_monthly`, the denominators), and every hit with where and when it was seen (`hit_facts`): a supervision
query reads these, never the tens of millions of listing images."""
REBUILDS = frozenset({4})
"""Migrations that rebuild a table (run with foreign keys off, checked before commit: index.migrations)."""


STORE = Schema("service database", MIGRATIONS, rebuilds=REBUILDS)
SCHEMA_VERSION = STORE.version
StoreVersionError = SchemaVersionError
"""The service database was written by a newer Semblance."""


class Database:
    """The service database at `path`: `db` is this thread's connection, `transaction()` one atomic write.

    `read_only` opens an existing database without writing to its folder (a read-only workspace: the commands that
    only read sellers, accounts and the supervision picture); it is never migrated, so it must be at this version."""

    def __init__(self, path: Path, read_only: bool = False) -> None:
        self.path = path
        self._connections = ThreadConnections(
            (lambda: _connect_read_only(path)) if read_only else (lambda: _connect(path))
        )
        try:
            if not read_only:
                migrate(self.db, STORE, path)
                return
            found = recorded_version(self.db, STORE)
            refuse_newer(found, STORE, path)
            if found < STORE.version:
                raise StoreVersionError(
                    f"{path} ({STORE.name}) has schema version {found}, older than this Semblance reads ("
                    f"{STORE.version}), and a read-only workspace cannot be upgraded: open it once where it can be "
                    "written"
                )
        except (StoreVersionError, sqlite3.Error):
            self.close()
            raise

    @property
    def db(self) -> sqlite3.Connection:
        return self._connections.get()

    def version(self) -> int:
        return recorded_version(self.db, STORE)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE: writers queue instead of failing mid-way)."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def close(self) -> None:
        self._connections.close_all()


def _connect(path: Path) -> sqlite3.Connection:
    conn = durable_connection(path)
    conn.row_factory = sqlite3.Row
    return conn


def _connect_read_only(path: Path) -> sqlite3.Connection:
    conn = read_only_connection(path, "SELECT value FROM meta WHERE key='schema_version'")
    conn.row_factory = sqlite3.Row
    return conn
