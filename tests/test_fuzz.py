"""The batch promise under fuzzing: a seeded corpus of a few hundred hostile files (scripts/hostile_files.py) is
scanned and registered by the real CLI. One result line per input, no traceback, good pictures judged as when
alone, registry consistent. `python scripts/fuzz.py` runs the same checks in the thousands (docs/RELIABILITY.md)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from helpers_clip import offline_env

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import fuzz

DEMO = Path(__file__).resolve().parents[1] / "samples" / "demo"
FUZZ_INPUTS = int(os.environ.get("SEMBLANCE_FUZZ_INPUTS", "200"))
FUZZ_SEED = 20261201


def test_hostile_corpus_never_stops_a_batch(tmp_path: Path) -> None:
    report = fuzz.run(FUZZ_INPUTS, FUZZ_SEED, tmp_path, env=offline_env(tmp_path))
    assert report.problems == []
    assert report.tracebacks == 0
    assert report.inputs >= FUZZ_INPUTS
    families = set(report.scan_outcomes)
    assert {"truncation", "bitflip", "dimensions", "mode", "chunk", "name", "special", "zip", "good"} <= families
    # every family that holds sound pictures still gets verdicts (fuzz.run checks they are exactly those of the
    # pictures scanned alone): the demo's crop, collage and recolour are copies, its two unrelated images are not
    good = report.scan_outcomes["good"]
    assert good.get("error", 0) == 0 and sum(good.values()) == len(list((DEMO / "suspects").glob("*.jpg")))
    assert good.get("copy", 0) + good.get("derivative", 0) >= 3 and good["no_match"] >= 2
    assert report.scan_outcomes["name"]["error"] == 0
    assert report.scan_outcomes["special"].keys() == {"error"}
    assert report.register_outcomes["registered"] > 0 and report.register_outcomes["error"] > 0
