"""A workspace that lacks a descriptor of an enabled signal (made before that signal existed) is backfilled from the
vault on open, or refused with what to do where it cannot be written: a missing descriptor is never scored as 0."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from helpers_clip import REPO

from service.engine import Engine, EngineError, WorkMetadata
from service.inputs import expand

DEMO = REPO / "samples" / "demo"


def _workspace(tmp_path: Path) -> tuple[Path, dict[int, bytes]]:
    """Two demo works registered, then their pHash descriptors deleted as if pHash had come later."""
    home = tmp_path / "ws"
    e = Engine.init(str(home), ["effnet-lite0"])
    for p in sorted((DEMO / "originals").glob("*.jpg"))[:2]:
        e.register(next(expand([str(p)])), WorkMetadata(ref=p.stem))
    e.close()
    db = sqlite3.connect(home / "registry.sqlite")
    stored = {int(w): bytes(d) for w, d in db.execute("SELECT work_id, data FROM descriptors WHERE signal='phash'")}
    db.execute("DELETE FROM descriptors WHERE signal='phash'")
    db.commit()
    db.close()
    return home, stored


def test_missing_descriptors_are_computed_from_the_vault_on_open(tmp_path: Path) -> None:
    home, before = _workspace(tmp_path)
    engine = Engine.open(str(home))
    try:
        reg = engine.workspace.registry
        assert reg.lacking("phash") == []
        assert reg.descriptors(before, "phash") == before  # exactly what registration had stored
        backfills = [a for a in reg.audit_trail() if a["action"] == "backfill"]
        assert len(backfills) == 2 and all(a["details"] == {"signal": "phash", "computed": True} for a in backfills)
        assert reg.generation() == 2 + 2  # two registrations, two backfills: index caches are rebuilt
        cafe = DEMO / "originals" / "vangogh-church-at-auvers.jpg"
        result = engine.scan(next(expand([str(cafe)])))
        assert result.verdict == "copy" and "phash" in result.matches[0].signals
    finally:
        engine.close()


def test_a_read_only_workspace_lacking_descriptors_is_refused_with_what_to_do(tmp_path: Path) -> None:
    home, _ = _workspace(tmp_path)
    ro = tmp_path / "ro"
    ro.mkdir()
    bind = subprocess.run(["mount", "--bind", str(home), str(ro)], capture_output=True, text=True)
    if bind.returncode != 0:
        pytest.skip(f"this machine does not allow mounts here ({bind.stderr.strip()})")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(ro)], check=True)
        with pytest.raises(EngineError, match=r"2 lack phash.*read-only.*info"):
            Engine.open(str(ro))
    finally:  # a refused open must hold no file open there, or the mount could not be released
        released = subprocess.run(["umount", str(ro)], capture_output=True, text=True)
    assert released.returncode == 0, released.stderr
    shutil.rmtree(ro, ignore_errors=True)
