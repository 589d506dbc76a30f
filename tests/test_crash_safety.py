"""Writes are crash-safe: a `semblance register` killed (SIGKILL) mid-run leaves the registry, the vault and the
search index consistent, with nothing half-registered and nothing lost, and the next run completes the job.

Every round registers a fresh batch of images with the real CLI in a subprocess and SIGKILLs it. Kill points are
seeded and tied to what the process is doing, so that on any machine, whatever its speed, they fall during
start-up, after a random number of commits and after the last one (while index caches are saved); and, since the
windows between a vault write and its commit are a few milliseconds wide, some rounds have the subprocess kill
itself at exact points: inside a vault write, between a vault write and its commit, inside the registry
transaction, between two index-file saves. After each kill, and after each run that completes the batch, the
workspace is checked in full.
"""

from __future__ import annotations

import collections
import hashlib
import json
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers_clip import REPO, install_network_guard, make_images, offline_env, one_torch_thread

from index.registry import WorkRecord
from index.workspace import Workspace
from service.engine import Engine, WorkMetadata
from service.inputs import InputItem, expand

SEED = 20240611
PER_BATCH = 5
"""Works per round; 7 rounds make 35 distinct works."""

DRIVER = """
import os, signal, sys
import index.registry, index.search_index

point, nth = sys.argv[1], int(sys.argv[2])
calls = 0

def lethal(owner, name, when=lambda *a, **k: True):
    real = getattr(owner, name)

    def wrapper(*args, **kwargs):
        global calls
        if when(*args, **kwargs):
            calls += 1
            if calls == nth:
                os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs)

    setattr(owner, name, wrapper)

if point == "vault-write":  # temporary written and fsynced, not yet renamed into place
    lethal(os, "chmod", lambda path, *a, **k: ".incoming-" in str(path))
elif point == "before-commit":  # vault file stored, registry transaction not begun
    lethal(index.registry.Registry, "add_work")
elif point == "in-transaction":  # work and descriptors inserted, transaction not committed
    lethal(index.registry.Registry, "_audit")
elif point == "index-save":  # some index files replaced, the others and state.json not
    lethal(index.search_index.SignalIndex, "save")
else:
    raise SystemExit(f"unknown kill point {point}")
sys.argv = ["semblance", *sys.argv[3:]]
from service.cli import main
main()
"""
"""Runs the CLI with one function patched to SIGKILL the process on its nth call."""


def _expected(point: str, nth: int) -> dict[str, int | bool]:
    """What a kill at a DRIVER point, on its nth call, leaves behind as the checker sees it."""
    if point == "index-save":
        return {"new": PER_BATCH, "orphans": 0, "temporaries": 0, "stale": True}
    in_vault_write = point == "vault-write"
    return {"new": nth - 1, "orphans": 0 if in_vault_write else 1, "temporaries": int(in_vault_write), "stale": True}


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    install_network_guard(monkeypatch.setattr)
    with one_torch_thread():
        yield


@dataclass
class Kill:
    """SIGKILL `delay` s after an event: the process start or its `count`-th commit; or the process kills itself
    at `point` (see DRIVER) the `count`-th time it gets there."""

    label: str
    after: str
    """start | commit | point"""
    delay: float = 0.0
    count: int = 0
    point: str = ""


def _plan(rng: random.Random) -> list[Kill]:
    return [
        Kill("early, in start-up", "start", delay=rng.uniform(0.5, 2.5)),
        Kill("inside a vault write", "point", count=rng.randint(1, PER_BATCH), point="vault-write"),
        Kill("between a vault write and its commit", "point", count=rng.randint(1, PER_BATCH), point="before-commit"),
        Kill("after a random commit", "commit", delay=rng.uniform(0.0, 0.05), count=rng.randint(1, PER_BATCH - 1)),
        Kill("inside the registry transaction", "point", count=rng.randint(1, PER_BATCH), point="in-transaction"),
        Kill("between index-file saves", "point", count=rng.randint(2, 3), point="index-save"),
        Kill("late, after the last commit", "commit", delay=rng.uniform(0.0, 0.02), count=PER_BATCH),
    ]


def _vault_files(home: Path) -> list[Path]:
    vault = home / "vault"
    if not vault.is_dir():
        return []
    return [f for sub in vault.iterdir() if sub.is_dir() for f in sub.iterdir() if not f.name.startswith(".")]


def _register_killed(home: Path, folder: Path, kill: Kill, env: dict[str, str]) -> str:
    """Run `semblance register folder` and SIGKILL it as planned; returns what happened, for messages."""
    cli = ["--home", str(home), "register", str(folder), "--json"]
    if kill.after == "point":
        command = [sys.executable, "-c", DRIVER, kill.point, str(kill.count), *cli]
    else:
        command = [sys.executable, "-m", "service.cli", *cli]
    db = sqlite3.connect(f"file:{home / 'registry.sqlite'}?mode=ro", uri=True, isolation_level=None)

    def commits() -> int:
        return int(db.execute("SELECT COUNT(*) FROM works").fetchone()[0])

    baseline = commits()
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    started = time.monotonic()
    event = started if kill.after == "start" else None
    try:
        while kill.after != "point" and proc.poll() is None and time.monotonic() - started < 120:
            if event is None and commits() - baseline >= kill.count:
                event = time.monotonic()
            if event is not None and time.monotonic() - event >= kill.delay:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.002)
        _, err = proc.communicate(timeout=120)
    finally:
        db.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    elapsed = time.monotonic() - started
    if proc.returncode == -signal.SIGKILL:
        return f"{kill.label}: killed at {elapsed:.2f}s"
    assert proc.returncode == 0, err.decode(errors="replace")
    assert kill.after != "point", f"{kill.label}: the process never reached the kill point"
    return f"{kill.label}: finished at {elapsed:.2f}s, before the kill"


def _complete_in_process(home: Path, folder: Path) -> list[str]:
    """A new register run of the batch (what the CLI does, without paying its start-up again)."""
    engine = Engine.open(str(home))
    try:
        return [o.status for o in engine.register_many([(i, WorkMetadata()) for i in expand([str(folder)])])]
    finally:
        engine.close()


def _complete_with_cli(home: Path, folder: Path, env: dict[str, str]) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-m", "service.cli", "--home", str(home), "register", str(folder), "--json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line)["status"] for line in done.stdout.splitlines()]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _index_rows(engine: Engine) -> dict[str, Any]:
    """The engine's search indexes for its signals, through the workspace's cache-or-rebuild logic."""
    by_key = {s.key: s for s in engine.signals}
    layout: dict[str, tuple[str, int]] = {s.key: lay for s in engine.signals if (lay := s.index_layout()) is not None}

    def rows(key: str, data: bytes) -> tuple[np.ndarray, np.ndarray]:
        entries = by_key[key].index_entries(by_key[key].from_bytes(data))
        assert entries is not None
        return entries.rows, entries.region_ids

    return engine.workspace.indexes(layout, rows)


class Checker:
    """Consistency checks after every kill and every completed run; remembers what must never be lost."""

    def __init__(self, home: Path, sources: dict[str, Path], rng: random.Random) -> None:
        self.home = home
        self.sources = sources  # sha256 -> source image
        self.rng = rng
        self.seen: dict[str, str] = {}  # sha256 -> ref of every work ever seen registered
        self.scanned: set[str] = set()
        self.note = ""
        self.stats: dict[str, int | bool] = {}

    def check(self, context: str, completed: bool) -> set[str]:
        db = sqlite3.connect(self.home / "registry.sqlite")
        try:
            assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)], context
            assert db.execute("PRAGMA foreign_key_check").fetchall() == [], context
        finally:
            db.close()

        engine = Engine.open(str(self.home))
        try:
            return self._check(engine, context, completed)
        finally:
            engine.close()

    def _check(self, engine: Engine, context: str, completed: bool) -> set[str]:
        reg = engine.workspace.registry
        works = reg.works()
        by_sha = {w.sha256: w for w in works}
        assert len(by_sha) == len(works), context

        # nothing lost: every work ever seen is still registered, under the same ref
        for sha, ref in self.seen.items():
            assert sha in by_sha, f"{context}: work {ref} was lost"
            assert by_sha[sha].ref == ref, context

        # nothing half-registered: vault file intact, every descriptor, one audit line and one generation each
        expected_signals = {s.key for s in engine.signals}
        for w in works:
            assert w.sha256 in self.sources, f"{context}: unknown work {w.ref}"
            stored = engine.workspace.vault.path(w.sha256)
            assert stored.is_file(), f"{context}: {w.ref} has no vault file"
            data = stored.read_bytes()
            assert _sha(data) == w.sha256, f"{context}: {w.ref} vault file is corrupt"
            assert data == self.sources[w.sha256].read_bytes(), context
            assert w.size_bytes == len(data), context
            assert reg.signals_of(w.id) == expected_signals, f"{context}: {w.ref} lacks descriptors"
            for key in expected_signals:
                assert reg.descriptors([w.id], key)[w.id], f"{context}: {w.ref} has an empty {key} descriptor"
        registrations = [a for a in reg.audit_trail() if a["action"] == "register"]
        assert sorted(str(a["sha256"]) for a in registrations) == sorted(by_sha), f"{context}: audit out of step"
        assert reg.generation() == len(works), f"{context}: generation out of step with the works"

        # the vault: only whole files; after a completed run, nothing that is not a registered work
        vault = _vault_files(self.home)
        for f in vault:
            assert _sha(f.read_bytes()) == f.name, f"{context}: torn vault file {f.name}"
        orphans = {f.name for f in vault} - set(by_sha)
        temporaries = [f for sub in (self.home / "vault").iterdir() if sub.is_dir() for f in sub.glob(".incoming-*")]
        if completed:
            assert not orphans, f"{context}: vault files without a work survived a register run: {orphans}"
            assert not temporaries, f"{context}: half-written vault temporaries survived a register run"
        else:
            assert orphans <= set(self.sources), context
            assert len(orphans) <= 1, f"{context}: more than the one in-flight registration orphaned: {orphans}"

        # the search index (cached or rebuilt) holds exactly the registered works' rows
        state = engine.workspace.index_state()
        self.stats = {
            "new": len(set(by_sha) - set(self.seen)),
            "orphans": len(orphans),
            "temporaries": len(temporaries),
            "stale": state.get("generation") != reg.generation(),
        }
        self.note = (
            f"{self.stats['new']} new works, {len(orphans)} orphan and {len(temporaries)} temporary vault files, "
            f"index cache {'stale' if self.stats['stale'] else 'current'}"
        )
        if completed:
            assert state.get("generation") == reg.generation(), f"{context}: index cache not saved"
        indexes = _index_rows(engine)
        signals = {s.key: s for s in engine.signals}
        for key, index in indexes.items():
            want: collections.Counter[int] = collections.Counter()
            for work_id, blob in reg.iter_descriptors(key):
                entries = signals[key].index_entries(signals[key].from_bytes(blob))
                assert entries is not None
                want[work_id] += len(entries.rows)
            assert collections.Counter(index.work_ids.tolist()) == want, f"{context}: index {key} out of step"

        # and scanning finds each work as itself: every new work once, plus one older work each time
        fresh = [w for w in works if w.sha256 not in self.scanned]
        older = [w for w in works if w.sha256 in self.scanned]
        for w in fresh + self.rng.sample(older, min(1, len(older))):
            self._scan_finds_itself(engine, w, context)
            self.scanned.add(w.sha256)

        self.seen.update({w.sha256: w.ref for w in works})
        return set(by_sha)

    def _scan_finds_itself(self, engine: Engine, work: WorkRecord, context: str) -> None:
        source = self.sources[work.sha256]
        result = engine.scan(InputItem(str(source), source.read_bytes))
        assert result.error is None, context
        assert result.matches, f"{context}: scanning {work.ref} found nothing"
        top = result.matches[0]
        assert (top.ref, top.work_sha256, top.verdict) == (work.ref, work.sha256, "copy"), context
        assert result.verdict == "copy", context


def test_register_survives_sigkill(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    env = offline_env(tmp_path)
    home = tmp_path / "ws"
    Engine.init(str(home), ["effnet-lite0"]).close()

    plan = _plan(rng)
    folders = []
    sources: dict[str, Path] = {}
    for b in range(len(plan)):
        folder = tmp_path / f"batch{b}"
        for path in make_images(folder, PER_BATCH, seed=SEED + b, prefix=f"b{b}-"):
            sources[_sha(path.read_bytes())] = path
        folders.append(folder)
    assert len(sources) == len(plan) * PER_BATCH, "test images must be distinct"

    checker = Checker(home, sources, rng)
    log = []
    before = checker.check("before any register run", completed=False)
    for b, (folder, kill) in enumerate(zip(folders, plan, strict=True)):
        log.append(_register_killed(home, folder, kill, env))
        after_kill = checker.check(f"round {b} after '{log[-1]}'", completed=False)
        log[-1] += f"; then {checker.note}"
        assert after_kill >= before
        if kill.after == "point":  # the kill landed where planned
            assert checker.stats == _expected(kill.point, kill.count), log[-1]
        last = b == len(plan) - 1
        statuses = _complete_with_cli(home, folder, env) if last else _complete_in_process(home, folder)
        assert len(statuses) == PER_BATCH and set(statuses) <= {"registered", "duplicate"}, statuses
        done = checker.check(f"round {b} after the completing run", completed=True)
        assert done >= after_kill
        assert len(done) == (b + 1) * PER_BATCH, f"round {b}: works missing after a complete run"
        assert statuses.count("registered") == len(done - after_kill), f"round {b}: {statuses}"
        before = done
    assert checker.scanned == set(sources)
    print("\n".join(log))


# -- the generation-stamped index cache -------------------------------------------------------------


@pytest.fixture
def engine_with_works(tmp_path: Path) -> Iterator[tuple[Engine, list[Path]]]:
    images = make_images(tmp_path / "works", 4, seed=3)
    engine = Engine.init(str(tmp_path / "ws"), ["effnet-lite0"])
    try:
        yield engine, images
    finally:
        engine.close()


def _register(engine: Engine, path: Path) -> None:
    assert engine.register(next(expand([str(path)])), WorkMetadata()).status == "registered"


def _spy_rebuilds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the signal keys whose index the workspace rebuilds from the registry (instead of loading)."""
    rebuilt: list[str] = []
    real_rebuild = Workspace._rebuild

    def spy(self: Workspace, key: str, *args: Any) -> Any:
        rebuilt.append(key)
        return real_rebuild(self, key, *args)

    monkeypatch.setattr(Workspace, "_rebuild", spy)
    return rebuilt


def test_stale_index_cache_is_detected_and_rebuilt(
    engine_with_works: tuple[Engine, list[Path]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash after a registry commit but before the index save leaves state.json a generation behind."""
    engine, images = engine_with_works
    home = engine.workspace.home
    for p in images[:2]:
        _register(engine, p)
    old_state = json.loads((home / "index" / "state.json").read_text())
    assert old_state["generation"] == 2
    old_index = home.parent / "index-at-generation-2"
    shutil.copytree(home / "index", old_index)
    for p in images[2:]:
        _register(engine, p)
    engine.close()
    # put back the caches of generation 2: the state the disk is in when the last save never happened
    shutil.rmtree(home / "index")
    shutil.copytree(old_index, home / "index")

    rebuilt = _spy_rebuilds(monkeypatch)
    reopened = Engine.open(str(home))
    try:
        assert reopened.workspace.registry.generation() == 4
        for p in images:  # the works missing from the stale caches are found too
            result = reopened.scan(next(expand([str(p)])))
            assert result.verdict == "copy" and result.matches[0].ref == p.stem
        assert set(rebuilt) == {s.key for s in reopened.signals if s.index_layout() is not None}
        # a later register run saves caches stamped with the current generation
        assert reopened.register_many([]) == []
        assert reopened.workspace.index_state()["generation"] == 4
    finally:
        reopened.close()

    rebuilt.clear()
    fresh = Engine.open(str(home))
    try:
        assert fresh.scan(next(expand([str(images[3])]))).matches[0].ref == images[3].stem
        assert rebuilt == [], "an up-to-date cache must load, not rebuild"
    finally:
        fresh.close()


def test_tampered_index_file_is_rebuilt(
    engine_with_works: tuple[Engine, list[Path]], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, images = engine_with_works
    home = engine.workspace.home
    for p in images[:2]:
        _register(engine, p)
    engine.close()
    state = json.loads((home / "index" / "state.json").read_text())
    victim = next((home / "index").glob("embedding*.faiss"))
    victim.write_bytes(victim.read_bytes()[:-8])  # same generation, but not the file the state vouches for

    rebuilt = _spy_rebuilds(monkeypatch)
    reopened = Engine.open(str(home))
    try:
        assert reopened.workspace.index_state()["generation"] == state["generation"]
        for p in images[:2]:
            assert reopened.scan(next(expand([str(p)]))).matches[0].ref == p.stem
        assert rebuilt, "a cache file whose hash differs from state.json must not be loaded"
    finally:
        reopened.close()


# -- workspace-level cache behaviour (no network, no embedder) --------------------------------------

DIM = 4


def _rows(_key: str, data: bytes) -> tuple[np.ndarray, np.ndarray]:
    rows = np.frombuffer(data, dtype=np.float32).reshape(-1, DIM)
    return rows, np.arange(len(rows), dtype=np.int32)


def _add_work(ws: Workspace, n: int, keys: list[str]) -> None:
    vec = np.zeros((2, DIM), dtype=np.float32)
    vec[:, n % DIM] = 1.0
    record = WorkRecord(
        ref=f"w{n}", sha256=f"{n:064x}", size_bytes=1, width=1, height=1, format="png", original_name="x"
    )
    work = ws.registry.add_work(record, [(k, 1, vec.tobytes()) for k in keys])
    ws.note_added({k: (vec, np.arange(2, dtype=np.int32)) for k in keys}, work.id)


def test_index_files_of_keys_with_dots_do_not_collide(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Embedder specs hold paths; a '.' early in the key must not let Path.with_suffix drop the key's hash."""
    keys = ["embedding:clip:ViT-B-32:/home/me/.cache/a.bin", "embedding:clip:ViT-B-32:/home/me/.cache/b.bin"]
    layout = {k: ("vector", DIM) for k in keys}
    ws = Workspace.create(tmp_path / "ws", [("effnet-lite0", "effnet-lite0", "0" * 64, 1280)], 1000, "test")
    ws.indexes(layout, _rows)
    for n in range(3):
        _add_work(ws, n, keys)
    ws.save_indexes()
    ws.close()
    assert len(list((tmp_path / "ws" / "index").glob("*.faiss"))) == len(keys)

    rebuilt = _spy_rebuilds(monkeypatch)
    again = Workspace(tmp_path / "ws")
    try:
        loaded = again.indexes(layout, _rows)
        assert rebuilt == []
        assert {k: len(v) for k, v in loaded.items()} == {k: 6 for k in keys}
    finally:
        again.close()


def test_cached_indexes_cover_a_wider_layout(tmp_path: Path) -> None:
    """Indexes loaded for a scan (fewer signals) must not be reused for a registration needing more."""
    narrow, wide = ["sig-a"], ["sig-a", "sig-b"]
    ws = Workspace.create(tmp_path / "ws", [("effnet-lite0", "effnet-lite0", "0" * 64, 1280)], 1000, "test")
    try:
        _add_work(ws, 0, wide)
        assert set(ws.indexes({k: ("vector", DIM) for k in narrow}, _rows)) == set(narrow)
        loaded = ws.indexes({k: ("vector", DIM) for k in wide}, _rows)
        assert set(loaded) == set(wide)
        _add_work(ws, 1, wide)  # must not fail for the signal the scan did not load
        assert {k: len(v) for k, v in ws.indexes({k: ("vector", DIM) for k in wide}, _rows).items()} == {
            "sig-a": 4,
            "sig-b": 4,
        }
    finally:
        ws.close()


def test_registry_survives_reopen_while_index_is_absent(tmp_path: Path) -> None:
    """Deleting the index folder loses nothing: it is only a cache of the registry."""
    ws = Workspace.create(tmp_path / "ws", [("effnet-lite0", "effnet-lite0", "0" * 64, 1280)], 1000, "test")
    keys = ["sig-a"]
    ws.indexes({k: ("vector", DIM) for k in keys}, _rows)
    for n in range(2):
        _add_work(ws, n, keys)
    ws.save_indexes()
    ws.close()
    shutil.rmtree(tmp_path / "ws" / "index")
    again = Workspace(tmp_path / "ws")
    try:
        assert again.registry.count() == 2
        assert len(again.indexes({k: ("vector", DIM) for k in keys}, _rows)["sig-a"]) == 4
    finally:
        again.close()
