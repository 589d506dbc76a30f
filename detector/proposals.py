"""Region proposals: the parts of a suspect that may each hold one artwork on their own, found by their outline.

What infringers sell is rarely the bare picture: a print on a canvas or a T-shirt, photographed; a listing page with
the picture in one corner; AI-rendered panels rotated onto a photographed background. Each of those pictures has a
straight-edged outline (a quadrilateral, after perspective), and what is inside it is the artwork alone. So a
proposal is a convex quadrilateral whose four sides each run along an edge of the picture. Rough outlines come from
three places, because none alone survives real pictures: the picture's closed edge contours (their hull reduced to
four corners, or their minimum-area rotated rectangle), the solid areas those contours enclose (a border that lines
of the surround touch), and pairs of long straight lines crossing (a border that is never one contour). Each is
snapped onto the edges its sides run along and kept only if an edge runs along every side. Its pixels are
rectified by the perspective transform onto an upright rectangle (`rectify`) and embedded as a view of the suspect,
like a collage panel (detector.panels, which finds only axis-aligned panels between straight gutters or seams).
A border whose two sides share a tone for most of its length (a painted sky against a real one) has no edge there
and is missed.

Every number below was fixed from the principle it states, then looked at on the tune split's synthetic mock-ups,
screenshots and AI collages (never on report-split queries).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import cv2
import numpy as np

from detector.geometry import Box, Polygon

ANALYSIS_SIDE = 384
"""Long side the outlines are looked for at: a 2% region is still ~55 px across, and Canny and contours stay a few
milliseconds."""
MIN_AREA = 0.02
"""A proposal covers at least this share of the picture: smaller regions of a 1024 px working copy are under
~145 px square, too little for the embedder (its crops are resized to a 224 px short side)."""
MAX_AREA = 0.85
"""...and at most this share: a region nearly the whole picture adds nothing to the whole picture's own view."""
MIN_SIDE_SUPPORT = 0.6
"""Share of each side along which an edge runs (within 2 px at the analysis size; `_side_support`): a printed
picture's border is an edge along its whole length, except where the art and what surrounds it share a tone."""
EDGE_STRENGTH = 40.0
"""Sobel response across a side (lightness units, 3x3 kernel) that counts as an edge: a step of ~10 grey levels, the
low threshold of the lightness Canny that finds the outlines."""
ALONG_DEGREES = 25.0
"""How far an edge's direction may turn from the side's and still run along it."""
LINE_LENGTH = 0.12
"""A straight edge at least this share of the picture's short side counts as a line (a side of a 2% region is
~14% of it)."""
MAX_LINES = 24
"""The longest lines kept (a picture's border competes with long lines of its surround and inside it): their
quadrilaterals are made and screened as arrays."""
MAX_LINE_CHECKED = 24
"""At most this many outlines between lines, best screened first, get the exact check (~1 ms each): a picture
full of straight lines (a building, a page of text) makes hundreds."""
SNAP_PIXELS = 6
"""How far (px at the analysis size) a side may move onto the edge it runs along (`_snapped`)."""
MAX_CORNER_SKEW = 40.0
"""Degrees a corner may differ from a right angle: a rectangle seen in perspective (a canvas on a wall, a phone
photo of a screen) keeps its corners within ~30 degrees; a triangle-ish blob does not."""
SUPPORT_STEP = 0.05
"""Supports this close count as equal when proposals are ranked (then the larger comes first)."""
OVERLAP = 0.6
"""Two proposals that overlap more than this (intersection over union) are one: the better supported is kept."""
MAX_PROPOSALS = 4
"""At most this many proposals per suspect, best supported first: each costs one embedder pass (~10 ms)."""
DETAIL = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (11, 11))
"""Opening with this removes lines thinner than it (11 px at the analysis size, ~3% of the long side) from the
filled edge map, leaving the solid areas that closed borders enclose."""
MAX_OUTLINE_CORNERS = 8
"""A solid area whose simplified outline has more corners than this is not a picture with a line or two of its
surround joined to it (and trying every four of them would cost too much: 70 quadrilaterals at 8)."""
HULL_TOLERANCES = (0.02, 0.04, 0.07)
"""How far (shares of the hull's perimeter) the four-corner approximation of a contour's hull may cut, tried in
turn: the least absorbs rounded corners (a phone case) and JPEG ragging, the most a stub of a line of the surround
still joined to a corner; the four sides must then still run along edges (`MIN_SIDE_SUPPORT`)."""

BLUR_SIGMA = 1.0
"""Gaussian blur (px at the analysis size) before edges are looked for: JPEG ringing and paper grain stop making
edges, a border one pixel wide survives."""
LIGHTNESS_CANNY = (30, 90)
"""Canny thresholds on lightness (8-bit LAB): a step of ~10 grey levels may continue an edge, three times that starts
one (Canny's own advice of a 1:3 ratio)."""
COLOUR_CANNY = (20, 60)
"""The same on each colour axis, lower: 8-bit LAB packs colour into a narrower range than lightness."""
CLOSING_PIXELS = 5
"""Gaps an edge may have (px at the analysis size) and still close a contour: JPEG breaks, and corners where a print
meets a line of its surround."""
NEAR_EDGE_PIXELS = 5
"""Width of the band around edge pixels in which the screen counts a side as on an edge (2 px either side)."""
HOUGH_VOTES = 30
"""Edge pixels a straight segment needs to be found at all; `LINE_LENGTH` then keeps only the long ones."""
HOUGH_GAP = 6
"""Pixels a straight segment may skip: JPEG breaks, and thin lines crossing a border."""
SAME_LINE_DEGREES = 3.0
SAME_LINE_PIXELS = 4.0
"""Segments within this angle and offset of a line are parts of it (a border broken where other lines meet it): a
few of Hough's 1 degree, 1 px bins."""
PARALLEL_DEGREES = 20.0
"""Two lines at most this far from parallel may be opposite sides of a rectangle seen in perspective."""
OUTLINE_TOLERANCE = 0.015
"""How far (share of its perimeter) a solid area's outline may be simplified when its own corners are looked for:
the corners of a picture stay, JPEG ragging goes."""
SAME_OUTLINE_PIXELS = 3
"""Outlines whose corners all lie this close to those of one already tried are the same (from another contour)."""
COVERAGE_SAMPLES = 16
"""Points sampled along each side by the cheap screen: enough to tell 60% of a side on edges from 40%."""
MIN_SNAP_POINTS = 4
"""Points on a strong edge a side needs before a line is fitted through them: fewer make a guess, not a fit."""
MAX_CORNER_SHIFT = 4 * SNAP_PIXELS
"""How far snapping may move a corner: where two sides meet at a sharp angle their crossing moves further than
either side does, but a corner that moved four times the snap went to another outline."""


@dataclass(frozen=True)
class Proposal:
    """A convex quadrilateral of the suspect in normalised coordinates, clockwise from the top-left corner."""

    corners: tuple[tuple[float, float], tuple[float, float], tuple[float, float], tuple[float, float]]
    support: float
    """Mean share of its sides that lie on an edge (1 = every point of the outline is on an edge)."""

    def to_polygon(self, width: int, height: int) -> Polygon:
        """The outline in pixels of a picture of `width` x `height`."""
        return [(x * width, y * height) for x, y in self.corners]

    @property
    def bounds(self) -> Box:
        """The axis-aligned box around the outline (normalised)."""
        xs, ys = [x for x, _ in self.corners], [y for _, y in self.corners]
        return Box(max(0.0, min(xs)), max(0.0, min(ys)), min(1.0, max(xs)), min(1.0, max(ys)))


def find_proposals(rgb: np.ndarray, avoid: tuple[Box, ...] = ()) -> list[Proposal]:
    """The suspect's proposals, best supported first, at most `MAX_PROPOSALS`; none overlapping one of `avoid` (the
    collage panels already found) more than `OVERLAP`."""
    h, w = rgb.shape[:2]
    f = ANALYSIS_SIDE / max(h, w)
    small = cv2.resize(rgb, (max(8, round(w * f)), max(8, round(h * f))), interpolation=cv2.INTER_AREA)
    sh, sw = small.shape[:2]
    lab = cv2.cvtColor(cv2.GaussianBlur(small, (0, 0), BLUR_SIGMA), cv2.COLOR_RGB2LAB)
    edges = _edges(lab)
    gradients: np.ndarray | None = None  # taken once a quadrilateral needs checking
    closed = cv2.morphologyEx(edges, cv2.MORPH_CLOSE, np.ones((CLOSING_PIXELS, CLOSING_PIXELS), np.uint8))
    contours = list(cv2.findContours(closed, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)[0])
    # a picture whose border touches lines of its surround: fill what its closed border encloses, cut the thin
    # lines away, and take the solid blob's outline
    blob = cv2.morphologyEx(_filled(closed), cv2.MORPH_OPEN, DETAIL)
    solids = cv2.findContours(blob, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)[0]
    area = float(sh * sw)
    found: list[tuple[float, np.ndarray]] = []
    near_edges = cv2.dilate(edges, np.ones((NEAR_EDGE_PIXELS, NEAR_EDGE_PIXELS), np.uint8))
    outlined: list[np.ndarray] = []
    for contour, solid in [*((c, False) for c in contours), *((c, True) for c in solids)]:
        _, _, bw, bh = cv2.boundingRect(contour)
        if bw * bh < MIN_AREA * area:
            continue
        hull = cv2.convexHull(contour)
        if cv2.contourArea(hull) < MIN_AREA * area:
            continue
        outlined += _quadrilaterals(hull) + (_corner_quadrilaterals(contour) if solid else [])
    # the outlines of contours, then those between long lines: many more, so only the best screened of them
    plausible = _screened(outlined, near_edges, area, len(outlined))
    plausible += _screened(_line_quadrilaterals(edges, sw, sh), near_edges, area, MAX_LINE_CHECKED)
    tried: list[np.ndarray] = []
    for quad in plausible:
        if any(np.abs(quad - other).max() < SAME_OUTLINE_PIXELS for other in tried):
            continue  # the same outline, from another contour
        tried.append(quad)
        gradients = _gradients(lab) if gradients is None else gradients
        snapped = _snapped(gradients, quad)
        if snapped is None or not _square_enough(snapped) or not cv2.isContourConvex(snapped.reshape(-1, 1, 2)):
            continue  # snapping moves corners: what it gives must still be a convex outline of a plausible size
        if not _sized(snapped, area):
            continue
        sides = _side_support(gradients, snapped)
        if min(sides) >= MIN_SIDE_SUPPORT:
            found.append((float(np.mean(sides)), snapped))
    # best supported first; among about equally supported ones (a picture's outline, and a cut through it along
    # an edge inside the picture) the larger
    found.sort(key=lambda sq: (-round(sq[0] / SUPPORT_STEP), -cv2.contourArea(sq[1])))
    kept: list[tuple[float, np.ndarray]] = []
    taken = [np.asarray(b.to_polygon(sw, sh), np.float32) for b in avoid]
    for support, quad in found:
        if any(_iou(quad, other) > OVERLAP for other in taken):
            continue
        kept.append((support, quad))
        taken.append(quad)
        if len(kept) == MAX_PROPOSALS:
            break
    return [
        Proposal(tuple((float(x) / sw, float(y) / sh) for x, y in quad), round(support, 4))  # type: ignore[arg-type]
        for support, quad in kept
    ]


def rectify(rgb: np.ndarray, proposal: Proposal) -> np.ndarray:
    """The proposal's pixels warped onto an upright rectangle of its own side lengths (undoing the perspective)."""
    h, w = rgb.shape[:2]
    src = np.asarray(proposal.to_polygon(w, h), np.float32)
    width = max(8, round(max(np.linalg.norm(src[1] - src[0]), np.linalg.norm(src[2] - src[3]))))
    height = max(8, round(max(np.linalg.norm(src[3] - src[0]), np.linalg.norm(src[2] - src[1]))))
    dst = np.asarray([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    m = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(np.ascontiguousarray(rgb), m, (width, height), flags=cv2.INTER_LINEAR)


def _edges(lab: np.ndarray) -> np.ndarray:
    """Edges of lightness and of colour: a print's border may differ from the product only in hue (a red mug)."""
    chroma = cv2.addWeighted(lab[..., 1], 0.5, lab[..., 2], 0.5, 0)
    edges: np.ndarray = cv2.Canny(lab[..., 0], *LIGHTNESS_CANNY)
    return np.bitwise_or(np.bitwise_or(edges, cv2.Canny(lab[..., 1], *COLOUR_CANNY)), cv2.Canny(chroma, *COLOUR_CANNY))


def _gradients(lab: np.ndarray) -> np.ndarray:
    """Sobel gradients (x, y) of lightness and of both colour axes, (3, 2, h, w), colour weighted up to lightness's
    scale (their Canny thresholds are 20 against 30)."""
    out = []
    for c, weight in ((0, 1.0), (1, 1.5), (2, 1.5)):
        channel = lab[..., c].astype(np.float32) * weight
        out.append([cv2.Sobel(channel, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(channel, cv2.CV_32F, 0, 1, ksize=3)])
    return np.asarray(out, np.float32)


def _filled(edges: np.ndarray) -> np.ndarray:
    """The edge map with every area it encloses filled in: what cannot be reached from outside the picture without
    crossing an edge."""
    h, w = edges.shape
    padded = np.zeros((h + 2, w + 2), np.uint8)  # a free ring around the picture: the outside is one region
    padded[1:-1, 1:-1] = edges
    reached = np.zeros((h + 4, w + 4), np.uint8)
    cv2.floodFill(padded, reached, (0, 0), 255, flags=8 | cv2.FLOODFILL_MASK_ONLY | (255 << 8))
    return np.where(reached[2:-2, 2:-2] > 0, edges, 255).astype(np.uint8)


def _quadrilaterals(hull: np.ndarray) -> list[np.ndarray]:
    """Four-corner outlines of one contour's hull: its polygon approximation when that has four corners, and its
    minimum-area rotated rectangle (what a rotated panel is, when its corners were cut by the contour)."""
    out = []
    perimeter = cv2.arcLength(hull, True)
    for tolerance in HULL_TOLERANCES:
        approx = cv2.approxPolyDP(hull, tolerance * perimeter, True)
        if len(approx) == 4 and cv2.isContourConvex(approx):
            out.append(_clockwise(approx))
            break
    out.append(_clockwise(cv2.boxPoints(cv2.minAreaRect(hull))))
    return out


def _screened(quads: list[np.ndarray], near_edges: np.ndarray, area: float, keep: int) -> list[np.ndarray]:
    """The plausible outlines (size, corners) whose every side lies along edge pixels, best covered first, at
    most `keep`: a cheap screen of them all at once before the exact check."""
    if not quads:
        return []
    square = _square_enough_all(np.asarray(quads, np.float32))
    plausible = [q for q, ok in zip(quads, square, strict=True) if ok and _sized(q, area)]
    if not plausible:
        return []
    coverage = _coverage(near_edges, np.asarray(plausible, np.float32))
    ranked = sorted(zip(coverage, range(len(plausible)), strict=True), reverse=True)[:keep]
    return [plausible[k] for c, k in ranked if c >= MIN_SIDE_SUPPORT]


def _sized(quad: np.ndarray, area: float) -> bool:
    """Whether an outline covers between `MIN_AREA` and `MAX_AREA` of a picture of `area` pixels."""
    return bool(MIN_AREA * area <= cv2.contourArea(quad) <= MAX_AREA * area)


def _line_quadrilaterals(edges: np.ndarray, width: int, height: int) -> list[np.ndarray]:
    """Four-corner outlines bounded by the picture's long straight edges (probabilistic Hough segments, merged into
    lines): two roughly parallel lines crossed by two others. This finds a picture whose outline is never one
    contour, where its border meets lines of the surround and edges inside it."""
    side = min(width, height)
    segments = cv2.HoughLinesP(
        edges, 1, np.pi / 180, threshold=HOUGH_VOTES, minLineLength=int(LINE_LENGTH * side), maxLineGap=HOUGH_GAP
    )
    if segments is None:
        return []
    lines = _merged_lines(segments)
    top = np.asarray(sorted(lines, key=lambda ln: -ln[2])[:MAX_LINES], np.float64).reshape(-1, 3)
    theta, rho = top[:, 0], top[:, 1]
    i, j = np.triu_indices(len(top), 1)
    facing = np.abs(theta[i] - theta[j]) > np.pi / 2  # one direction, its normals either side of 0: offsets flip
    apart = np.abs(rho[i] - np.where(facing, -rho[j], rho[j])) >= MIN_AREA**0.5 * side
    parallel = np.asarray([_angle_between(a, b) for a, b in zip(theta[i], theta[j], strict=True)]) < np.radians(
        PARALLEL_DEGREES
    )
    i, j = i[apart & parallel], j[apart & parallel]  # pairs of roughly parallel lines, far enough apart
    p, q = np.triu_indices(len(i), 1)
    crossing = np.abs(np.abs(((theta[i[p]] - theta[i[q]]) % np.pi) - np.pi / 2)) <= np.radians(MAX_CORNER_SKEW)
    p, q = p[crossing], q[crossing]
    a1, a2, b1, b2 = i[p], j[p], i[q], j[q]
    corners = np.stack(
        [
            _crossings(theta, rho, a1, b1),
            _crossings(theta, rho, b1, a2),
            _crossings(theta, rho, a2, b2),
            _crossings(theta, rho, b2, a1),
        ],
        axis=1,
    )  # (n, 4, 2)
    inside = (
        (corners[..., 0] > -2) & (corners[..., 0] < width + 2) & (corners[..., 1] > -2) & (corners[..., 1] < height + 2)
    ).all(axis=1) & np.isfinite(corners).all(axis=(1, 2))
    quads = corners[inside].astype(np.float32)
    convex = [cv2.isContourConvex(quad.reshape(-1, 1, 2)) for quad in quads]
    return list(_clockwise_all(quads[np.asarray(convex, bool)])) if any(convex) else []


def _merged_lines(segments: np.ndarray) -> list[list[float]]:
    """Straight segments (n, 4: x0, y0, x1, y1) merged into lines, each [angle of its normal, offset, total length]:
    the segments of one line (a border broken where other lines meet it) add up."""
    x0, y0, x1, y1 = segments.reshape(-1, 4).astype(np.float64).T
    normals = np.arctan2(x1 - x0, -(y1 - y0)) % np.pi
    # a line a hair off vertical has its normal near 0 or near pi, by the sign of its tilt: one side of 0 for both,
    # so that its segments merge and its offset keeps one sign (x cos t + y sin t = r is the line (t - pi, -r) too)
    normals = np.where(normals > np.pi - np.radians(SAME_LINE_DEGREES), normals - np.pi, normals)
    offsets = x0 * np.cos(normals) + y0 * np.sin(normals)
    lengths = np.hypot(x1 - x0, y1 - y0)
    same_angle = float(np.radians(SAME_LINE_DEGREES))
    lines: list[list[float]] = []
    for normal, offset, length in zip(normals.tolist(), offsets.tolist(), lengths.tolist(), strict=True):
        for line in lines:
            if abs(line[0] - normal) < same_angle and abs(line[1] - offset) < SAME_LINE_PIXELS:
                line[2] += length
                break
        else:
            lines.append([normal, offset, length])
    return lines


def _crossings(theta: np.ndarray, rho: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Where lines a[k] and b[k] (normal angle, offset) meet, (n, 2); inf where they are parallel."""
    ca, sa, cb, sb = np.cos(theta[a]), np.sin(theta[a]), np.cos(theta[b]), np.sin(theta[b])
    det = ca * sb - cb * sa
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.where(np.abs(det) > 1e-3, (rho[a] * sb - rho[b] * sa) / det, np.inf)
        y = np.where(np.abs(det) > 1e-3, (ca * rho[b] - cb * rho[a]) / det, np.inf)
    return np.stack([x, y], axis=1)


def _coverage(near_edges: np.ndarray, quads: np.ndarray) -> np.ndarray:
    """For each quadrilateral (q, 4, 2), the least share of its sides' points (`COVERAGE_SAMPLES` a side) on an
    edge pixel."""
    h, w = near_edges.shape
    t = np.linspace(0.0, 1.0, COVERAGE_SAMPLES, endpoint=False)[None, None, :, None]
    a, b = quads[:, :, None, :], np.roll(quads, -1, axis=1)[:, :, None, :]
    points = np.rint(a + (b - a) * t).astype(int)  # (q, 4, 16, 2)
    on = near_edges[points[..., 1].clip(0, h - 1), points[..., 0].clip(0, w - 1)] > 0
    result: np.ndarray = on.mean(axis=2).min(axis=1)
    return result


def _angle_between(a: float, b: float) -> float:
    """Angle between two line directions given as normal angles in [0, pi)."""
    d = abs(a - b) % np.pi
    return min(d, np.pi - d)


def _corner_quadrilaterals(contour: np.ndarray) -> list[np.ndarray]:
    """Four-corner outlines made of a solid area's own corners (its outline simplified to at most
    `MAX_OUTLINE_CORNERS`): where a line of the surround stays joined to the picture, the hull's corner lies at the
    line's far end and the picture's own corner is inside the hull, but still a corner of the outline."""
    perimeter = cv2.arcLength(contour, True)
    corners = cv2.approxPolyDP(contour, OUTLINE_TOLERANCE * perimeter, True).reshape(-1, 2)
    if not 4 < len(corners) <= MAX_OUTLINE_CORNERS:
        return []
    out = []
    for chosen in combinations(range(len(corners)), 4):
        quad = corners[list(chosen)].astype(np.float32)
        if cv2.isContourConvex(quad.reshape(-1, 1, 2)):
            out.append(_clockwise(quad))
    return out


def _clockwise(points: np.ndarray) -> np.ndarray:
    """Four points ordered clockwise (in image coordinates) from the one nearest the top-left."""
    result: np.ndarray = _clockwise_all(points.reshape(1, 4, 2))[0]
    return result


def _clockwise_all(quads: np.ndarray) -> np.ndarray:
    """`_clockwise` of each quadrilateral of (q, 4, 2), as one array."""
    q = quads.astype(np.float32)
    centre = q.mean(axis=1, keepdims=True)
    order = np.argsort(np.arctan2(q[..., 1] - centre[..., 1], q[..., 0] - centre[..., 0]), axis=1)
    q = np.take_along_axis(q, order[..., None], axis=1)
    start = np.argmin(q.sum(axis=2), axis=1)
    result: np.ndarray = np.take_along_axis(q, ((np.arange(4) + start[:, None]) % 4)[..., None], axis=1)
    return result


def _square_enough(quad: np.ndarray) -> bool:
    """Every corner within `MAX_CORNER_SKEW` of a right angle."""
    return bool(_square_enough_all(quad.reshape(1, 4, 2))[0])


def _square_enough_all(quads: np.ndarray) -> np.ndarray:
    """`_square_enough` of each quadrilateral of (q, 4, 2), as one array: the same corners whichever corner comes
    first or which way round, so it may screen outlines before they are ordered."""
    q = quads.astype(np.float32)
    a, b = np.roll(q, 1, axis=1) - q, np.roll(q, -1, axis=1) - q  # each corner's two sides
    dot = (a * b).sum(axis=-1).astype(np.float64)
    norms = (np.sqrt((a * a).sum(axis=-1)) * np.sqrt((b * b).sum(axis=-1))).astype(np.float64)
    angle = np.degrees(np.arccos(np.clip(dot / (norms + 1e-9), -1.0, 1.0)))
    result: np.ndarray = (np.abs(angle - 90.0) <= MAX_CORNER_SKEW).all(axis=1)
    return result


def _snapped(gradients: np.ndarray, quad: np.ndarray) -> np.ndarray | None:
    """The quadrilateral with each side moved onto the edge it runs along: the strongest edge across the side
    within `SNAP_PIXELS` at each point, a line fitted through those points, the corners where the lines meet. A
    corner taken from a contour may sit where a line of the surround joins the picture; its sides do not."""
    _, _, h, w = gradients.shape
    sides, normals = [], []
    for i in range(4):  # points along each side's middle (corners are ambiguous), every ~3 px
        a, b = quad[i], quad[(i + 1) % 4]
        length = float(np.linalg.norm(b - a))
        normal = np.asarray([-(b - a)[1], (b - a)[0]], np.float32) / max(length, 1e-6)
        sides.append(a + (b - a) * np.linspace(0.1, 0.9, max(8, int(length / 3)))[:, None])
        normals.append(np.broadcast_to(normal, (len(sides[-1]), 2)))
    points, across_dir = np.concatenate(sides), np.concatenate(normals)  # all four sides, looked at as one array
    offsets = np.arange(-SNAP_PIXELS, SNAP_PIXELS + 1, dtype=np.float32)
    candidates = points[:, None, :] + offsets[None, :, None] * across_dir[:, None, :]  # (n, k, 2)
    x = np.rint(candidates[..., 0]).astype(int).clip(0, w - 1)
    y = np.rint(candidates[..., 1]).astype(int).clip(0, h - 1)
    g = gradients[:, :, y, x]  # (3, 2, n, k)
    across = np.abs(g[:, 0] * across_dir[:, 0, None] + g[:, 1] * across_dir[:, 1, None]).max(axis=0)  # (n, k)
    best = across.argmax(axis=1)
    strong = across[np.arange(len(points)), best] >= EDGE_STRENGTH
    on_edge = candidates[np.arange(len(points)), best]
    lines = []
    for side in np.split(np.arange(len(points)), np.cumsum([len(p) for p in sides])[:-1]):
        if strong[side].sum() < MIN_SNAP_POINTS:
            return None
        found = on_edge[side][strong[side]].astype(np.float32)
        vx, vy, x0, y0 = cv2.fitLine(found, cv2.DIST_HUBER, 0, 0.01, 0.01).ravel()
        lines.append((np.asarray([x0, y0]), np.asarray([vx, vy])))
    corners = []
    for i in range(4):
        (p1, d1), (p2, d2) = lines[i - 1], lines[i]
        m = np.asarray([d1, -d2]).T
        if abs(float(np.linalg.det(m))) < 1e-6:
            return None
        s = np.linalg.solve(m, p2 - p1)
        corners.append(p1 + s[0] * d1)
    out = np.asarray(corners, np.float32)
    if not np.isfinite(out).all() or np.abs(out - quad).max() > MAX_CORNER_SHIFT:
        return None
    return out


def _side_support(gradients: np.ndarray, quad: np.ndarray) -> list[float]:
    """For each side, the share of points along it (every 2 px) where an edge runs along the side within 2 px: a
    gradient across the side (within `ALONG_DEGREES`) of at least `EDGE_STRENGTH`, in lightness or colour. A line
    drawn through texture crosses edges of every direction; a picture's border is one edge along its length."""
    _, _, h, w = gradients.shape
    a, b = quad, np.roll(quad, -1, axis=0)
    lengths = np.linalg.norm(b - a, axis=1)
    n = max(8, int(lengths.max() / 2))
    normals = np.stack([-(b - a)[:, 1], (b - a)[:, 0]], axis=1) / np.maximum(lengths, 1e-6)[:, None]  # (4, 2)
    t = np.linspace(0.0, 1.0, n, endpoint=False)[None, :, None]
    points = a[:, None, :] + (b - a)[:, None, :] * t  # (4, n, 2)
    offsets = np.asarray([-2.0, -1.0, 0.0, 1.0, 2.0], np.float32)[None, None, :, None]
    probes = points[:, :, None, :] + offsets * normals[:, None, None, :]  # (4, n, 5, 2)
    x = np.rint(probes[..., 0]).astype(int).clip(0, w - 1)
    y = np.rint(probes[..., 1]).astype(int).clip(0, h - 1)
    g = gradients[:, :, y, x]  # (3, 2, 4, n, 5)
    nx, ny = normals[:, 0][None, :, None, None], normals[:, 1][None, :, None, None]
    across = np.abs(g[:, 0] * nx + g[:, 1] * ny)  # (3, 4, n, 5)
    magnitude = np.hypot(g[:, 0], g[:, 1])
    along = (across >= EDGE_STRENGTH) & (across >= np.cos(np.radians(ALONG_DEGREES)) * magnitude)
    on = along.any(axis=(0, 3))  # (4, n): an edge at any offset, in any channel
    return [float(v) for v in on.mean(axis=1)]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    inter, _ = cv2.intersectConvexConvex(a, b)
    union = cv2.contourArea(a) + cv2.contourArea(b) - inter
    return float(inter / union) if union > 0 else 0.0
