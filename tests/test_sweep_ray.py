"""`semblance sweep --runner ray` on a local Ray instance (127.0.0.1 only, no dashboard, no usage statistics) over
the bundled sample listings: the same findings as the local runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("ray")

from tests.cli_support import REPO, semblance

DEMO = REPO / "samples" / "demo"
LISTINGS = REPO / "samples" / "listings" / "listings.csv"


def essentials(folder: Path) -> list[tuple[object, ...]]:
    """What a finding is, line by line: listing, image, bytes, verdict, matched works and scores, groups."""
    out = []
    for line in (folder / "results.jsonl").read_text().splitlines():
        x = json.loads(line)
        out.append(
            (
                x["listing"]["listing_id"],
                x["image"]["index"],
                x["path"],
                x["sha256"],
                x["verdict"],
                tuple((m["ref"], m["verdict"], m["score"]) for m in x.get("matches", [])),
                x["image"]["near_duplicate_group"],
                x["image"]["duplicate_of_item"] is not None,
            )
        )
    return out


def test_the_ray_runner_finds_what_the_local_runner_finds(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    semblance(home, "init")
    semblance(home, "register", "--manifest", str(DEMO / "works.csv"))
    semblance(home, "sweep", str(LISTINGS), "--out", str(tmp_path / "local"))
    semblance(home, "sweep", str(LISTINGS), "--out", str(tmp_path / "ray"), "--runner", "ray")
    assert list((tmp_path / "ray" / "shards").glob("*.parquet"))
    local, ray = essentials(tmp_path / "local"), essentials(tmp_path / "ray")
    assert len(local) == 9 and ray == local
    assert (tmp_path / "ray" / "summary.html").is_file()
