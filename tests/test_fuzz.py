"""The batch promise under fuzzing: a seeded corpus of a few hundred hostile files (scripts/hostile_files.py) is
scanned and registered by the real CLI. One result line per input, no traceback, good pictures judged as when
alone, registry consistent. The test runs `scripts/fuzz.py` itself, as the nightly run does in the thousands
(docs/RELIABILITY.md), and reads the report it writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from helpers_clip import offline_env

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "samples" / "demo"
FUZZ_INPUTS = int(os.environ.get("SEMBLANCE_FUZZ_INPUTS", "200"))
FUZZ_SEED = 20261201


def test_hostile_corpus_never_stops_a_batch(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    command = [sys.executable, str(REPO / "scripts" / "fuzz.py"), "--n", str(FUZZ_INPUTS), "--seed", str(FUZZ_SEED)]
    done = subprocess.run(
        [*command, "--work", str(tmp_path / "work"), "--json", str(out)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=offline_env(tmp_path),
        timeout=3600,
    )
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["problems"] == []
    assert report["tracebacks"] == 0
    assert done.returncode == 0, done.stdout[-3000:]
    assert report["inputs"] >= FUZZ_INPUTS
    families = set(report["scan_outcomes"])
    assert {"truncation", "bitflip", "dimensions", "mode", "chunk", "name", "special", "zip", "good"} <= families
    # every family that holds sound pictures still gets verdicts (the script checks they are exactly those of the
    # pictures scanned alone): the demo's crop, collage and recolour are copies, its two unrelated images are not
    good = report["scan_outcomes"]["good"]
    assert good.get("error", 0) == 0 and sum(good.values()) == len(list((DEMO / "suspects").glob("*.jpg")))
    assert good.get("copy", 0) + good.get("derivative", 0) >= 3 and good["no_match"] >= 2
    assert report["scan_outcomes"]["name"].get("error", 0) == 0
    assert set(report["scan_outcomes"]["special"]) == {"error"}
    assert report["register_outcomes"]["registered"] > 0 and report["register_outcomes"]["error"] > 0
