"""Every SQLite file Semblance writes is versioned and migrated by one mechanism (index.migrations): a workspace made
by release 1 (tests/fixtures/workspace-v1, made with that release's CLI) is migrated and keeps working; a service
database and a sweep's run record are versioned the same way; a file from a newer Semblance is refused with a
message naming it, and a migration that fails leaves the file at the version before it."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from index.connections import durable_connection
from index.migrations import Schema, SchemaVersionError, migrate, recorded_version
from index.registry import SCHEMA_VERSION
from service.engine import Engine, EngineError
from service.inputs import expand
from service.store import Store
from service.store.database import STORE
from service.sweep.run import RUN_DB, RUN_RECORD, RunFolder

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "workspace-v1"


@pytest.fixture
def old_workspace(tmp_path: Path) -> Path:
    home = tmp_path / "ws"
    shutil.copytree(FIXTURE, home)  # never open the committed fixture itself: opening migrates it
    return home


def test_a_release_1_workspace_is_migrated_and_still_finds_its_work(old_workspace: Path) -> None:
    before = sqlite3.connect(old_workspace / "registry.sqlite")
    assert before.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("1",)
    before.close()
    engine = Engine.open(str(old_workspace))
    try:
        reg = engine.workspace.registry
        assert reg.schema_version == SCHEMA_VERSION == 5
        # four migrations, then the learned matcher's descriptor the release predates, computed from the vault
        assert [a["action"] for a in reg.audit_trail()] == ["register", *["migrate"] * 4, "backfill"]
        assert [a["details"] for a in reg.audit_trail()[1:]] == [
            {"from_schema": 1, "to_schema": 2},
            {"from_schema": 2, "to_schema": 3},
            {"from_schema": 3, "to_schema": 4},
            {"from_schema": 4, "to_schema": 5},
            {"signal": "learned_match", "computed": True},
        ]
        assert reg.gaps([w.id for w in reg.works()]) == {}
        (work,) = engine.works()
        digest = engine.calibration.background.digest  # type: ignore[union-attr]
        assert reg.lacking_baselines(digest) == [work.id]  # registered before baselines were stored
        result = engine.scan(next(expand([str(engine.workspace.vault.path(work.sha256))])))
        assert result.verdict == "copy" and result.matches[0].ref == "night-cafe-small"
    finally:
        engine.close()
    again = Engine.open(str(old_workspace))  # migrating (and backfilling) is done once
    try:
        trail = [a["action"] for a in again.workspace.registry.audit_trail()]
        assert trail == ["register"] + ["migrate"] * 4 + ["backfill"]
    finally:
        again.close()


def test_a_registry_from_a_newer_release_is_refused(old_workspace: Path) -> None:
    db = sqlite3.connect(old_workspace / "registry.sqlite")
    db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    db.commit()
    db.close()
    with pytest.raises(EngineError, match="newer Semblance"):
        Engine.open(str(old_workspace))


def test_one_mechanism_migrates_step_by_step_and_a_failed_step_leaves_the_version_before(tmp_path: Path) -> None:
    path = tmp_path / "f.sqlite"
    v1 = Schema("test file", {1: "CREATE TABLE a (x INTEGER)"})
    db = durable_connection(path)
    assert migrate(db, v1, path) == 0 and recorded_version(db, v1) == 1
    db.execute("INSERT INTO a VALUES (7)")
    broken = Schema("test file", {1: v1.migrations[1], 2: "ALTER TABLE a ADD COLUMN y TEXT; CREATE TABLE a (z)"})
    with pytest.raises(sqlite3.OperationalError):
        migrate(db, broken, path)
    assert recorded_version(db, broken) == 1  # the half-done version 2 was rolled back whole
    assert [c[1] for c in db.execute("PRAGMA table_info(a)")] == ["x"]
    reached: list[tuple[int, int]] = []
    v3 = Schema("test file", {1: v1.migrations[1], 2: "ALTER TABLE a ADD COLUMN y TEXT", 3: "CREATE TABLE b (z)"})
    assert migrate(db, v3, path, lambda found, target: reached.append((found, target))) == 1
    assert reached == [(1, 2), (1, 3)] and recorded_version(db, v3) == 3
    assert db.execute("SELECT x, y FROM a").fetchall() == [(7, None)]  # data kept
    assert migrate(db, v3, path) == 3  # nothing left to do
    with pytest.raises(SchemaVersionError, match=r"f\.sqlite \(test file\) has schema version 3.*newer Semblance"):
        migrate(db, v1, path)
    db.close()


def test_the_service_database_and_a_run_record_carry_their_versions(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    assert store.database.version() == STORE.version >= 2
    store.close()
    run = RunFolder(tmp_path / "run")
    assert recorded_version(run.db, RUN_RECORD) == RUN_RECORD.version == 1
    key = run.run_key
    run.close()
    assert RunFolder(tmp_path / "run").run_key == key  # reopened, not recreated


def test_a_service_database_of_version_3_keeps_its_people_and_keys_when_its_users_table_is_rebuilt(
    tmp_path: Path,
) -> None:
    path = tmp_path / "service.sqlite"
    v3 = Schema("service database", {v: STORE.migrations[v] for v in (1, 2, 3)})
    db = durable_connection(path)
    migrate(db, v3, path)
    db.execute("INSERT INTO users VALUES (1, 'ana', 'h', 'investigator', 'zh', '2026-01-01', NULL)")
    db.execute("INSERT INTO api_keys VALUES (1, 1, 'pfx', 'sh', 'laptop', '2026-01-02', NULL)")
    db.execute("INSERT INTO cases VALUES (1, 'C-1', 't', 1, '2026-01-03', NULL)")
    db.execute("INSERT INTO case_members VALUES (1, 1, '2026-01-03')")
    with pytest.raises(sqlite3.IntegrityError):  # version 3 knows no supervisors
        db.execute("INSERT INTO users VALUES (2, 'sun', 'h', 'supervisor', '', '2026-01-04', NULL)")
    db.close()
    store = Store.open(tmp_path)
    try:
        db = store.database.db
        assert store.database.version() == STORE.version
        assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1  # back on after the rebuild
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        user = store.accounts.user(1)
        assert user is not None and (user.username, user.role, user.language) == ("ana", "investigator", "zh")
        assert [tuple(r) for r in db.execute("SELECT user_id, label FROM api_keys")] == [(1, "laptop")]
        db.execute("INSERT INTO users VALUES (2, 'sun', 'h', 'supervisor', '', '2026-01-04', NULL)")
        with pytest.raises(sqlite3.IntegrityError):  # the references still hold
            db.execute("INSERT INTO api_keys VALUES (2, 99, 'p2', 'sh', '', '2026-01-05', NULL)")
    finally:
        store.close()


def test_a_run_record_written_before_versions_were_recorded_opens_as_version_1(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    old = durable_connection(folder / RUN_DB)
    old.executescript(RUN_RECORD.migrations[1])  # the tables as the first release made them, no version row
    old.execute("INSERT INTO meta VALUES ('run_key', 'k1')")
    old.execute(
        "INSERT INTO items (listing_key, image_index, source, is_url, listing_json) VALUES ('l', 0, 'a.jpg', 0, '{}')"
    )
    old.close()
    run = RunFolder(folder)
    try:
        assert recorded_version(run.db, RUN_RECORD) == 1 and run.run_key == "k1"
        assert run.db.execute("SELECT source, state FROM items").fetchall() == [("a.jpg", "pending")]
    finally:
        run.close()


def test_a_run_record_from_a_newer_release_is_refused(tmp_path: Path) -> None:
    RunFolder(tmp_path / "run").close()
    db = sqlite3.connect(tmp_path / "run" / RUN_DB)
    db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    db.commit()
    db.close()
    with pytest.raises(SchemaVersionError, match=r"sweep run record.*newer Semblance"):
        RunFolder(tmp_path / "run")
