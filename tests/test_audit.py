"""The audit trail is a hash chain: `semblance audit verify` finds an edited, a deleted, a reordered and a cut-off
entry, names who acted (the operating-system user for the command line), and a release-1 trail is chained as is."""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from index.audit import Actor, acting_as
from service.engine import Engine, WorkMetadata
from service.inputs import InputItem

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "samples" / "demo"
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "workspace-v1"


def semblance(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "service.cli", "--home", str(home), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=300,
    )


@pytest.fixture(scope="module")
def trail_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with four registrations (one as a named service user) and a removal."""
    home = tmp_path_factory.mktemp("audit") / "ws"
    engine = Engine.init(str(home), ["effnet-lite0"])
    try:
        works = sorted((DEMO / "originals").glob("*.jpg"))
        engine.register_many([(InputItem(str(p), reader=p.read_bytes), WorkMetadata(ref=p.stem)) for p in works[:3]])
        with acting_as(Actor("user:registrar-li", "http 127.0.0.1")):
            engine.register_many([(InputItem(str(works[3]), reader=works[3].read_bytes), WorkMetadata(ref="fourth"))])
        engine.remove(works[0].stem, "registered by mistake")
    finally:
        engine.close()
    return home


def copy_of(home: Path, tmp_path: Path) -> Path:
    out = tmp_path / "ws"
    shutil.copytree(home, out)
    return out


def tamper(home: Path, *statements: str) -> None:
    db = sqlite3.connect(home / "registry.sqlite")
    for s in statements:
        db.execute(s)
    db.commit()
    db.close()


def test_an_intact_trail_verifies_and_names_who_acted(trail_home: Path) -> None:
    p = semblance(trail_home, "audit", "verify", "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == {"intact": True, "entries": 5, "problems": []}
    trail = json.loads(semblance(trail_home, "audit", "show", "--json").stdout)
    assert [t["action"] for t in trail] == ["register"] * 4 + ["remove"]
    whos = {t["ref"]: t["who"] for t in trail if t["action"] == "register"}
    assert whos["fourth"] == "user:registrar-li"
    assert {w for r, w in whos.items() if r != "fourth"} == {f"os:{getpass.getuser()}"}
    assert all(t["hash"] and len(t["hash"]) == 64 for t in trail)


TAMPERING = {
    "edited": (["UPDATE audit SET details='{\"reason\": \"routine\"}' WHERE action='remove'"], "entry 5 (remove"),
    "deleted": (["DELETE FROM audit WHERE id = 2"], "entry 3 (register) does not follow"),
    "reordered": (  # the content of entries 2 and 3 swapped, hashes and all
        [f"UPDATE audit SET id = {new} WHERE id = {old}" for old, new in ((2, -2), (3, 2), (-2, 3))],
        "entry 2 (register",
    ),
    "cut off": (["DELETE FROM audit WHERE action = 'remove'"], "entries at the end were deleted or replaced"),
}


@pytest.mark.parametrize("how", sorted(TAMPERING))
def test_tampering_is_found_and_named(trail_home: Path, tmp_path: Path, how: str) -> None:
    statements, named = TAMPERING[how]
    home = copy_of(trail_home, tmp_path)
    tamper(home, *statements)
    p = semblance(home, "audit", "verify")
    assert p.returncode == 1 and named in p.stderr, p.stderr


def test_a_release_1_trail_is_chained_as_it_was(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    shutil.copytree(FIXTURE, home)
    engine = Engine.open(str(home))
    try:
        chain = engine.workspace.registry.verify_audit()
        trail = engine.audit()
    finally:
        engine.close()
    # opening it migrates the schema four times and computes the learned matcher's descriptor it predates
    assert chain.intact and chain.entries == 6
    assert trail[0]["who"] == "unknown (before the audit chain)" and trail[0]["action"] == "register"
    assert [t["action"] for t in trail[1:]] == ["migrate"] * 4 + ["backfill"]
    assert trail[5]["details"]["signal"] == "learned_match"


def test_a_command_line_scan_records_what_it_examined(trail_home: Path, tmp_path: Path) -> None:
    home = copy_of(trail_home, tmp_path)
    suspects = sorted((DEMO / "suspects").glob("*.jpg"))[:2]
    assert semblance(home, "scan", *map(str, suspects), "--json").returncode == 0
    trail = json.loads(semblance(home, "audit", "show", "--json").stdout)
    entry = trail[-1]
    assert entry["action"] == "scan" and entry["who"] == f"os:{getpass.getuser()}"
    assert entry["details"]["inputs"] == 2
    assert [f[1] for f in entry["details"]["files"]] == [hashlib.sha256(p.read_bytes()).hexdigest() for p in suspects]
    assert semblance(home, "audit", "verify").returncode == 0


def test_an_evidence_report_is_recorded_with_its_suspects_sha256(trail_home: Path, tmp_path: Path) -> None:
    from service.reports.bundle import CaseInfo, build_bundle

    home = copy_of(trail_home, tmp_path)
    suspect = DEMO / "suspects" / "crop_night_cafe.jpg"
    engine = Engine.open(str(home))
    try:
        bundle = build_bundle(engine, InputItem(str(suspect), reader=suspect.read_bytes), CaseInfo(), tmp_path / "out")
        entry = engine.audit()[-1]
    finally:
        engine.close()
    assert entry["action"] == "report" and entry["sha256"] == hashlib.sha256(suspect.read_bytes()).hexdigest()
    assert entry["details"]["bundle"] == str(bundle)
