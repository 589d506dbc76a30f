"""The shipped fusion model: its experts, monotonicity, which expert speaks, and the thresholds file round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detector.calibration import packaged_model_path
from detector.fusion import COMBINED, FusionModel, decide, fuse, fuse_explained, load_model

FEATURES = (
    "pdq.similarity",
    "pdq.closeness",
    "pdq.match",
    "phash.similarity",
    "embedding.global.excess",
    "embedding.regional.excess",
    "embedding.layout.excess",
    "keypoints.inliers",
    "keypoints.inlier_ratio",
)


@pytest.fixture(scope="module")
def model() -> FusionModel:
    return load_model(packaged_model_path("effnet-lite0"))


def test_shipped_model_has_its_experts_and_ordered_thresholds(model: FusionModel) -> None:
    experts = model.all_experts()
    assert set(experts) >= {COMBINED, "layout", "pdq"}
    assert all(w >= 0 for e in experts.values() for w in e.weights.values())
    assert 0 < model.derivative_threshold <= model.copy_threshold < 1
    assert model.embedder == "effnet-lite0"


def _random_features(rng: np.random.Generator) -> dict[str, float]:
    f = {name: float(rng.uniform(-0.2, 1.0)) for name in FEATURES}
    f["keypoints.inliers"] = float(rng.integers(0, 300))
    f["pdq.match"] = float(rng.integers(0, 2))
    return f


def test_more_similarity_never_lowers_the_score(model: FusionModel) -> None:
    """Every expert has non-negative weights and the score is their maximum: monotone in every feature."""
    rng = np.random.default_rng(7)
    for _ in range(300):
        f = _random_features(rng)
        base = fuse(model, f)
        for name in FEATURES:
            more = dict(f)
            more[name] += 50.0 if name == "keypoints.inliers" else 0.3
            assert fuse(model, more) >= base - 1e-12, name


def test_the_strongest_expert_gives_the_score(model: FusionModel) -> None:
    layout_only = {"embedding.layout.excess": 0.6}
    score, basis = fuse_explained(model, layout_only)
    assert basis == "layout"
    assert score == pytest.approx(model.experts["layout"].score(layout_only))
    pdq_only = {"pdq.closeness": 1.0, "pdq.match": 1.0, "pdq.similarity": 1.0}
    score, basis = fuse_explained(model, pdq_only)
    assert basis == "pdq"
    assert score == max(e.score(pdq_only) for e in model.all_experts().values())


def test_an_exact_copy_is_a_copy_and_nothing_is_nothing(model: FusionModel) -> None:
    exact = {
        "pdq.similarity": 1.0,
        "pdq.closeness": 1.0,
        "pdq.match": 1.0,
        "phash.similarity": 1.0,
        "embedding.global.excess": 0.45,
        "embedding.regional.excess": 0.45,
        "embedding.layout.excess": 0.8,
        "keypoints.inliers": 400.0,
        "keypoints.inlier_ratio": 0.95,
    }
    assert decide(model, fuse(model, exact), exact) == "copy"
    stranger = {"pdq.similarity": 0.5, "phash.similarity": 0.5, "embedding.layout.excess": -0.05}
    assert decide(model, fuse(model, stranger), stranger) == "no_match"


def test_thresholds_file_round_trips_through_the_writer(model: FusionModel, tmp_path: Path) -> None:
    """scripts/evaluate.py writes what detector.fusion reads: every expert comes back unchanged."""
    from detector.calibration.writer import write_packaged as write_thresholds

    path = tmp_path / "thresholds.toml"
    run = {"seed": 1, "manifest": "m.csv", "queries": 0, "fillers": 0}
    write_thresholds(model, {}, path, run)
    again = load_model(path)
    assert set(again.all_experts()) == set(model.all_experts())
    for name, e in model.all_experts().items():
        assert again.all_experts()[name].bias == pytest.approx(e.bias, abs=1e-6)
        assert again.all_experts()[name].weights == pytest.approx(e.weights, abs=1e-6)
    assert (again.copy_threshold, again.derivative_threshold) == (model.copy_threshold, model.derivative_threshold)
    assert (again.embedder, again.weights_sha256, again.background_sha256) == (
        model.embedder,
        model.weights_sha256,
        model.background_sha256,
    )
