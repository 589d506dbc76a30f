"""The contract every registered signal keeps (python-threatexchange's signal-type contract test, for images):
its descriptor round-trips and is stable, its features are its own, its rules read the calibration, and its own
example holds on real pictures: an edit it must see through agrees, two different works do not."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from detector.calibration import packaged_model_path
from detector.embedders import BUILT_IN, installed, load_embedder
from detector.fusion import load_model
from detector.intake import DecodedImage, decode_image
from detector.signals import SIGNAL_TYPES, Signal, build_signals

DEMO = Path(__file__).resolve().parents[1] / "samples" / "demo" / "originals"
EMBEDDERS = [e for e in ("effnet-lite0", "sscd-distilled") if e in BUILT_IN]


def _decoded(rgb: np.ndarray, name: str) -> DecodedImage:
    import io

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG")
    return decode_image(buf.getvalue(), name)


@pytest.fixture(scope="module")
def paintings() -> list[DecodedImage]:
    return [decode_image(p.read_bytes(), p.name) for p in sorted(DEMO.glob("*.jpg"))]


@pytest.fixture(scope="module", params=EMBEDDERS)
def signals(request: pytest.FixtureRequest) -> dict[str, Signal[Any]]:
    if not installed(request.param):
        pytest.skip(f"{request.param} is not installed")
    return {s.name: s for s in build_signals(load_embedder(request.param))}


@pytest.fixture(scope="module")
def rules():  # type: ignore[no-untyped-def]
    return load_model(packaged_model_path("effnet-lite0"))


@pytest.mark.parametrize("name", sorted(SIGNAL_TYPES))
def test_descriptor_round_trips_and_is_stable(signals, paintings, name: str) -> None:  # type: ignore[no-untyped-def]
    sig = signals[name]
    d = sig.compute(paintings[0])
    data = sig.to_bytes(d)
    assert sig.to_bytes(sig.from_bytes(data)) == data
    assert sig.to_bytes(sig.compute(paintings[0])) == data  # the same picture, the same bytes
    assert isinstance(sig.version, int) and sig.version >= 1
    assert sig.describe()["name"] == name and sig.describe()["version"] == sig.version


@pytest.mark.parametrize("name", sorted(SIGNAL_TYPES))
def test_features_and_rules_are_the_signals_own(signals, paintings, rules, name: str) -> None:  # type: ignore[no-untyped-def]
    sig = signals[name]
    comp = sig.compare(sig.compute_query(paintings[1]), sig.compute(paintings[1]))
    assert set(comp.features) <= set(sig.feature_names)
    assert all(f.startswith(name + ".") for f in sig.feature_names)
    assert set(sig.background_features) <= set(sig.feature_names)
    assert set(sig.fusion_inputs(comp.features)) <= set(sig.feature_names)
    assert sig.role in ("candidate", "verifier")
    assert (sig.index_layout() is None) == (sig.role == "verifier")  # verifiers are never searched, only run
    text = sig.reading({**comp.evidence, **{k.split(".", 1)[1]: v for k, v in comp.features.items()}}, rules)
    assert isinstance(text, str) and text


@pytest.mark.parametrize("name", sorted(SIGNAL_TYPES))
def test_the_signals_own_example_holds_on_real_paintings(signals, paintings, rules, name: str) -> None:  # type: ignore[no-untyped-def]
    """Each painting against its `example_copy` agrees; each painting against another does not."""
    sig = signals[name]
    refs = [sig.from_bytes(sig.to_bytes(sig.compute(p))) for p in paintings]
    for p, ref in zip(paintings, refs, strict=True):
        copy = _decoded(sig.example_copy(p.rgb), "example.png")
        features = sig.compare(sig.compute_query(copy), ref).features
        assert sig.agrees(features, rules), (name, p.name, features)
    for (a, _), (_, ref_b) in pairwise(zip(paintings, refs, strict=True)):
        features = sig.compare(sig.compute_query(a), ref_b).features
        assert not sig.agrees(features, rules), (name, a.name, features)


@pytest.mark.parametrize("name", sorted(SIGNAL_TYPES))
def test_every_signal_reaches_the_fusion_and_its_rules_the_calibration_file(name: str, tmp_path: Path) -> None:
    """A new signal is one module: its fusion features are fitted, its agreement levels and proof rules are written
    to a calibration file and read back from it, with nothing else naming them."""
    from dataclasses import replace

    from detector.background import EXCESS_SUFFIX
    from detector.calibration import fit as F
    from detector.calibration.writer import model_toml

    cls = SIGNAL_TYPES[name]
    for f in cls.fusion_features:
        assert f in cls.feature_names
        assert (f + EXCESS_SUFFIX if f in cls.background_features else f) in F.FEATURES
    assert cls.agreement_levels.items() <= F.AGREEMENT.items()
    start = load_model(packaged_model_path("effnet-lite0"))
    model = replace(start, signal_rules=F.starting_rules(), agreement=dict(F.AGREEMENT))
    path = tmp_path / "thresholds.toml"
    path.write_text(model_toml(model, {}, ["test"]))
    back = load_model(path)
    for rule, value in cls.proof_rules.items():
        assert back.rule(name, rule) == value
    assert back.agreement == F.AGREEMENT


def test_calibration_files_written_before_signal_sections_still_load(tmp_path: Path) -> None:
    """Workspaces and evidence bundles hold calibration files with flat `[verdict]` proof fields: they keep loading,
    with the same numbers, into the signals' sections."""
    old = (
        'version = "v"\n[fusion]\nbias = 0.0\n[fusion.weights]\n"pdq.match" = 1.0\n'
        "[verdict]\ncopy = 0.99\nderivative = 0.98\ncopy_min_inliers = 25\ncopy_min_inlier_ratio = 0.7\n"
        "copy_max_pdq_distance = 30\n"
    )
    path = tmp_path / "old.toml"
    path.write_text(old)
    model = load_model(path)
    assert model.rule("keypoints", "min_inliers") == 25 and model.rule("keypoints", "min_inlier_ratio") == 0.7
    assert model.rule("pdq", "max_distance") == 30
    described = model.describe()
    assert (described["copy_min_inliers"], described["copy_max_pdq_distance"]) == (25, 30)
