"""The registry's schema is checked on open: a workspace made by release 1 (tests/fixtures/workspace-v1, made with
that release's CLI) is migrated and keeps working; one from a newer Semblance is refused with a message."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from index.registry import SCHEMA_VERSION
from service.engine import Engine, EngineError
from service.inputs import expand

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
        assert reg.schema_version == SCHEMA_VERSION == 4
        # three migrations, then the learned matcher's descriptor the release predates, computed from the vault
        assert [a["action"] for a in reg.audit_trail()] == ["register", "migrate", "migrate", "migrate", "backfill"]
        assert [a["details"] for a in reg.audit_trail()[1:]] == [
            {"from_schema": 1, "to_schema": 2},
            {"from_schema": 2, "to_schema": 3},
            {"from_schema": 3, "to_schema": 4},
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
        assert trail == ["register"] + ["migrate"] * 3 + ["backfill"]
    finally:
        again.close()


def test_a_registry_from_a_newer_release_is_refused(old_workspace: Path) -> None:
    db = sqlite3.connect(old_workspace / "registry.sqlite")
    db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    db.commit()
    db.close()
    with pytest.raises(EngineError, match="newer Semblance"):
        Engine.open(str(old_workspace))
