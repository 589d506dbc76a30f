"""The `semblance` command line end to end on the bundled demo sample: the public contract outside tools call."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "samples" / "demo"


def semblance(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_COLOR": "1", "COLUMNS": "200"}
    p = subprocess.run(
        [sys.executable, "-m", "service.cli", "--home", str(home), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=600,
    )
    if check:
        assert p.returncode == 0, p.stderr + p.stdout
    return p


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    h = tmp_path_factory.mktemp("cli") / "ws"
    semblance(h, "init", "--embedder", "effnet-lite0")
    out = semblance(h, "register", "--manifest", str(DEMO / "works.csv"), "--json").stdout
    lines = [json.loads(x) for x in out.splitlines() if x.strip()]
    assert [x["status"] for x in lines] == ["registered"] * 4
    return h


@pytest.fixture(scope="module")
def scan_lines(home: Path, tmp_path_factory) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("scan") / "out.jsonl"
    semblance(home, "scan", str(DEMO / "suspects"), "--jsonl", str(out))
    return {Path(x["path"]).name: x for x in map(json.loads, out.read_text().splitlines())}


def expected() -> dict[str, set[str]]:
    with open(DEMO / "suspects" / "expected.csv", newline="") as f:
        return {Path(r["path"]).name: {x for x in r["expected_refs"].split(";") if x} for r in csv.DictReader(f)}


def test_every_json_line_has_the_contract_fields(scan_lines) -> None:  # type: ignore[no-untyped-def]
    assert set(scan_lines) == set(expected())
    for line in scan_lines.values():
        assert {"path", "sha256", "verdict", "matches"} <= set(line)
        assert len(line["sha256"]) == 64
        for m in line["matches"]:
            assert {"ref", "title", "score", "verdict", "signals", "region"} <= set(m)
            assert 0.0 <= m["score"] <= 1.0
            assert m["verdict"] in ("copy", "derivative")
            assert {"pdq", "phash", "embedding"} <= set(m["signals"])
        scores = [m["score"] for m in line["matches"]]
        assert scores == sorted(scores, reverse=True)


KNOWN_MISSES = {"ai_collage_cafe_bridge.jpg"}
"""The shipped effnet-lite0 calibration misses the AI-rendered collage (README, "Where the error rates stand"): its
thresholds rose to 0.99 on a registry with sibling designs. tests/test_sscd.py shows a calibrated SSCD workspace
finding both of its works."""


def test_demo_suspects_match_what_they_were_made_from(scan_lines) -> None:  # type: ignore[no-untyped-def]
    for name, refs in expected().items():
        found = {m["ref"] for m in scan_lines[name]["matches"]}
        if name in KNOWN_MISSES:
            assert scan_lines[name]["verdict"] == "no_match" and "error" not in scan_lines[name], name
        elif refs:
            assert refs <= found, (name, found)
            assert scan_lines[name]["verdict"] in ("copy", "derivative"), name
        else:
            assert scan_lines[name]["verdict"] == "no_match", (name, found)
    assert scan_lines["collage_auvers_tanguy.jpg"]["verdict"] == "copy"
    assert scan_lines["recolour_langlois_bridge.jpg"]["verdict"] == "copy"


def test_the_collage_reports_a_region_per_work(scan_lines) -> None:  # type: ignore[no-untyped-def]
    collage = scan_lines["collage_auvers_tanguy.jpg"]
    regions = {m["ref"]: m["region"] for m in collage["matches"]}
    left = regions["vangogh-church-at-auvers"]
    right = regions["vangogh-pere-tanguy"]
    assert max(x for x, _ in left) < min(x for x, _ in right)  # two different panels, side by side


def test_a_broken_file_gets_an_error_line_and_the_rest_are_scanned(home: Path, tmp_path: Path) -> None:
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 50)
    (tmp_path / "empty.png").write_bytes(b"")
    out = tmp_path / "out.jsonl"
    semblance(
        home,
        "scan",
        str(tmp_path / "broken.jpg"),
        str(tmp_path / "empty.png"),
        str(DEMO / "suspects" / "crop_night_cafe.jpg"),
        "--jsonl",
        str(out),
    )
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert "error" in lines[0] and "matches" not in lines[0]
    assert lines[0]["sha256"] == hashlib.sha256((tmp_path / "broken.jpg").read_bytes()).hexdigest()
    assert "empty" in lines[1]["error"]
    assert lines[2]["matches"][0]["ref"] == "vangogh-night-cafe"


def test_registering_again_reports_duplicates(home: Path) -> None:
    out = semblance(home, "register", str(DEMO / "originals" / "vangogh-night-cafe.jpg"), "--json").stdout
    line = json.loads(out.splitlines()[0])
    assert line["status"] == "duplicate"
    assert line["ref"] == "vangogh-night-cafe"


def test_works_list_show_and_info(home: Path) -> None:
    works = json.loads(semblance(home, "works", "list", "--json").stdout)
    assert {w["ref"] for w in works} == {
        "vangogh-night-cafe",
        "vangogh-church-at-auvers",
        "vangogh-pere-tanguy",
        "vangogh-langlois-bridge",
    }
    shown = json.loads(semblance(home, "works", "show", "vangogh-night-cafe", "--json").stdout)
    assert shown["author"] == "Vincent van Gogh"
    assert shown["audit"][0]["action"] == "register"
    info = json.loads(semblance(home, "info", "--json").stdout)
    assert info["works"] == 4
    assert info["embedders"][0]["id"] == "effnet-lite0"
    assert len(info["embedders"][0]["weights_sha256"]) == 64


def test_remove_then_scan_no_longer_matches(tmp_path: Path) -> None:
    h = tmp_path / "ws"
    semblance(h, "init", "--embedder", "effnet-lite0")
    semblance(h, "register", str(DEMO / "originals" / "vangogh-night-cafe.jpg"), "--ref", "nc", "--title", "Night Café")
    semblance(h, "works", "remove", "nc", "--reason", "test")
    out = semblance(h, "scan", str(DEMO / "suspects" / "crop_night_cafe.jpg"), "--jsonl", "-").stdout
    assert json.loads(out.splitlines()[0])["matches"] == []
    missing = semblance(h, "works", "show", "nc", check=False)
    assert missing.returncode == 2 and "no registered work" in missing.stderr


def test_errors_are_messages_not_tracebacks(tmp_path: Path) -> None:
    p = semblance(tmp_path / "nowhere", "scan", str(DEMO / "suspects"), check=False)
    assert p.returncode == 2
    assert "init" in p.stderr and "Traceback" not in p.stderr
    p = semblance(tmp_path / "ws2", "init", "--embedder", "clip:ViT-B-32:/no/such/weights.safetensors", check=False)
    assert p.returncode == 2 and "not found" in p.stderr and "Traceback" not in p.stderr
    p = semblance(tmp_path / "ws3", "init", "--embedder", "bogus", check=False)
    assert p.returncode == 2 and "unknown embedder" in p.stderr
