"""Calibration per embedder: packaged ones match their embedder, a workspace fits its own (`semblance calibrate`),
verdicts never come from a calibration made for another network, and reports name the one used."""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from helpers_clip import TINY_ARCH, install_network_guard, make_images, make_tiny_clip, one_torch_thread
from PIL import Image

from detector.calibration import packaged_model_path
from detector.embedders import BUILT_IN, SPECS, installed, load_embedder, spec_for
from detector.fusion import load_model
from service.calibrate import calibrate
from service.engine import Engine, EngineError, WorkMetadata
from service.inputs import InputItem
from service.reports.bundle import CaseInfo, build_bundle, reproduce_bundle

CALIBRATIONS = Path(__file__).resolve().parents[1] / "detector" / "calibration"


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    install_network_guard(monkeypatch.setattr)
    with one_torch_thread():
        yield


@pytest.fixture(scope="module")
def clip_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, list[Path], list[Path]]:
    """A workspace whose only embedder is a tiny random CLIP file, with 8 works registered (not yet calibrated)."""
    root = tmp_path_factory.mktemp("clip-calibration")
    weights = make_tiny_clip(root / "clip")
    spec = f"clip:{TINY_ARCH}:{weights}"
    works = make_images(root / "works", 8, seed=21, prefix="work")
    unrelated = make_images(root / "unrelated", 12, seed=22, prefix="other")
    engine = Engine.init(str(root / "ws"), [spec])
    outcomes = engine.register_many([(InputItem(str(p), reader=p.read_bytes), WorkMetadata(ref=p.stem)) for p in works])
    assert [o.status for o in outcomes] == ["registered"] * len(works)
    engine.close()
    return root / "ws", spec, works, unrelated


def _item(name: str, rgb: np.ndarray) -> InputItem:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=70)
    data = buf.getvalue()
    return InputItem(name, reader=lambda: data)


def test_every_packaged_calibration_is_for_the_embedder_it_is_named_after() -> None:
    """detector/calibration/<id>.toml is fitted for embedder <id>, with its weights and background set recorded, and
    an installed embedder's weights are the ones it was fitted with."""
    files = sorted(CALIBRATIONS.glob("*.toml"))
    assert "effnet-lite0.toml" in {f.name for f in files}
    for f in files:
        model = load_model(f)
        assert model.embedder == f.stem and f.stem in BUILT_IN
        assert len(model.weights_sha256) == 64 and len(model.background_sha256) == 64
        assert model.rates, f"{f.name} publishes no measured rates"
        if installed(f.stem):
            assert load_embedder(f.stem).weights_sha256 == model.weights_sha256


def test_an_uncalibrated_clip_workspace_calibrates_then_scores_and_reports(clip_home, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The air-gapped examiner's path: their own CLIP file, no calibration shipped for it. Scanning is refused with
    the command that fixes it; `calibrate` fits one from the registered works (synthetic copies as positives, the
    other works and unrelated images as negatives); then scans get verdicts and a report names the calibration."""
    home, spec, works, unrelated = clip_home
    home = shutil.copytree(home, tmp_path / "ws")
    engine = Engine.open(str(home))
    try:
        with pytest.raises(EngineError, match=r"semblance --home .* calibrate"):
            list(engine.scan_many([InputItem(str(works[0]), reader=works[0].read_bytes)]))
        outcome = calibrate(engine, negatives_dir=unrelated[0].parent, per_work=4)
        assert outcome.path == home / "calibration" / outcome.path.parent.name / "model.toml"
        assert outcome.background_images > 0 and outcome.works == len(works)
        for name in ("measure.derivative", "measure.copy"):
            rates = outcome.rates[name]
            lo, hi = rates["false_alarm_ci95"]  # type: ignore[misc]
            assert 0.0 <= lo <= float(rates["false_alarm_rate"]) <= hi <= 1.0  # type: ignore[arg-type]
            assert int(rates["n_all"]) > 0  # type: ignore[call-overload]
    finally:
        engine.close()

    engine = Engine.open(str(home))
    try:
        assert engine.calibration.origin == "workspace"
        assert engine.model.embedder == spec and engine.model.version == outcome.model.version
        rgb = np.asarray(Image.open(works[2]).convert("RGB"))
        hit = engine.scan(_item("recompressed.jpg", rgb))
        assert hit.verdict in ("copy", "derivative") and hit.matches[0].ref == works[2].stem
        stranger = engine.scan(_item("stranger.jpg", np.asarray(Image.open(unrelated[-1]).convert("RGB"))))
        assert stranger.verdict != "copy"
        case = CaseInfo(case_number="CAL-1", examiner="E", authority="A", obtained="test")
        bundle = build_bundle(engine, InputItem(str(works[2]), reader=works[2].read_bytes), case, tmp_path / "out")
    finally:
        engine.close()
    evidence = json.loads((bundle / "evidence.json").read_text())
    assert evidence["method"]["calibration"]["origin"] == "workspace"
    assert evidence["method"]["calibration"]["version"] == outcome.model.version
    assert (bundle / "method" / "background.npz").is_file()  # the workspace's own set travels with the bundle
    assert outcome.model.version in (bundle / "report.html").read_text()
    again = reproduce_bundle(bundle)
    assert again.ok, again.problems


def test_a_calibration_made_for_another_embedder_is_never_used(clip_home, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Dropping effnet-lite0's calibration into a CLIP workspace does not give CLIP verdicts: it is refused, named."""
    home, spec, works, _ = clip_home
    home = shutil.copytree(home, tmp_path / "ws")
    engine = Engine.open(str(home))
    try:
        folder = engine.workspace.calibration_dir(spec)
        folder.mkdir(parents=True)
        shutil.copyfile(packaged_model_path("effnet-lite0"), folder / "model.toml")
        with pytest.raises(EngineError, match="was made for embedder 'effnet-lite0'"):
            engine.scan(InputItem(str(works[0]), reader=works[0].read_bytes))
    finally:
        engine.close()


def test_calibrate_from_a_labelled_manifest(clip_home, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The shared/eval format: derivatives of registered originals are positives, distractors negatives (half of
    them the background set); originals that are not registered are ignored."""
    home, _, works, unrelated = clip_home
    home = shutil.copytree(home, tmp_path / "ws")
    folder = tmp_path / "labelled"
    folder.mkdir()
    rows = []
    for i, p in enumerate(works):
        rgb = np.asarray(Image.open(p).convert("RGB"))
        h, w = rgb.shape[:2]
        shutil.copy(p, folder / p.name)
        rows.append({"path": p.name, "role": "original", "pair_id": f"w{i}"})
        for k, part in enumerate((rgb[: h * 3 // 4, : w * 3 // 4], rgb[::-1])):
            name = f"{p.stem}-d{k}.jpg"
            Image.fromarray(np.ascontiguousarray(part)).save(folder / name, quality=80)
            rows.append({"path": name, "role": "derivative", "pair_id": f"w{i}"})
    for p in unrelated:
        shutil.copy(p, folder / p.name)
        rows.append({"path": p.name, "role": "distractor", "pair_id": ""})
    with open(folder / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["path", "role", "pair_id"])
        writer.writeheader()
        writer.writerows(rows)
    engine = Engine.open(str(home))
    try:
        outcome = calibrate(engine, manifest=folder / "manifest.csv")
        assert "labelled manifest" in outcome.model.derivation
        assert outcome.queries >= 2 * len(works)
    finally:
        engine.close()
    check = Engine.open(str(home))
    try:
        assert check.calibration.origin == "workspace"
    finally:
        check.close()


@pytest.mark.parametrize("name", [n for n, s in SPECS.items() if s.weights_sha256])
def test_installed_embedder_weights_are_the_ones_their_spec_names(name: str) -> None:
    """The spec records the SHA-256 of the weights the shipped calibration was made with; an installed package with
    other weights would be caught by the calibration check at scan time, and here first."""
    if not installed(name):
        pytest.skip(f"{name} is not installed")
    assert load_embedder(name).weights_sha256 == SPECS[name].weights_sha256


def test_an_unknown_embedder_is_named_with_the_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown embedder .nope.*effnet-lite0"):
        spec_for("nope")
    with pytest.raises(ValueError, match="clip:MODEL:TAG_OR_PATH"):
        spec_for("clip:ViT-B-32")


def test_an_aligned_expert_raises_alarms_at_the_others_false_alarm_rate() -> None:
    """The repainting expert, fitted over every pair, may never reach the score at which the other experts raise
    1% false alarms; aligned, it raises its own 1% exactly there, so its evidence can decide."""
    from dataclasses import replace

    import numpy as np

    from detector.calibration import fit as F
    from detector.calibration.labelled import Candidate, ScoredQuery, aligned, false_alarm_tops
    from detector.calibration.metrics import threshold_at_far
    from detector.fusion import Expert, load_model

    rng = np.random.default_rng(3)
    negatives = [
        ScoredQuery(
            f"n{i}",
            frozenset(),
            candidates=[
                Candidate(
                    "w",
                    {
                        "embedding.global.excess": float(rng.uniform(-0.2, 0.4)),
                        "learned_match.inliers": float(rng.integers(0, 120)),
                        "learned_match.coverage": float(rng.uniform(0, 0.6)),
                    },
                )
            ],
        )
        for i in range(400)
    ]
    base = load_model(packaged_model_path("effnet-lite0"))
    weak = Expert(-3.0, {"learned_match.inliers": 1.0, "learned_match.coverage": 0.5})  # tops out near 0.18
    model = replace(
        base,
        bias=-2.0,
        weights={"embedding.global.excess": 12.0},
        experts={"repainting": weak},
    )
    fixed = aligned(model, negatives)
    alone = replace(fixed, bias=fixed.experts["repainting"].bias, weights=weak.weights, experts={})
    others = replace(fixed, experts={})
    own = threshold_at_far(false_alarm_tops(alone, negatives), F.DERIVATIVE_FAR)
    target = threshold_at_far(false_alarm_tops(others, negatives), F.DERIVATIVE_FAR)
    assert own == pytest.approx(target, abs=1e-6)
    assert fixed.experts["repainting"].weights == weak.weights  # only the bias moves: same ranking of pairs
