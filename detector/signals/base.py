"""The one small interface every signal implements, in the spirit of python-threatexchange's SignalType.

A signal turns a decoded image into a descriptor, serialises it for the registry, says what it contributes to
the search index, and compares a suspect's descriptor with a registered one. It also carries its own rules: how
its features enter the fusion, what counts as its agreement and as proof of a copy, whether it is a cheap
candidate signal or a costly verifier, its plain-language reading, and an edit it must see through (its example).
Fusion, matching, the evaluation and the report wording loop over the registered signals, so adding a signal means
one new module implementing `Signal` plus one line in `detector.signals.SIGNAL_TYPES`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Generic, Literal, Protocol, TypeVar

import numpy as np

from detector.geometry import Polygon
from detector.intake import DecodedImage

D = TypeVar("D")

IndexKind = Literal["hamming", "vector"]


@dataclass(frozen=True)
class IndexEntries:
    """Rows a descriptor adds to (or looks up in) the search index.

    hamming: uint8 bit-packed codes (n, nbytes); vector: float32 L2-normalised rows (n, dim).
    `region_ids` tells which region each row describes (0 = whole image).
    """

    kind: IndexKind
    rows: np.ndarray
    region_ids: np.ndarray
    views: np.ndarray | None = None
    """For a suspect's rows: which of its views each row describes (0 the whole picture, i the i-th view of
    detector.views), so each view's own nearest works reach the pipeline; None where rows are not per view."""


@dataclass
class Comparison:
    """How alike a suspect and a registered work are under one signal.

    `features` are the numbers fusion consumes (names prefixed by the signal); `evidence` is the raw,
    human-readable record that goes into the JSON and the reports. Regions are pixel outlines in the
    suspect (`query_region`) and in the registered original (`reference_region`), when the signal localises.
    """

    features: dict[str, float]
    evidence: dict[str, object]
    query_region: Polygon | None = None
    reference_region: Polygon | None = None
    localisation_quality: float = 0.0
    extras: dict[str, object] = field(default_factory=dict)
    views: list[dict[str, float]] = field(default_factory=list)
    """The same features computed from each view of the suspect alone (detector.views: index i = view i + 1), for
    signals that describe views separately; empty otherwise, and an empty dict for a view not compared. A view is
    then judged as if it had been uploaded on its own (detector.matching.assess)."""
    view_evidence: list[dict[str, object]] = field(default_factory=list)
    """Raw evidence of each view (index as `views`), replacing the whole image's entries of the same name when that
    view decides the match."""
    view_regions: list[tuple[Polygon, Polygon, float] | None] = field(default_factory=list)
    """Where each view's match lies (index as `views`): its outline in the suspect, the original's region it met
    and how well that localises (as `localisation_quality`); None where this signal does not localise that view."""


class DecisionRules(Protocol):
    """The calibrated numbers a signal's rules read (detector.fusion.FusionModel has them): its own section of the
    calibration file (`[signals.<name>]`) and the report's agreement levels."""

    def rule(self, signal: str, name: str) -> float:
        """A number of the `[signals.<signal>]` section (the signal's `proof_rules` when the file has none)."""
        ...

    @property
    def agreement(self) -> dict[str, float]: ...


class Signal(ABC, Generic[D]):
    """Computes a descriptor of an image and compares two descriptors, and owns the rules that read them."""

    name: ClassVar[str]
    version: ClassVar[int]
    feature_names: ClassVar[tuple[str, ...]]
    fusion_features: ClassVar[tuple[str, ...]] = ()
    """The features the fusion is fitted on (detector.calibration.fit.FEATURES is their union over SIGNAL_TYPES);
    the others are evidence only. A background-judged one enters as its excess (`<name>.excess`)."""
    in_combined: ClassVar[bool] = True
    """Whether its fusion features enter the combined expert, or only its own narrow expert (fit.EXPERTS). The
    learned matcher's do not: matches that siblings of one design set share lifted their combined scores, and with
    them the threshold every other family must reach."""
    agreement_levels: ClassVar[dict[str, float]] = {}
    """The numbers `agrees` reads, as a new calibration writes them to its `[agreement]` table: named constants
    with their reason beside them, never fitted (the report's agreeing signals decide nothing)."""
    proof_rules: ClassVar[dict[str, float]] = {}
    """This signal's own decision numbers (proof of copying and the like), written by a fit to the calibration's
    `[signals.<name>]` section; here the named constants a new calibration starts from."""
    background_features: ClassVar[tuple[str, ...]] = ()
    """Features judged against a background set of unrelated images (see `detector.background`): for these,
    fusion sees how far a suspect's similarity to a work rises above that work's similarity to strangers."""
    role: ClassVar[Literal["candidate", "verifier"]] = "candidate"
    """'candidate': cheap, compared with every candidate the index finds; 'verifier': costly, run only on the
    candidates the cheap signals rank highest (detector.matching)."""
    verify_top: ClassVar[int | None] = None
    """For a verifier: how many of the best candidates it runs on, when fewer than detector.pipeline.VERIFY_TOP
    (a costly one); None: VERIFY_TOP."""
    verify_views: ClassVar[int] = 0
    """For a verifier that can compare one view of the suspect alone (`compare_view`): how many of the best
    candidates of each view (by that view's background-normalised similarity) it also runs on there. A small panel
    or a print in a product photo holds too few of the whole picture's local features to be matched in it."""
    ranks_candidates: ClassVar[bool] = False
    """Whether this signal's similarities order the candidates for verification (the strongest one counts)."""
    fusion_range: ClassVar[dict[str, tuple[float, float]] | None] = None
    """For a verifier: the lowest and highest value each of its features can take as the fusion takes it (after
    `fusion_inputs`), so the pipeline can tell when no outcome of the verifier could change a verdict and skip it
    (detector.fusion.ceiling). None: unbounded, so the verifier is never skipped."""

    @classmethod
    def fusion_inputs(cls, features: Mapping[str, float]) -> dict[str, float]:
        """This signal's features as the fusion model takes them (e.g. a count mapped into [0, 1]); only the ones
        that change are returned. Default: taken as they are."""
        return {}

    @classmethod
    def agrees(cls, features: Mapping[str, float], rules: DecisionRules) -> bool:
        """Whether this signal alone would say the suspect copies the work (the report's "agreeing signals")."""
        return False

    @classmethod
    def proves_copy(cls, features: Mapping[str, float], rules: DecisionRules) -> bool:
        """Whether this signal's evidence is proof of copying, which a `copy` verdict needs beside the score."""
        return False

    @classmethod
    def reading(cls, evidence: Mapping[str, object], rules: DecisionRules) -> str:
        """One line saying what this signal's values mean, for a reader without the code; decision numbers come
        from `rules` (the calibration in use), never typed again."""
        return ""

    @classmethod
    def example_copy(cls, rgb: np.ndarray) -> np.ndarray:
        """An edit of `rgb` this signal must see through (its `agrees` must hold between the two); two different
        works must not agree. The contract test runs both over real pictures for every registered signal."""
        return rgb

    @property
    def key(self) -> str:
        """Storage key: the name, plus a variant (e.g. the embedder) where one signal type has several."""
        return self.name

    def cannot_describe(self, image: DecodedImage) -> str | None:
        """Why this signal cannot describe `image` (degenerate geometry: a spacer 640 px wide and 1 px high), or
        None when it can. Such a picture is compared by the other signals, and the evidence says which did not run."""
        return None

    @abstractmethod
    def compute(self, image: DecodedImage) -> D:
        """Descriptor of `image` (pure: same image, same descriptor)."""

    def compute_query(self, image: DecodedImage) -> D:
        """Descriptor of a suspect; may hold more than `compute` (e.g. extra scales) to find crops."""
        return self.compute(image)

    @abstractmethod
    def compare(self, query: D, reference: D) -> Comparison:
        """Compare a suspect's descriptor with a registered work's."""

    def compare_view(self, query: D, reference: D, view: int) -> Comparison:
        """Compare the suspect's view `view` (index into `DecodedImage.views`) alone with a registered work, regions
        in the whole suspect's coordinates; only for a signal with `verify_views`."""
        raise NotImplementedError(f"{self.name} does not compare views on their own")

    def compare_many(self, query: D, references: Sequence[D]) -> list[Comparison]:
        """`compare` against every reference, in order; override to vectorise (one matrix product for all the
        candidates of a suspect instead of one small product each)."""
        return [self.compare(query, r) for r in references]

    @abstractmethod
    def to_bytes(self, descriptor: D) -> bytes:
        """Serialise for the registry."""

    @abstractmethod
    def from_bytes(self, data: bytes) -> D:
        """Inverse of `to_bytes`."""

    def index_layout(self) -> tuple[IndexKind, int] | None:
        """(kind, bits or dimensions) of the rows this signal indexes; None if it only verifies."""
        return None

    def index_entries(self, descriptor: D) -> IndexEntries | None:
        """What a registered work adds to the search index; None for verification-only signals."""
        return None

    def query_entries(self, descriptor: D) -> IndexEntries | None:
        """What a suspect looks up in the index (may differ, e.g. PDQ's 8 rotations and flips)."""
        return self.index_entries(descriptor)

    def background_descriptor(self, image: DecodedImage) -> D:
        """What an unrelated background image contributes to the background set (default: its query descriptor;
        override to keep the set small)."""
        return self.compute_query(image)

    def stack_background(self, descriptors: Sequence[D]) -> object:
        """Prepare background descriptors for `compare_background` (override to vectorise)."""
        return list(descriptors)

    def compare_background(self, stacked: object, reference: D) -> dict[str, np.ndarray]:
        """Each of `background_features` for every background descriptor against `reference`, as arrays."""
        assert isinstance(stacked, list)
        rows = [self.compare(b, reference).features for b in stacked]
        return {f: np.asarray([r.get(f, 0.0) for r in rows], dtype=np.float64) for f in self.background_features}

    def describe(self) -> dict[str, object]:
        """Name, version and configuration, recorded with every result for reproducibility."""
        return {"name": self.name, "version": self.version}


def log_count(features: Mapping[str, float], name: str, scale: float) -> dict[str, float]:
    """A count feature as the fusion takes it, log1p(n) / scale capped at 1 (the 100th match adds little to the
    50th), or nothing when the signal did not report it: a verifier's `fusion_inputs`."""
    if name not in features:
        return {}
    return {name: min(1.0, math.log1p(max(0.0, features[name])) / scale)}


def resized_recompressed(rgb: np.ndarray, scale: float, quality: int) -> np.ndarray:
    """`rgb` scaled by `scale` and round-tripped through JPEG at `quality`: the commonest edit of a copy."""
    import cv2

    h, w = rgb.shape[:2]
    small = cv2.resize(rgb, (max(8, round(w * scale)), max(8, round(h * scale))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    assert ok and decoded is not None
    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)
