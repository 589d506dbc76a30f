"""Nothing on a seized disk stops a batch, hangs it, or destroys evidence (issue: hardening).

Each test tries what a hostile or careless user would: thin spacer images, names that are not UTF-8 or hold markup,
FIFOs and links to devices, PNG text bombs, float TIFFs, an output file over an input, a bundle re-signed with a
stranger's key, a read-only home, a full disk, a corrupt workspace, a writer holding the lock. Workspace faults are
injected for real (a read-only bind mount, a tiny tmpfs) where this machine allows mounts, since CI runs as root
and chmod would not stop it.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from helpers_clip import REPO, offline_env
from PIL import Image, PngImagePlugin

from index.keys import load_or_create
from service.engine import Engine, WorkMetadata
from service.inputs import InputItem, expand

DEMO = REPO / "samples" / "demo"
NIGHT_CAFE = DEMO / "originals" / "vangogh-night-cafe.jpg"


def semblance(
    home: Path | None, *args: str, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    head = ["--home", str(home)] if home is not None else []
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *head, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**env, "NO_COLOR": "1", "COLUMNS": "250"},
        timeout=timeout,
    )


def no_traceback(p: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in p.stderr + p.stdout, p.stderr


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return offline_env(tmp_path_factory.mktemp("env"))


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Path:
    """A workspace holding the four demo originals."""
    h = tmp_path_factory.mktemp("hardening") / "ws"
    assert semblance(h, "init", "--embedder", "effnet-lite0", env=env).returncode == 0
    assert semblance(h, "register", "--manifest", str(DEMO / "works.csv"), env=env).returncode == 0
    return h


@pytest.fixture(scope="module")
def engine(home: Path) -> Iterator[Engine]:
    e = Engine.open(str(home))
    yield e
    e.close()


def noise_png(w: int, h: int, seed: int = 0) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def item(name: str, data: bytes) -> InputItem:
    return InputItem(name, reader=lambda: data)


def mount_or_skip(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"this machine does not allow mounts here ({done.stderr.strip()})")


# --- every item isolated ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(1000, 2), (640, 1), (2, 1000), (65500, 2)])
def test_a_thin_spacer_is_compared_by_what_still_works(engine: Engine, size: tuple[int, int]) -> None:
    results = list(engine.scan_many([item("spacer.png", noise_png(*size)), item("cafe.jpg", NIGHT_CAFE.read_bytes())]))
    spacer, cafe = results
    assert spacer.error is None
    assert "keypoints" in spacer.signals_not_run and "too thin" in spacer.signals_not_run["keypoints"]
    assert spacer.to_json()["signals_not_run"] == spacer.signals_not_run
    assert cafe.verdict == "copy" and cafe.matches[0].ref == "vangogh-night-cafe"


def test_a_thin_work_registers_without_keypoints_and_says_so(tmp_path: Path) -> None:
    e = Engine.init(str(tmp_path / "ws"), ["effnet-lite0"])
    try:
        outcome = e.register(item("divider.png", noise_png(1000, 2)), WorkMetadata(ref="divider"))
        assert outcome.status == "registered" and "keypoints not computed" in outcome.message
        work = e.work("divider")
        assert work is not None and "keypoints" not in e.workspace.registry.signals_of(work.id)
        found = e.scan(item("again.png", noise_png(1000, 2)))
        assert found.matches and found.matches[0].ref == "divider"
        assert "not_run" in found.matches[0].signals["keypoints"]
    finally:
        e.close()


def test_a_signal_failing_on_one_picture_is_its_error(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    pdq = next(s for s in engine.signals if s.name == "pdq")
    real = pdq.compute_query

    def fragile(image):  # type: ignore[no-untyped-def]
        if image.name == "poison.png":
            raise ValueError("synthetic failure")
        return real(image)

    monkeypatch.setattr(pdq, "compute_query", fragile)
    poison, cafe = engine.scan_many([item("poison.png", noise_png(80, 80)), item("cafe.jpg", NIGHT_CAFE.read_bytes())])
    assert poison.error is not None and "pdq signal failed" in poison.error and "synthetic failure" in poison.error
    assert cafe.verdict == "copy"


def test_an_item_past_its_time_budget_is_its_own_error(engine: Engine) -> None:
    def stuck() -> bytes:
        time.sleep(30)
        return b""

    engine.item_seconds = 5.0  # a real scan of the cafe takes well under a second
    try:
        started = time.monotonic()
        slow, cafe = engine.scan_many([InputItem("stuck.jpg", reader=stuck), item("cafe.jpg", NIGHT_CAFE.read_bytes())])
    finally:
        engine.item_seconds = 120.0
    assert time.monotonic() - started < 20
    assert slow.error is not None and "time budget of 5 s" in slow.error
    assert cafe.error is None and cafe.verdict == "copy"


def test_a_budget_running_out_while_decoding_is_reported_as_a_timeout(engine: Engine) -> None:
    big = noise_png(4000, 4000)  # 16 megapixels of noise: its decode alone takes far longer than the budget
    engine.item_seconds = 0.05
    try:
        result = engine.scan(item("big.png", big))
    finally:
        engine.item_seconds = 120.0
    # not "truncated or corrupt (took longer ...)": the decoder must not swallow the timeout and retry unbudgeted
    assert result.error is not None and result.error.startswith("took longer than its time budget"), result.error


def test_registration_outcomes_are_committed_as_they_stream(tmp_path: Path) -> None:
    e = Engine.init(str(tmp_path / "ws"), ["effnet-lite0"])
    originals = sorted((DEMO / "originals").glob("*.jpg"))
    try:
        stream = e.register_each([(item(p.name, p.read_bytes()), WorkMetadata(ref=p.stem)) for p in originals])
        first = next(stream)
        reader = sqlite3.connect(f"file:{tmp_path / 'ws' / 'registry.sqlite'}?mode=ro", uri=True)
        try:  # another process sees the first work before the batch has gone on
            assert reader.execute("SELECT ref FROM works").fetchall() == [(first.ref,)]
        finally:
            reader.close()
        assert [o.status for o in stream] == ["registered"] * (len(originals) - 1)
    finally:
        e.close()


# --- the walker ---------------------------------------------------------------------------------------------------


def test_special_files_in_a_folder_are_refused_unopened(home: Path, env: dict[str, str], tmp_path: Path) -> None:
    seized = tmp_path / "seized"
    seized.mkdir()
    os.mkfifo(seized / "pipe.jpg")
    os.symlink("/dev/zero", seized / "x.jpg")
    os.symlink("missing.png", seized / "gone.png")
    shutil.copy(NIGHT_CAFE, seized / "z-cafe.jpg")
    out = tmp_path / "out.jsonl"
    done = semblance(home, "scan", str(seized), "--jsonl", str(out), env=env, timeout=120)
    no_traceback(done)
    assert done.returncode == 0, done.stderr
    lines = {Path(x["path"]).name: x for x in map(json.loads, out.read_text().splitlines())}
    assert "FIFO" in lines["pipe.jpg"]["error"] and "not opened" in lines["pipe.jpg"]["error"]
    assert "character device" in lines["x.jpg"]["error"]
    assert "broken symbolic link" in lines["gone.png"]["error"]
    assert lines["z-cafe.jpg"]["verdict"] == "copy"


# --- names are data -----------------------------------------------------------------------------------------------


def test_a_name_that_is_not_utf8_is_kept_losslessly(home: Path, env: dict[str, str], tmp_path: Path) -> None:
    seized = tmp_path / "dump"
    seized.mkdir()
    raw = os.fsencode(seized) + b"/caf\xe9.jpg"
    with open(raw, "wb") as f:
        f.write(NIGHT_CAFE.read_bytes())
    out = tmp_path / "out.jsonl"
    done = semblance(home, "scan", str(seized), "--jsonl", str(out), env=env)
    assert done.returncode == 0, done.stderr
    (line,) = map(json.loads, out.read_text(encoding="utf-8").splitlines())
    assert line["path"].endswith("caf\\xe9.jpg") and line["verdict"] == "copy"
    assert base64.b64decode(line["path_bytes_b64"]) == raw

    target = tmp_path / "ws-names"
    semblance(target, "init", "--embedder", "effnet-lite0", env=env)
    reg = semblance(target, "register", str(seized), "--json", env=env)
    assert reg.returncode == 0, reg.stderr
    (outcome,) = map(json.loads, reg.stdout.splitlines())
    assert outcome["status"] == "registered" and base64.b64decode(outcome["path_bytes_b64"]) == raw
    shown = json.loads(semblance(target, "works", "show", outcome["ref"], "--json", env=env).stdout)
    assert shown["original_name"] == "caf\\xe9.jpg"
    assert base64.b64decode(shown["metadata"]["original_name_bytes_b64"]) == raw


def test_markup_and_escapes_in_refs_and_names_are_shown_as_data(env: dict[str, str], tmp_path: Path) -> None:
    home = tmp_path / "ws"
    semblance(home, "init", "--embedder", "effnet-lite0", env=env)
    evil = tmp_path / "\x1b[31mred\u202egnp.jpg"
    shutil.copy(NIGHT_CAFE, evil)
    reg = semblance(home, "register", str(evil), "--ref", "[/x]", "--title", "[bold]t[/bold]", env=env)
    no_traceback(reg)
    assert reg.returncode == 0 and "[/x]" in reg.stdout and "\x1b" not in reg.stdout and "\\x1b" in reg.stdout
    for args in (("works", "list"), ("works", "show", "[/x]"), ("scan", str(evil)), ("info",)):
        shown = semblance(home, *args, env=env)
        no_traceback(shown)
        assert shown.returncode == 0, (args, shown.stderr)
        assert "\x1b" not in shown.stdout and "\u202e" not in shown.stdout
    assert "[/x]" in semblance(home, "works", "list", env=env).stdout
    removed = semblance(home, "works", "remove", "[/x]", "--reason", "[/y] test", env=env)
    no_traceback(removed)
    assert removed.returncode == 0 and "[/x]" in removed.stdout


# --- accept what libpng accepts --------------------------------------------------------------------------------


def test_a_png_text_bomb_does_not_hide_a_registered_picture(engine: Engine) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("comment", "A" * 2_000_000, zip=True)  # 2 KB compressed, 2 MB inflated: past Pillow's cap
    buf = io.BytesIO()
    Image.open(NIGHT_CAFE).save(buf, "PNG", pnginfo=info)
    assert len(zlib.compress(b"A" * 2_000_000)) < 5000
    result = engine.scan(item("cafe-with-comment.png", buf.getvalue()))
    assert result.error is None and result.verdict == "copy"
    assert result.intake_notes and "zTXt" in result.intake_notes[0]


def test_a_float_tiff_on_0_to_1_is_scaled_not_blank(engine: Engine) -> None:
    grey = np.asarray(Image.open(NIGHT_CAFE).convert("L"), dtype=np.float32) / 255.0
    buf = io.BytesIO()
    Image.fromarray(grey).save(buf, "TIFF")
    result = engine.scan(item("cafe-float.tif", buf.getvalue()))
    assert result.error is None, result.error
    assert result.matches and result.matches[0].ref == "vangogh-night-cafe"


# --- never overwrite evidence ----------------------------------------------------------------------------------


def test_jsonl_never_overwrites_an_input_or_an_existing_file(home: Path, env: dict[str, str], tmp_path: Path) -> None:
    seized = tmp_path / "phone"
    seized.mkdir()
    for n in (1, 2):
        shutil.copy(NIGHT_CAFE, seized / f"IMG_000{n}.png")
    before = (seized / "IMG_0001.png").read_bytes()
    # the shell expanded `--jsonl IMG_000*.png`: the first image became the output file
    glob = semblance(home, "scan", "--jsonl", str(seized / "IMG_0001.png"), str(seized / "IMG_0002.png"), env=env)
    assert glob.returncode == 2 and "image" in glob.stderr
    forced = semblance(home, "scan", str(seized), "--jsonl", str(seized / "IMG_0001.png"), "--force", env=env)
    assert forced.returncode == 2
    listing = tmp_path / "listing.csv"
    listing.write_text("path\nphone/IMG_0002.png\n")
    onto_manifest = semblance(home, "scan", "--manifest", str(listing), "--jsonl", str(listing), "--force", env=env)
    assert onto_manifest.returncode == 2 and "one of the inputs" in onto_manifest.stderr
    assert (seized / "IMG_0001.png").read_bytes() == before and listing.read_text().startswith("path")

    existing = tmp_path / "findings.jsonl"
    existing.write_text("earlier findings\n")
    assert semblance(home, "scan", str(seized), "--jsonl", str(existing), env=env).returncode == 2
    assert existing.read_text() == "earlier findings\n"
    fresh = tmp_path / "new.jsonl"
    wrong_home = semblance(tmp_path / "no-such-ws", "scan", str(seized), "--jsonl", str(fresh), env=env)
    assert wrong_home.returncode == 2 and not fresh.exists()
    replaced = semblance(home, "scan", str(seized), "--jsonl", str(existing), "--force", env=env)
    assert replaced.returncode == 0 and len(existing.read_text().splitlines()) == 2


def test_report_never_replaces_a_bundle_and_verify_names_the_key(
    home: Path, env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "reports"
    suspect = str(DEMO / "suspects" / "crop_night_cafe.jpg")
    assert semblance(home, "report", suspect, "--out", str(out), env=env).returncode == 0
    first = out / "crop_night_cafe-bundle"
    manifest = (first / "manifest.json").read_bytes()
    second_run = semblance(home, "report", suspect, "--out", str(out), env=env)
    assert second_run.returncode == 0 and "crop_night_cafe-bundle-2" in second_run.stdout
    assert (first / "manifest.json").read_bytes() == manifest

    untrusted = semblance(None, "verify-report", str(first), env=env)
    assert untrusted.returncode == 3 and "valid signature, untrusted key" in untrusted.stdout
    key = json.loads(manifest)["public_key_fingerprint_sha256"]
    assert key in untrusted.stdout.replace("\n", "")
    by_home = semblance(home, "verify-report", str(first), env=env)
    assert by_home.returncode == 0 and "trusted as the signing key of the workspace" in by_home.stdout
    assert semblance(None, "verify-report", str(first), "--fingerprint", key, env=env).returncode == 0
    keys = tmp_path / "trusted.txt"
    keys.write_text(f"# the office's examiners\n{key}  J. Doe\n")
    listed = semblance(None, "verify-report", str(first), "--trusted-keys", str(keys), env=env)
    assert listed.returncode == 0 and "J. Doe" in listed.stdout

    # edited and re-signed with a key of the forger's own: intact, but not trusted
    forged = tmp_path / "forged"
    shutil.copytree(first, forged)
    evidence = json.loads((forged / "evidence.json").read_text())
    evidence["overall_verdict"] = "no_match"
    (forged / "evidence.json").write_text(json.dumps(evidence))
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from service.reports.bundle import _sign

    _sign(forged, Ed25519PrivateKey.generate())
    resigned = semblance(home, "verify-report", str(forged), env=env)
    assert resigned.returncode == 3 and "untrusted key" in resigned.stdout

    broken = tmp_path / "broken"
    shutil.copytree(first, broken)
    (broken / "manifest.json").write_text("[1, 2, 3]")
    listed_manifest = semblance(home, "verify-report", str(broken), env=env)
    no_traceback(listed_manifest)
    assert listed_manifest.returncode == 1 and "not a Semblance manifest" in listed_manifest.stderr


# --- workspace faults --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def read_only_view(src: Path, at: Path) -> Iterator[Path]:
    """`src` bind-mounted read-only at `at` (a read-only mount as evidence media give), unmounted afterwards."""
    at.mkdir(exist_ok=True)
    mount_or_skip("--bind", str(src), str(at))
    try:
        mount_or_skip("-o", "remount,bind,ro", str(at))
        yield at
    finally:
        subprocess.run(["umount", str(at)], check=False)


def assert_refused(done: subprocess.CompletedProcess[str], *words: str) -> None:
    """A one-line refusal: exit 2, no traceback, and the message says `words`."""
    no_traceback(done)
    assert done.returncode == 2 and all(w in done.stderr for w in words), done.stderr


def test_a_read_only_home_lists_scans_and_reports_elsewhere(home: Path, env: dict[str, str], tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(home, src)
    shutil.rmtree(src / "keys", ignore_errors=True)  # as if it had never signed a report
    with read_only_view(src, tmp_path / "ro") as ro:
        unsigned = semblance(ro, "report", str(NIGHT_CAFE), "--out", str(tmp_path / "early"), env=env)
        assert_refused(unsigned, "signing key cannot be made")
    load_or_create(src)  # the key a first report made while the workspace was writable
    with read_only_view(src, tmp_path / "ro") as ro:
        listed = semblance(ro, "works", "list", env=env)
        assert listed.returncode == 0 and "vangogh-night-cafe" in listed.stdout
        assert listed.stderr.count("read-only") == 1
        scanned = semblance(ro, "scan", str(NIGHT_CAFE), "--json", env=env)
        assert scanned.returncode == 0 and json.loads(scanned.stdout)[0]["verdict"] == "copy"
        reported = semblance(ro, "report", str(NIGHT_CAFE), "--out", str(tmp_path / "reports"), env=env)
        assert reported.returncode == 0, reported.stderr
        registered = semblance(ro, "register", str(DEMO / "suspects" / "unrelated_coffee.jpg"), env=env)
        assert_refused(registered, "cannot register", "read-only")


def test_a_read_only_home_reads_sellers_and_refuses_calibration_in_one_line(
    home: Path, env: dict[str, str], tmp_path: Path
) -> None:
    """The commands that only read the service store (sellers, accounts, the supervision picture) work on a read-only
    workspace and write nothing there; one that writes (calibrate) says why it cannot, without a traceback."""
    src = tmp_path / "src"
    shutil.copytree(home, src)
    swept = semblance(
        src, "sweep", str(DEMO / "listings" / "sweep-2026-10.csv"), "--out", str(tmp_path / "sw"), env=env
    )
    assert swept.returncode == 0, swept.stderr
    ranked = json.loads(semblance(src, "offenders", "--json", env=env).stdout)
    assert ranked["sellers"], "the demo sweep links sellers to works"
    with read_only_view(src, tmp_path / "ro") as ro:
        read = semblance(ro, "offenders", "--json", env=env)
        no_traceback(read)
        assert read.returncode == 0 and json.loads(read.stdout) == ranked
        assert read.stderr.count("read-only") == 1
        seller = str(ranked["sellers"][0]["seller_id"])
        assert json.loads(semblance(ro, "offenders", "--seller", seller, "--json", env=env).stdout)
        for command in (("users", "list"), ("api-keys", "list"), ("supervision", "show", "--month", "2026-10")):
            shown = semblance(ro, *command, env=env)
            no_traceback(shown)
            assert shown.returncode == 0, (command, shown.stderr)
        assert_refused(semblance(ro, "calibrate", env=env), "cannot calibrate", "read-only")


def test_careless_arguments_are_one_line_refusals_that_change_nothing(
    home: Path, env: dict[str, str], tmp_path: Path
) -> None:
    """A removal without its reason, a seller id past SQLite's integers, a sweep's --out onto an existing file."""
    assert_refused(semblance(home, "works", "remove", "vangogh-night-cafe", env=env), "--reason")
    listed = semblance(home, "works", "list", env=env)
    assert "vangogh-night-cafe" in listed.stdout
    assert_refused(semblance(home, "offenders", "--seller", "9" * 24, env=env), "--seller")
    target = tmp_path / "passwd"
    target.write_text("root:x:0:0\n")
    onto_file = semblance(home, "sweep", str(DEMO / "listings" / "sweep-2026-10.csv"), "--out", str(target), env=env)
    assert_refused(onto_file, "exists and is not a folder")
    assert target.read_text() == "root:x:0:0\n"


def test_a_full_disk_stops_registration_cleanly(env: dict[str, str], tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    mount_or_skip("-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk))
    try:
        home = disk / "ws"
        assert semblance(home, "init", "--embedder", "effnet-lite0", env=env).returncode == 0
        batch = tmp_path / "batch"
        batch.mkdir()
        for n in range(12):  # distinct large files: together several times the disk
            Image.fromarray(np.random.default_rng(n).integers(0, 256, (400, 500, 3), dtype=np.uint8)).save(
                batch / f"w{n:02d}.png"
            )
        done = semblance(home, "register", str(batch), "--json", env=env)
        no_traceback(done)
        assert done.returncode == 2 and "disk holding the workspace is full" in done.stderr
        committed = [json.loads(x) for x in done.stdout.splitlines()]
        assert all(o["status"] == "registered" for o in committed)
        listed = json.loads(semblance(home, "works", "list", "--json", env=env).stdout)
        assert sorted(w["sha256"] for w in listed) == sorted(o["sha256"] for o in committed)
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_a_full_disk_stops_a_report_cleanly_and_is_named_as_full(
    home: Path, env: dict[str, str], tmp_path: Path
) -> None:
    """A report on a nearly full disk is refused in one line and leaves no half bundle; on a disk without one free
    page the workspace is said to be on a full disk, not a damaged registry to restore; freed, it reports as before."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mount_or_skip("-t", "tmpfs", "-o", "size=24m", "tmpfs", str(disk))
    try:
        ws = disk / "ws"
        shutil.copytree(home, ws)
        filler = disk / "filler"
        free = shutil.disk_usage(disk).free
        with filler.open("wb") as f:  # room to open the workspace, not for a bundle's PDF and figures
            f.write(b"\0" * (free - 600_000))
        reports = disk / "reports"
        refused = semblance(ws, "report", str(NIGHT_CAFE), "--out", str(reports), env=env)
        assert_refused(refused, "could not be written (the disk is full)", "nothing was recorded")
        assert not any(reports.iterdir())  # what was written of the bundle is gone
        with filler.open("ab", buffering=0) as f, contextlib.suppress(OSError):  # every last page
            while True:
                f.write(b"\0" * 4096)
        assert not (ws / "registry.sqlite-shm").exists()  # closed cleanly: opening must make it again
        full = semblance(ws, "works", "list", env=env)
        assert_refused(full, f"the disk holding {ws} is full")
        assert "restore" not in full.stderr, full.stderr
        filler.unlink()
        made = semblance(ws, "report", str(NIGHT_CAFE), "--out", str(reports), env=env)
        assert made.returncode == 0, made.stderr
        assert semblance(ws, "verify-report", str(next(reports.iterdir())), env=env).returncode == 0
    finally:
        subprocess.run(["umount", str(disk)], check=False)


@pytest.mark.parametrize(
    "damage", ["config-garbage", "config-no-embedders", "config-list", "registry-garbage", "registry-missing"]
)
def test_a_damaged_workspace_gets_a_message_that_says_what_to_do(
    home: Path, env: dict[str, str], tmp_path: Path, damage: str
) -> None:
    ws = tmp_path / "ws"
    shutil.copytree(home, ws)
    config = ws / "config.json"
    if damage == "config-garbage":
        config.write_text("{not json")
    elif damage == "config-no-embedders":
        config.write_text(json.dumps({k: v for k, v in json.loads(config.read_text()).items() if k != "embedders"}))
    elif damage == "config-list":
        config.write_text("[]")
    elif damage == "registry-garbage":
        (ws / "registry.sqlite").write_bytes(b"this is not a database" * 100)
    else:
        (ws / "registry.sqlite").unlink()
    done = semblance(ws, "works", "list", env=env)
    no_traceback(done)
    assert done.returncode == 2
    assert "restore" in done.stderr


def test_a_waiting_scan_says_what_it_waits_for(home: Path, env: dict[str, str]) -> None:
    with open(home / "lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        lock.truncate(0)
        lock.write("pid 4242: register\n")
        lock.flush()
        proc = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "--home", str(home), "scan", str(NIGHT_CAFE), "--json"],
            cwd=REPO,
            env={**env, "NO_COLOR": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stderr is not None
        first = proc.stderr.readline()  # blocks until the scan has something to say
        assert "waiting for a Semblance process that is writing" in first and "pid 4242: register" in first
        assert proc.poll() is None
        fcntl.flock(lock, fcntl.LOCK_UN)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0 and json.loads(out)[0]["verdict"] == "copy"


def test_an_empty_manifest_is_an_error(home: Path, env: dict[str, str], tmp_path: Path) -> None:
    manifest = tmp_path / "empty.csv"
    manifest.write_text("path,ref\n")
    for command in ("register", "scan"):
        done = semblance(home, command, "--manifest", str(manifest), env=env)
        assert done.returncode == 2 and "no rows" in done.stderr


def test_duplicate_zip_member_names_each_get_a_result(home: Path, env: dict[str, str], tmp_path: Path) -> None:
    import warnings
    import zipfile

    archive = tmp_path / "a.zip"
    with warnings.catch_warnings(), zipfile.ZipFile(archive, "w") as z:
        warnings.simplefilter("ignore")
        z.writestr("x.jpg", NIGHT_CAFE.read_bytes())
        z.writestr("x.jpg", (DEMO / "suspects" / "unrelated_coffee.jpg").read_bytes())
    names = [i.name for i in expand([str(archive)])]
    assert names == [f"{archive}!x.jpg", f"{archive}!x.jpg#2"]
    done = semblance(home, "scan", str(archive), "--json", env=env)
    verdicts = {Path(r["path"]).name: r["verdict"] for r in json.loads(done.stdout)}
    assert verdicts == {"a.zip!x.jpg": "copy", "a.zip!x.jpg#2": "no_match"}


def test_a_report_on_a_thin_spacer_builds_verifies_and_reproduces(tmp_path: Path) -> None:
    from service.reports.bundle import CaseInfo, build_bundle, reproduce_bundle, verify_bundle

    e = Engine.init(str(tmp_path / "ws"), ["effnet-lite0"])
    try:
        e.register(item("divider.png", noise_png(1000, 2)), WorkMetadata(ref="divider"))
        bundle = build_bundle(e, item("divider.png", noise_png(1000, 2)), CaseInfo(), tmp_path / "out")
    finally:
        e.close()
    assert verify_bundle(bundle).ok
    assert reproduce_bundle(bundle).ok
    evidence = json.loads((bundle / "evidence.json").read_text())
    assert evidence["matches"][0]["readings"]["keypoints"].startswith("Not compared by this signal")
    side = Image.open(bundle / "figures" / "match-1-side-by-side.jpg")
    assert side.width <= 3 * 420 * 2 + 24  # fitted, not 210,000 px wide
