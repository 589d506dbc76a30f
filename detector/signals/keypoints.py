"""Local keypoint verification: ORB features, ratio test and a RANSAC homography.

It is the geometric proof behind a `copy` verdict: the number of inliers says how much of the image maps onto
the original under one perspective transform, and the transform gives the outline of the copied region in the
suspect (e.g. one collage panel) and in the original. ORB is used over SIFT for speed (about 6x faster here).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np

from detector.geometry import Polygon, clip_polygon, polygon_area
from detector.intake import DecodedImage
from detector.signals.base import Comparison, Signal

MAX_FEATURES = 700
QUERY_FEATURES = 1500
KEYPOINT_SIDE = (320, 640)
"""Images are resized so their longest side falls in this range: tiny crops need upscaling to have corners."""
RATIO = 0.8
RANSAC_PIXELS = 6.0
MIN_INLIERS = 8


@dataclass(frozen=True)
class KeypointDescriptor:
    points: np.ndarray
    """float32 (n, 2) in displayed-image pixels of the file."""
    descriptors: np.ndarray
    """uint8 (n, 32) ORB descriptors."""
    width: int
    height: int


class KeypointSignal(Signal[KeypointDescriptor]):
    name: ClassVar[str] = "keypoints"
    version: ClassVar[int] = 1
    feature_names: ClassVar[tuple[str, ...]] = ("keypoints.inliers", "keypoints.inlier_ratio")

    def compute(self, image: DecodedImage) -> KeypointDescriptor:
        return _orb(image, MAX_FEATURES)

    def compute_query(self, image: DecodedImage) -> KeypointDescriptor:
        """Suspects get more keypoints, spread over the image, so every panel of a collage keeps its share."""
        return _orb(image, QUERY_FEATURES)

    def compare(self, query: KeypointDescriptor, reference: KeypointDescriptor) -> Comparison:
        homography, inliers, matches, pairs = _match(query, reference)
        features = {"keypoints.inliers": float(inliers), "keypoints.inlier_ratio": inliers / max(matches, 1)}
        evidence: dict[str, object] = {
            "inliers": inliers,
            "tentative_matches": matches,
            "query_keypoints": len(query.points),
            "reference_keypoints": len(reference.points),
        }
        if homography is None:
            return Comparison(features=features, evidence=evidence)
        q_region, r_region = _outlines(homography, query, reference)
        evidence["homography"] = [[round(float(v), 6) for v in row] for row in homography]
        return Comparison(
            features=features,
            evidence=evidence,
            query_region=q_region or None,
            reference_region=r_region or None,
            localisation_quality=1.0 + inliers,  # a verified homography always outranks an embedding box
            extras={"homography": homography, "inlier_pairs": pairs},
        )

    def to_bytes(self, descriptor: KeypointDescriptor) -> bytes:
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


def _orb(image: DecodedImage, budget: int) -> KeypointDescriptor:
    """ORB keypoints of the working copy, spread over a 4x4 grid, in the file's displayed pixel coordinates."""
    gray = cv2.cvtColor(image.rgb, cv2.COLOR_RGB2GRAY)
    h, w = gray.shape
    longest = max(h, w)
    f = min(max(1.0, KEYPOINT_SIDE[0] / longest), KEYPOINT_SIDE[1] / longest)
    if f != 1.0:
        gray = cv2.resize(gray, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    orb = cv2.ORB_create(nfeatures=budget * 3, scaleFactor=1.2, nlevels=8, fastThreshold=12)  # type: ignore[attr-defined]
    kps, des = orb.detectAndCompute(gray, None)
    if des is None or not kps:
        empty = np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8)
        return KeypointDescriptor(*empty, image.width, image.height)
    keep = _spread([k.pt for k in kps], [k.response for k in kps], gray.shape, budget)
    pts = np.asarray([kps[i].pt for i in keep], dtype=np.float32) * (image.width / gray.shape[1])
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


Match = tuple[np.ndarray | None, int, int, np.ndarray | None]
"""(homography reference->query, inliers, tentative matches, inlier point pairs (n, 4): qx, qy, rx, ry)."""


def _match(query: KeypointDescriptor, reference: KeypointDescriptor) -> Match:
    """Ratio-tested matches and the RANSAC homography mapping reference points onto the query."""
    if len(query.points) < MIN_INLIERS or len(reference.points) < MIN_INLIERS:
        return None, 0, 0, None
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    knn = matcher.knnMatch(query.descriptors, reference.descriptors, k=2)
    good = [p[0] for p in knn if len(p) == 2 and p[0].distance < RATIO * p[1].distance]
    if len(good) < MIN_INLIERS:
        return None, 0, len(good), None
    src = reference.points[[m.trainIdx for m in good]].astype(np.float32)
    dst = query.points[[m.queryIdx for m in good]].astype(np.float32)
    scale = max(query.width, query.height) / 640.0
    homography, mask = cv2.findHomography(
        src, dst, cv2.RANSAC, RANSAC_PIXELS * max(scale, 0.5), maxIters=2000, confidence=0.995
    )
    if homography is None or mask is None:
        return None, 0, len(good), None
    inliers = int(mask.sum())
    if inliers < MIN_INLIERS or not _plausible(homography):
        return None, 0, len(good), None
    keep = mask.ravel().astype(bool)
    return homography, inliers, len(good), np.hstack([dst[keep], src[keep]])


def _plausible(h: np.ndarray) -> bool:
    """Reject degenerate transforms (mirror-collapsed, extreme perspective) that RANSAC can still return."""
    det = float(np.linalg.det(h[:2, :2]))
    return 1e-3 < det < 1e3 and abs(float(h[2, 0])) < 0.01 and abs(float(h[2, 1])) < 0.01


def _outlines(h: np.ndarray, query: KeypointDescriptor, reference: KeypointDescriptor) -> tuple[Polygon, Polygon]:
    """The original's frame mapped into the suspect, and the suspect's frame mapped into the original."""

    def project(m: np.ndarray, w: int, hgt: int) -> Polygon:
        corners = np.asarray([[0, 0], [w, 0], [w, hgt], [0, hgt]], dtype=np.float32).reshape(-1, 1, 2)
        return [(float(x), float(y)) for x, y in cv2.perspectiveTransform(corners, m).reshape(-1, 2)]

    in_query = clip_polygon(project(h, reference.width, reference.height), query.width, query.height)
    try:
        inv = np.linalg.inv(h)
    except np.linalg.LinAlgError:
        return in_query, []
    in_reference = clip_polygon(project(inv, query.width, query.height), reference.width, reference.height)
    if polygon_area(in_query) < 1 or polygon_area(in_reference) < 1:
        return [], []
    return in_query, in_reference
