"""Reading labelled manifests and an evaluation's records (service.labelled_set), shared by `semblance calibrate`
and scripts/evaluate.py: a bad file is refused with a message, never read as something else."""

from __future__ import annotations

from pathlib import Path

import pytest

from detector.calibration.cases import QueryCase
from detector.calibration.labelled import Candidate
from service.engine import EngineError
from service.labelled_set import read_manifest, read_records, write_records


def test_a_manifest_is_read_with_its_own_folder_as_root(tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text("\ufeffpath,role,pair_id\na.jpg,original,a\n", encoding="utf-8")  # a BOM, as Excel writes
    root, rows = read_manifest(manifest)
    assert root == tmp_path
    assert rows == [{"path": "a.jpg", "role": "original", "pair_id": "a"}]
    assert read_manifest(manifest, tmp_path / "elsewhere")[0] == tmp_path / "elsewhere"


def test_a_file_that_is_no_labelled_manifest_is_refused(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="manifest not found"):
        read_manifest(tmp_path / "missing.csv")
    (tmp_path / "m.csv").write_text("path,role\na.jpg,original\n")
    with pytest.raises(EngineError, match="missing columns: pair_id"):
        read_manifest(tmp_path / "m.csv")


def test_records_come_back_only_for_the_same_queries(tmp_path: Path) -> None:
    cases = [QueryCase("q1", "q1.jpg", b"one", "tune", "negative", "dev:distractor", "distractor", "dev")]
    cands = {"q1": [Candidate("a", {"phash.similarity": 0.5}, [], [[0.0, 0.0], [1.0, 1.0]])]}
    path = tmp_path / "records.jsonl"
    write_records(path, cases, cands)
    assert read_records(path, cases) == cands
    with pytest.raises(EngineError, match="is not the one this run builds"):
        read_records(path, [QueryCase("q1", "q1.jpg", b"other bytes", "tune", "negative", "", "", "dev")])
    with pytest.raises(EngineError, match="have no record"):
        read_records(path, [*cases, QueryCase("q2", "q2.jpg", b"two", "tune", "negative", "", "", "dev")])
