"""Local keypoint verification: ORB features, ratio test and a RANSAC homography.

It is the geometric proof behind a `copy` verdict: the number of inliers says how much of the image maps onto
the original under one perspective transform, and the transform gives the outline of the copied region in the
suspect (e.g. one collage panel) and in the original. ORB is used over SIFT for speed (about 6x faster here).

A tiled, semi-transparent light watermark over a dark or low-contrast picture takes the strongest corners and
spoils the descriptors around them: suspects with many thin light strokes (detector.overlay) get a second
keypoint set computed with the strokes filled in, and the better match is kept.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import ClassVar, Literal

import cv2
import numpy as np

from detector.geometry import homography_outlines, plausible_homography, points_inside
from detector.intake import DecodedImage
from detector.overlay import working_copy, working_shape
from detector.signals.base import Comparison, DecisionRules, Signal, log_count

INLIER_SCALE = math.log1p(100.0)
"""Inlier counts enter the fusion as log1p(n) / INLIER_SCALE, capped at 1."""
MAX_FEATURES = 700
QUERY_FEATURES = 1500
RATIO = 0.8
RANSAC_PIXELS = 6.0
MIN_INLIERS = 8
ORB_EDGE = 31
"""ORB's patch size and border (OpenCV's default): it finds no corner within this many pixels of an edge."""
MIN_WORKING_SIDE = 2 * ORB_EDGE + 1
"""A working copy whose short side is below this has no room for a single ORB corner (random noise 640 px wide:
0 keypoints at 62 px high, 67 at 63), and ORB's pyramid shrinks a strip 1 px high to nothing, where OpenCV fails
inside resize: spacers and dividers, 1000x2 px and the like, are left to the other signals."""
COPY_MIN_INLIERS = 20
"""Keypoint inliers that count as geometric proof, with the calibration's ratio: a named constant, not fitted. Below
~20 RANSAC finds chance homographies between unrelated pictures of one subject (ORB's usual acceptance level)."""
REGION_INLIERS = 0.9
"""The inlier ratio is judged inside the original's outline only when that outline holds this share of the inliers
(a degenerate transform's outline can miss them)."""


@dataclass(frozen=True)
class KeypointDescriptor:
    points: np.ndarray
    """float32 (n, 2) in displayed-image pixels of the file."""
    descriptors: np.ndarray
    """uint8 (n, 32) ORB descriptors."""
    width: int
    height: int
    strokes_filled: KeypointDescriptor | None = None
    """Suspects only, never stored: keypoints of the image with its thin light strokes (a tiled watermark)
    filled in, when it has many (detector.overlay)."""


class KeypointSignal(Signal[KeypointDescriptor]):
    name: ClassVar[str] = "keypoints"
    version: ClassVar[int] = 1
    feature_names: ClassVar[tuple[str, ...]] = ("keypoints.inliers", "keypoints.inlier_ratio")
    fusion_features: ClassVar[tuple[str, ...]] = feature_names
    agreement_levels: ClassVar[dict[str, float]] = {"keypoints.inliers": float(COPY_MIN_INLIERS)}
    proof_rules: ClassVar[dict[str, float]] = {"min_inliers": float(COPY_MIN_INLIERS), "min_inlier_ratio": 0.9}
    """Geometric proof: `min_inliers` inliers that are at least `min_inlier_ratio` of the tentative matches inside
    the original's outline. A fit keeps min_inliers and sets the ratio above every fitting negative's
    (detector.calibration.fit.proof_ratio); 0.9 is where a new calibration starts, the strictest ratio tried."""
    role: ClassVar[Literal["candidate", "verifier"]] = "verifier"
    fusion_range: ClassVar[dict[str, tuple[float, float]] | None] = {
        "keypoints.inliers": (0.0, 1.0),  # log1p(n) / INLIER_SCALE, capped at 1 (fusion_inputs)
        "keypoints.inlier_ratio": (0.0, 1.0),
    }

    @classmethod
    def fusion_inputs(cls, features: Mapping[str, float]) -> dict[str, float]:
        """Inlier counts enter as log1p(n) / log1p(100), capped at 1: the 100th inlier adds little to the 50th."""
        return log_count(features, "keypoints.inliers", INLIER_SCALE)

    @classmethod
    def agrees(cls, features: Mapping[str, float], rules: DecisionRules) -> bool:
        return features.get("keypoints.inliers", 0.0) >= rules.agreement.get("keypoints.inliers", 1e9)

    @classmethod
    def proves_copy(cls, features: Mapping[str, float], rules: DecisionRules) -> bool:
        """Geometric proof: enough inliers that are also most of the tentative matches inside the outline (two
        photos of one landmark from one spot can share a homography, but with many matches that disagree)."""
        return features.get("keypoints.inliers", 0.0) >= rules.rule(cls.name, "min_inliers") and features.get(
            "keypoints.inlier_ratio", 0.0
        ) >= rules.rule(cls.name, "min_inlier_ratio")

    @classmethod
    def reading(cls, evidence: Mapping[str, object], rules: DecisionRules) -> str:
        text = (
            f"{evidence.get('inliers')} local features of the original map onto the suspect under a single "
            f"perspective transform (of {evidence.get('tentative_matches')} tentative matches); "
            f"{round(rules.rule(cls.name, 'min_inliers'))} or more, at least "
            f"{rules.rule(cls.name, 'min_inlier_ratio'):.0%} of the matches inside the "
            "matched outline, is geometric evidence that one image contains the other."
        )
        if evidence.get("query_light_strokes_filled") is True:
            text += (
                " The suspect's features were taken with its thin light strokes (a tiled watermark or text laid over "
                "the picture) filled in from their surroundings, which matched more of the original than the "
                "suspect as it is; the points are drawn on the suspect as it is."
            )
        return text

    @classmethod
    def example_copy(cls, rgb: np.ndarray) -> np.ndarray:
        """Turned by 10 degrees and scaled to 80%: what a homography must undo."""
        h, w = rgb.shape[:2]
        m = cv2.getRotationMatrix2D((w / 2, h / 2), 10, 0.8)
        return cv2.warpAffine(np.ascontiguousarray(rgb), m, (w, h), borderValue=(255, 255, 255))

    def cannot_describe(self, image: DecodedImage) -> str | None:
        h, w = working_shape(*image.rgb.shape[:2])
        if min(h, w) >= MIN_WORKING_SIDE:
            return None
        return (
            f"the picture ({image.width}x{image.height} px) is too thin for keypoints: its working copy is {w}x{h} "
            f"px, and ORB needs a short side of at least {MIN_WORKING_SIDE} px"
        )

    def compute(self, image: DecodedImage) -> KeypointDescriptor:
        return _orb(image, _working_grey(image.rgb), MAX_FEATURES)

    def compute_query(self, image: DecodedImage) -> KeypointDescriptor:
        """Suspects get more keypoints, spread over the image, so every panel of a collage keeps its share, and a
        second set with light overlay strokes filled in when they have many."""
        plain = _orb(image, _working_grey(image.rgb), QUERY_FEATURES)
        filled = image.light_strokes_filled
        if filled is None:
            return plain
        return replace(plain, strokes_filled=_orb(image, _working_grey(filled), QUERY_FEATURES))

    def compare(self, query: KeypointDescriptor, reference: KeypointDescriptor) -> Comparison:
        m, used = _match(query, reference), query
        if query.strokes_filled is not None:
            filled = _match(query.strokes_filled, reference)
            if filled.inliers > m.inliers:
                m, used = filled, query.strokes_filled
        everywhere = m.inliers / max(m.matches, 1)
        features = {"keypoints.inliers": float(m.inliers), "keypoints.inlier_ratio": everywhere}
        evidence: dict[str, object] = {
            "inliers": m.inliers,
            "tentative_matches": m.matches,
            "query_keypoints": len(used.points),
            "reference_keypoints": len(reference.points),
        }
        if query.strokes_filled is not None:
            evidence["query_light_strokes_filled"] = used is query.strokes_filled
        homography, pairs = m.homography, m.pairs
        if homography is None or pairs is None:
            return Comparison(features=features, evidence=evidence)
        q_region, r_region = homography_outlines(
            homography, (query.width, query.height), (reference.width, reference.height)
        )
        if q_region:
            # judge agreement where the original lies in the suspect: in a collage the other panels' chance
            # matches are not evidence against this panel (two photos of one landmark stay mixed: same region)
            in_region = points_inside(q_region, m.tentative)
            if points_inside(q_region, pairs[:, :2]) >= REGION_INLIERS * m.inliers:  # the outline is the inliers' own
                features["keypoints.inlier_ratio"] = max(everywhere, m.inliers / max(in_region, 1))
                evidence["tentative_matches_in_region"] = in_region
        evidence["homography"] = [[round(float(v), 6) for v in row] for row in homography]
        return Comparison(
            features=features,
            evidence=evidence,
            query_region=q_region or None,
            reference_region=r_region or None,
            localisation_quality=1.0 + m.inliers,  # a verified homography always outranks an embedding box
            extras={"homography": homography, "inlier_pairs": pairs},
        )

    def to_bytes(self, descriptor: KeypointDescriptor) -> bytes:
        """Only the points and descriptors: what registration stores (a suspect's `strokes_filled` set is not)."""
        n = len(descriptor.points)
        return (
            struct.pack("<III", descriptor.width, descriptor.height, n)
            + descriptor.points.tobytes()
            + descriptor.descriptors.tobytes()
        )

    def from_bytes(self, data: bytes) -> KeypointDescriptor:
        width, height, n = struct.unpack_from("<III", data)
        pts = np.frombuffer(data, dtype=np.float32, count=n * 2, offset=12).reshape(n, 2)
        des = np.frombuffer(data, dtype=np.uint8, count=n * 32, offset=12 + n * 8).reshape(n, 32)
        return KeypointDescriptor(pts.copy(), des.copy(), width, height)


def _working_grey(rgb: np.ndarray) -> np.ndarray:
    """A grey working copy at detector.overlay's working size (longest side 320-640): tiny crops need upscaling
    to have corners, and stroke widths are judged at the same scale."""
    return working_copy(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))


def _orb(image: DecodedImage, grey: np.ndarray, budget: int) -> KeypointDescriptor:
    """ORB keypoints of a working copy (`_working_grey`), spread over a 4x4 grid, in the file's displayed pixel
    coordinates."""
    orb = cv2.ORB_create(nfeatures=budget * 3, scaleFactor=1.2, nlevels=8, fastThreshold=12)  # type: ignore[attr-defined]
    kps, des = orb.detectAndCompute(grey, None)
    if des is None or not kps:
        empty = np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8)
        return KeypointDescriptor(*empty, image.width, image.height)
    keep = _spread([k.pt for k in kps], [k.response for k in kps], grey.shape, budget)
    pts = np.asarray([kps[i].pt for i in keep], dtype=np.float32) * (image.width / grey.shape[1])
    return KeypointDescriptor(pts, des[keep].astype(np.uint8), image.width, image.height)


def _spread(
    points: list[tuple[float, float]], responses: list[float], shape: tuple[int, ...], budget: int
) -> list[int]:
    """Indices of at most `budget` keypoints: the strongest of each 4x4 grid cell first, then the strongest left."""
    h, w = shape[:2]
    order = sorted(range(len(points)), key=lambda i: -responses[i])
    quota = max(1, budget // 16)
    used: dict[tuple[int, int], int] = {}
    first, rest = [], []
    for i in order:
        cell = (min(3, int(points[i][0] * 4 / w)), min(3, int(points[i][1] * 4 / h)))
        if used.get(cell, 0) < quota:
            used[cell] = used.get(cell, 0) + 1
            first.append(i)
        else:
            rest.append(i)
    return sorted((first + rest)[:budget])


@dataclass(frozen=True)
class _Matched:
    homography: np.ndarray | None
    """Reference -> query, or None when no plausible transform has enough inliers."""
    inliers: int
    matches: int
    """Tentative (ratio-tested) matches."""
    tentative: np.ndarray
    """(matches, 2) query points of the tentative matches."""
    pairs: np.ndarray | None = None
    """(inliers, 4) inlier point pairs: qx, qy, rx, ry."""


def _match(query: KeypointDescriptor, reference: KeypointDescriptor) -> _Matched:
    """Ratio-tested matches and the RANSAC homography mapping reference points onto the query."""
    none = np.zeros((0, 2), np.float32)
    if len(query.points) < MIN_INLIERS or len(reference.points) < MIN_INLIERS:
        return _Matched(None, 0, 0, none)
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    knn = matcher.knnMatch(query.descriptors, reference.descriptors, k=2)
    good = [p[0] for p in knn if len(p) == 2 and p[0].distance < RATIO * p[1].distance]
    dst = query.points[[m.queryIdx for m in good]].astype(np.float32).reshape(-1, 2)
    if len(good) < MIN_INLIERS:
        return _Matched(None, 0, len(good), dst)
    src = reference.points[[m.trainIdx for m in good]].astype(np.float32)
    scale = max(query.width, query.height) / 640.0
    homography, mask = cv2.findHomography(
        src, dst, cv2.RANSAC, RANSAC_PIXELS * max(scale, 0.5), maxIters=2000, confidence=0.995
    )
    if homography is None or mask is None:
        return _Matched(None, 0, len(good), dst)
    inliers = int(mask.sum())
    if inliers < MIN_INLIERS or not plausible_homography(homography):
        return _Matched(None, 0, len(good), dst)
    keep = mask.ravel().astype(bool)
    return _Matched(homography, inliers, len(good), dst, np.hstack([dst[keep], src[keep]]))
