"""How the labelled dev set is divided, by rules fixed before any fit: which rows tune and which report, which
distractors are registered as filler works or form the background set, which rows may be shipped, and which
generator made a real AI output (for leave-one-generator-out figures). Pure functions over manifest rows."""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict

TUNE_SOURCES = frozenset(
    {"deb_wallpapers", "deb_gcompris", "deb_libjxl", "deb_openclipart", "pypi_samples", "npm_samples"}
)
"""Originals, derivatives and synthetic families from these sources tune the fusion; the others
(gh_style_transfer, gh_generative: style transfer and diffusion outputs) are only reported on."""


def split_of(source: str) -> str:
    return "tune" if source in TUNE_SOURCES else "report"


def stable_half(key: str) -> str:
    return "tune" if int(hashlib.sha1(key.encode()).hexdigest(), 16) % 2 == 0 else "report"


def distractor_split(sha1: str) -> str:
    """Distractors: half report; of the tune half, one half builds the shipped background set
    (scripts/build_background.py) and the other tunes the fusion and thresholds."""
    h = int(hashlib.sha1(sha1.encode()).hexdigest(), 16)
    return "report" if h % 2 else "background" if h % 4 == 0 else "tune"


FILLER_SHARE = 0.5
"""Share of every designed set of distractors (a folder of clip art, icons, pictograms, monuments) registered as
filler works. A real registry holds whole collections; with half of each set registered, the other half are
negatives whose siblings are registered, the hardest false alarms a registry meets."""


def filler_rows(rows: list[dict[str, str]], share: float) -> list[dict[str, str]]:
    """Distractors registered as filler works: `share` of each set (folder) with at least two members, chosen by
    SHA-1, never from the background share (its images must stay unseen by queries and registry alike)."""
    if share <= 0:
        return []
    sets: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in rows:
        if r["role"] == "distractor" and distractor_split(r["sha1"]) != "background":
            sets[os.path.dirname(r["path"])].append(r)
    chosen = []
    for members in sets.values():
        if len(members) < 2:
            continue
        ranked = sorted(members, key=lambda r: hashlib.sha1(("filler:" + r["sha1"]).encode()).hexdigest())
        chosen += ranked[: round(share * len(members))]
    return chosen


def generator_of(origin: str) -> str:
    """The repository that made a row (`github:OWNER/REPO@commit:path` -> `OWNER/REPO`)."""
    return origin.removeprefix("github:").split("@", 1)[0]


def public_domain(licence: str) -> bool:
    """CC0 or public domain, by the manifest's licence column."""
    low = licence.lower()
    return low.startswith(("cc0", "public domain"))


FREE_LICENCES = ("public domain", "cc0", "cc-by", "gpl-2", "gpl-3", "bsd-", "mit (package)")
"""Licences that allow redistribution; research-only and unstated-provenance rows are never used."""


def redistributable(licence: str) -> bool:
    low = licence.lower()
    return low.startswith(FREE_LICENCES) and "unstated" not in low and "research" not in low
