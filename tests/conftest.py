"""Shared pytest fixtures."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads: see detector/__init__.py

from pathlib import Path

import pytest

SHARED_EVAL = Path(__file__).resolve().parents[1].parent / "shared" / "eval"


@pytest.fixture(scope="session")
def shared_eval() -> Path:
    """The shared evaluation set (../shared/eval next to the repo: manifest.csv + images/); skips when absent."""
    if not (SHARED_EVAL / "manifest.csv").is_file():
        pytest.skip(f"shared evaluation set not present at {SHARED_EVAL}")
    return SHARED_EVAL


@pytest.fixture(scope="session")
def dev_rows(shared_eval: Path) -> list[dict[str, str]]:
    """Rows of the shared manifest."""
    import csv

    with open(shared_eval / "manifest.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="session")
def pick(dev_rows: list[dict[str, str]]):  # type: ignore[no-untyped-def]
    """pick(role=..., relation=..., source=..., n=1) -> matching manifest rows, in a stable order (by sha1)."""

    def _pick(n: int = 1, **where: str) -> list[dict[str, str]]:
        rows = sorted((r for r in dev_rows if all(r[k] == v for k, v in where.items())), key=lambda r: r["sha1"])
        if len(rows) < n:
            pytest.skip(f"shared manifest has fewer than {n} rows with {where}")
        return rows[:n]

    return _pick


@pytest.fixture(scope="session")
def original_of(dev_rows: list[dict[str, str]]):  # type: ignore[no-untyped-def]
    """original_of(row) -> the original row of a derivative row."""
    originals = {r["pair_id"]: r for r in dev_rows if r["role"] == "original"}
    return lambda row: originals[row["pair_id"]]
