"""How the labelled dev set is divided, by rules fixed before any fit: which rows tune and which report, which
distractors are registered as filler works or form the background set, which rows may be shipped, and which
generator made a real AI output (for leave-one-generator-out figures), and which negatives share their artwork
with a registered sibling. Pure functions over manifest rows and pixels."""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

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


SILHOUETTE_SIDE = 96
SHARED_ART_IOU = 0.9
"""Two drawings share their artwork when their silhouettes (what is not background, at 96x96) overlap this much:
the same drawing recoloured (a red and a blue jigsaw piece). Fixed in advance, and independent of every signal
Semblance scores with."""
LINE_ART_IOU, LINE_ART_EDGES = 0.97, 0.93
"""A black-and-white line drawing and its coloured version share their artwork too, though their silhouettes
differ (the line art's is its ink): when what each outline encloses overlaps this much (LINE_ART_IOU) and their
edges (Canny, at 96x96) lie within 1.5 px of each other's this often (LINE_ART_EDGES, the smaller of the two
directions). Set by eye on the dev distractors: it adds exactly the five `_bw` / colour pairs of the clip art
(milk, orange, pancakes, ice cream, pizza), while road signs that share a red frame around other symbols (edges
0.90) and two chequered patterns (outlines 0.91) stay negatives. Independent of every signal Semblance scores with."""


@dataclass(frozen=True)
class Silhouette:
    """A drawing on a white ground at SILHOUETTE_SIDE square: its ink (what is not background), what its outlines
    enclose (the ink and every background hole that does not reach the frame) and its edges; boolean arrays."""

    ink: np.ndarray
    enclosed: np.ndarray
    edges: np.ndarray


def silhouette(rgb: np.ndarray) -> Silhouette | None:
    """`rgb`'s silhouette (transparency already composited on white), or None for a picture without a white ground
    (a photo: its silhouette would be the whole frame)."""
    grey = cv2.cvtColor(
        cv2.resize(rgb, (SILHOUETTE_SIDE, SILHOUETTE_SIDE), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY
    )
    ink = grey < 245
    if not 0.02 < ink.mean() < 0.9:
        return None
    _, labels = cv2.connectedComponents((~ink).astype(np.uint8), connectivity=4)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    outside = np.isin(labels, border) & ~ink
    return Silhouette(ink, ~outside, cv2.Canny(grey, 50, 150) > 0)


def edge_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """The smaller share, either way, of one edge map's pixels within 1.5 px of the other's."""
    if not a.any() or not b.any():
        return 0.0
    to_b = cv2.distanceTransform((~b).astype(np.uint8), cv2.DIST_L2, 3)
    to_a = cv2.distanceTransform((~a).astype(np.uint8), cv2.DIST_L2, 3)
    return float(min((to_b[a] <= 1.5).mean(), (to_a[b] <= 1.5).mean()))


def shared_artwork(drawing: Silhouette, others: Sequence[Silhouette]) -> list[int]:
    """Indices of `others` that share `drawing`'s artwork: the same ink (SHARED_ART_IOU), or the same outlines
    with the same edges (LINE_ART_IOU, LINE_ART_EDGES: a line drawing and its coloured version)."""

    def iou(masks: np.ndarray, q: np.ndarray) -> np.ndarray:
        inter = masks @ q
        return np.asarray(inter / np.maximum(masks.sum(axis=1) + q.sum() - inter, 1.0))

    if not others:
        return []
    same_ink = iou(np.stack([o.ink.ravel() for o in others]).astype(np.float32), drawing.ink.ravel().astype(np.float32))
    same_outline = iou(
        np.stack([o.enclosed.ravel() for o in others]).astype(np.float32), drawing.enclosed.ravel().astype(np.float32)
    )
    return [
        j
        for j, other in enumerate(others)
        if same_ink[j] >= SHARED_ART_IOU
        or (same_outline[j] >= LINE_ART_IOU and edge_agreement(drawing.edges, other.edges) >= LINE_ART_EDGES)
    ]
