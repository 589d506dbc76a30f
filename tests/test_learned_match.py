"""The learned-matching verifier on real AI re-renderings (shared/eval/ai_pairs): it keeps an original's composition
through a repainting where ORB does not, it runs on the few best candidates only, and it proves no copy."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from detector.calibration import packaged_model_path
from detector.fusion import load_model
from detector.geometry import Box, clip_polygon, points_inside, polygon_area
from detector.intake import decode_image
from detector.signals.keypoints import KeypointSignal
from detector.signals.learned_match import AGREEING_INLIERS, LearnedMatchSignal
from detector.views import View
from service.engine import Engine, WorkMetadata
from service.inputs import InputItem


@pytest.fixture(scope="module")
def ai_pairs(shared_eval: Path) -> list[dict[str, str]]:
    path = shared_eval / "ai_pairs" / "manifest.csv"
    if not path.is_file():
        pytest.skip(f"the AI pairs are not present at {path}")
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _pairs(rows: list[dict[str, str]], relation: str, n: int) -> list[tuple[dict[str, str], dict[str, str]]]:
    """n (derivative, original) rows of one relation, in a stable order, each from its own original."""
    originals = {r["pair_id"]: r for r in rows if r["role"] == "original"}
    seen: set[str] = set()
    out = []
    for r in sorted((r for r in rows if r["relation"] == relation), key=lambda r: r["sha1"]):
        if r["pair_id"] in originals and r["pair_id"] not in seen:
            seen.add(r["pair_id"])
            out.append((r, originals[r["pair_id"]]))
    if len(out) < n:
        pytest.skip(f"fewer than {n} {relation} pairs in ai_pairs")
    return out[:n]


def test_a_repainting_keeps_its_originals_composition_and_not_anothers(shared_eval, ai_pairs) -> None:  # type: ignore[no-untyped-def]
    """AnimeGAN, neural style transfer and an instruction edit redraw the picture: the learned matcher maps most of
    the original onto its re-rendering under one transform, and another original keeps far fewer matches."""
    sig = LearnedMatchSignal()
    pairs = (
        _pairs(ai_pairs, "anime_gan", 2)
        + _pairs(ai_pairs, "stylised_content", 2)
        + _pairs(ai_pairs, "instruct_edit", 2)
    )
    decoded = {
        r["path"]: decode_image((shared_eval / r["path"]).read_bytes(), r["path"]) for pair in pairs for r in pair
    }
    for derivative, original in pairs:
        suspect, own = decoded[derivative["path"]], decoded[original["path"]]
        other = next(decoded[o["path"]] for _, o in pairs if o["pair_id"] != original["pair_id"])
        found = sig.compare(sig.compute_query(suspect), sig.from_bytes(sig.to_bytes(sig.compute(own))))
        stranger = sig.compare(sig.compute_query(suspect), sig.compute(other))
        inliers = found.features["learned_match.inliers"]
        assert inliers >= 100 and found.features["learned_match.coverage"] >= 0.5, (derivative["path"], found.evidence)
        assert inliers >= 3 * stranger.features["learned_match.inliers"], (derivative["path"], stranger.evidence)
        assert found.query_region and found.reference_region  # the outline the report draws


def test_a_controlnet_picture_drawn_from_its_originals_edges_defeats_orb_but_not_the_learned_matcher(
    shared_eval, ai_pairs
) -> None:  # type: ignore[no-untyped-def]
    """ControlNet draws a new picture over the original's edge map: no ORB corner survives, learned features do."""
    sig, orb = LearnedMatchSignal(), KeypointSignal()
    rules = load_model(packaged_model_path("sscd-distilled"))
    originals = {r["pair_id"]: r for r in ai_pairs if r["role"] == "original"}
    chosen = [r for r in ai_pairs if r["path"].endswith(("cn/p4_out1.png", "cn11/canny_1_out2.png"))]
    if len(chosen) < 2:
        pytest.skip("the chosen ControlNet pairs are not in ai_pairs")
    for r in chosen:
        suspect = decode_image((shared_eval / r["path"]).read_bytes(), r["path"])
        own = decode_image((shared_eval / originals[r["pair_id"]]["path"]).read_bytes(), "original")
        learned = sig.compare(sig.compute_query(suspect), sig.compute(own)).features
        corners = orb.compare(orb.compute_query(suspect), orb.compute(own)).features
        assert learned["learned_match.inliers"] >= 60, (r["path"], learned)
        assert corners["keypoints.inliers"] < rules.rule("keypoints", "min_inliers"), (r["path"], corners)


def test_the_verifier_runs_on_its_few_best_candidates_only(tmp_path, shared_eval, ai_pairs) -> None:  # type: ignore[no-untyped-def]
    """Every candidate is compared by the cheap signals; the learned matcher runs on `verify_top` of them, the ones
    the background-normalised similarities rank highest, which include the work the re-rendering was made from."""
    pairs = _pairs(ai_pairs, "anime_gan", 5)
    engine = Engine.init(str(tmp_path / "ws"), ["effnet-lite0"])
    try:
        items = [
            (InputItem(o["path"], reader=(shared_eval / o["path"]).read_bytes), WorkMetadata(ref=o["pair_id"]))
            for _, o in pairs
        ]
        assert all(o.status == "registered" for o in engine.register_many(items))
        derivative, original = pairs[0]
        suspect = InputItem(derivative["path"], reader=(shared_eval / derivative["path"]).read_bytes)
        result = next(engine.scan_many([suspect], top_k=10, near_misses=True))
    finally:
        engine.close()
    assert len(result.matches) == 5
    verified = [m.ref for m in result.matches if "learned_match" in m.signals]
    assert len(verified) == LearnedMatchSignal.verify_top
    assert original["pair_id"] in verified
    best = result.matches[0]
    assert best.ref == original["pair_id"] and best.signals["learned_match"]["inliers"] >= 100
    assert best.verdict != "copy" or best.signals["keypoints"].get("inliers", 0) >= 20  # never the matcher's proof


def test_a_copy_already_proven_is_not_sent_to_the_costly_verifier(tmp_path, shared_eval, ai_pairs) -> None:  # type: ignore[no-untyped-def]
    """A plain scan (only decided matches returned) spends no learned matching on a suspect whose copy is already
    proven by pixel-level evidence; with near misses kept, as a calibration needs, it runs all the same."""
    import io

    from PIL import Image

    (_, original), *_ = _pairs(ai_pairs, "anime_gan", 1)
    engine = Engine.init(str(tmp_path / "ws"), ["effnet-lite0"])
    try:
        item = InputItem(original["path"], reader=(shared_eval / original["path"]).read_bytes)
        assert engine.register_many([(item, WorkMetadata(ref=original["pair_id"]))])[0].status == "registered"
        buf = io.BytesIO()
        Image.open(shared_eval / original["path"]).convert("RGB").resize((400, 400)).save(buf, "JPEG", quality=80)
        data = buf.getvalue()
        plain = next(engine.scan_many([InputItem("copy.jpg", reader=lambda: data)]))
        kept = next(engine.scan_many([InputItem("copy.jpg", reader=lambda: data)], near_misses=True))
    finally:
        engine.close()
    assert plain.verdict == "copy" and "learned_match" not in plain.matches[0].signals
    assert kept.matches[0].verdict == "copy" and kept.matches[0].signals["learned_match"]["inliers"] >= 100


def test_unrelated_pictures_are_screened_out_before_lighterglue(shared_eval, ai_pairs, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Plain mutual nearest neighbours that agree on one transform screen a pair before LighterGlue: a
    re-rendering's own original always passes, and originals of other re-renderings mostly do not, at no cost."""
    from detector import learned_matcher as lm
    from detector.signals.learned_match import MIN_MUTUAL_INLIERS

    sig = LearnedMatchSignal()
    pairs = _pairs(ai_pairs, "anime_gan", 3) + _pairs(ai_pairs, "stylised_content", 3)
    calls = 0
    glue = lm.LearnedMatcher.match

    def counted(self, a, b):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        return glue(self, a, b)

    monkeypatch.setattr(lm.LearnedMatcher, "match", counted)
    works = {
        o["pair_id"]: sig.compute(decode_image((shared_eval / o["path"]).read_bytes(), o["path"])) for _, o in pairs
    }
    screened = 0
    compared = 0
    for derivative, original in pairs:
        suspect = sig.compute_query(decode_image((shared_eval / derivative["path"]).read_bytes(), derivative["path"]))
        own = sig.compare(suspect, works[original["pair_id"]])
        assert not own.evidence.get("screened_out"), (derivative["path"], own.evidence)
        for pid, work in works.items():
            if pid == original["pair_id"]:
                continue
            other = sig.compare(suspect, work)
            compared += 1
            if other.evidence.get("screened_out"):
                screened += 1
                assert int(other.evidence["mutual_nearest_inliers"]) < MIN_MUTUAL_INLIERS
                assert other.features["learned_match.inliers"] == 0.0
    assert screened >= compared // 3, (screened, compared)
    assert calls == len(pairs) + compared - screened  # LighterGlue ran only on what passed the screen


def test_a_repainted_panel_of_a_collage_is_matched_alone_and_outlined_on_the_suspect() -> None:
    """The brief's AI collage (samples/demo): two repainted works, rotated, small in the whole picture. Compared
    alone, each panel keeps many more of its original's learned matches than the whole collage does, and the
    outline found inside the panel lands on that panel in the suspect."""
    demo = Path(__file__).resolve().parents[1] / "samples" / "demo"
    suspect = decode_image((demo / "suspects" / "ai_collage_cafe_bridge.jpg").read_bytes(), "ai_collage.jpg")
    signal = LearnedMatchSignal()
    query = signal.compute_query(suspect)
    for name in ("night-cafe", "langlois-bridge"):
        original = decode_image((demo / "originals" / f"vangogh-{name}.jpg").read_bytes(), name)
        reference = signal.compute(original)
        whole = signal.compare(query, reference).features["learned_match.inliers"]
        alone = [signal.compare_view(query, reference, i) for i in range(len(suspect.views))]
        best = max(range(len(alone)), key=lambda i: alone[i].features["learned_match.inliers"])
        found = alone[best]
        assert found.features["learned_match.inliers"] >= max(float(AGREEING_INLIERS), 1.5 * whole), (name, whole)
        assert found.query_region, name
        view = suspect.views[best].to_polygon(suspect.width, suspect.height)
        outline = found.query_region
        assert polygon_area(clip_polygon(outline, suspect.width, suspect.height)) > 0
        inside = points_inside(view, np.asarray(outline, np.float64))
        assert inside >= len(outline) - 1, (name, view, outline)  # the outline lies on the panel it was found in


def test_a_view_too_small_for_local_features_is_reported_not_raised(shared_eval: Path) -> None:
    """A 74 px detail from GCompris has a region proposal a few dozen pixels across: XFeat cannot take features of
    it (it divided by zero and failed the whole scan); the view's comparison says so and finds nothing."""
    path = shared_eval / "images" / "deb_gcompris" / "details" / "Gogh4_0.webp"
    suspect = decode_image(path.read_bytes(), path.name)
    signal = LearnedMatchSignal()
    query = signal.compute_query(suspect)
    demo = Path(__file__).resolve().parents[1] / "samples" / "demo" / "originals" / "vangogh-night-cafe.jpg"
    reference = signal.compute(decode_image(demo.read_bytes(), demo.name))
    assert suspect.views
    for i in range(len(suspect.views)):
        found = signal.compare_view(query, reference, i)
        assert found.features["learned_match.inliers"] == 0.0
        assert "too small" in str(found.evidence.get("not_run", "")) or found.evidence.get("screened_out")


def test_a_long_thin_view_is_reported_not_raised(shared_eval: Path) -> None:
    """A view 900 x 40 px (a banner or a button bar in a page) is shrunk to the 512 px working scale, 23 px high:
    too thin for XFeat, which divided by zero and failed the whole scan."""

    rng = np.random.default_rng(0)
    page = (rng.random((600, 1000, 3)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(page).save(buf, "PNG")
    suspect = decode_image(buf.getvalue(), "page.png")
    shift = np.asarray([[1, 0, 50], [0, 1, 100], [0, 0, 1]], np.float64)
    suspect.__dict__["views"] = [View("panel", Box(0.05, 100 / 600, 0.95, 140 / 600), page[100:140, 50:950], shift)]
    signal = LearnedMatchSignal()
    demo = Path(__file__).resolve().parents[1] / "samples" / "demo" / "originals" / "vangogh-night-cafe.jpg"
    found = signal.compare_view(signal.compute_query(suspect), signal.compute(decode_image(demo.read_bytes(), "w")), 0)
    assert found.features["learned_match.inliers"] == 0.0
    assert "too small" in str(found.evidence["not_run"])
