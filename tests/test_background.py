"""Background normalisation: the shipped set, its exact vectorised comparison, and what it does to scores."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from detector.background import TOP_K, Baselines, baseline, load_background, with_excess
from detector.embedders import load_embedder
from detector.intake import DecodedImage, decode_image
from detector.signals import build_signals
from detector.signals.embedding import EmbeddingSignal

DEMO = Path(__file__).resolve().parents[1] / "samples" / "demo"


def _decode(path: Path) -> DecodedImage:
    return decode_image(path.read_bytes(), path.name)


@pytest.fixture(scope="module")
def background():  # type: ignore[no-untyped-def]
    bg = load_background("effnet-lite0")
    assert bg is not None, "the package must ship detector/background/effnet-lite0.npz"
    return bg


@pytest.fixture(scope="module")
def signal() -> EmbeddingSignal:
    return EmbeddingSignal(load_embedder("effnet-lite0"))


def test_shipped_set_is_identified_and_sized(background) -> None:  # type: ignore[no-untyped-def]
    assert background.embedder_id == "effnet-lite0"
    blobs = background.descriptors["embedding:effnet-lite0"]
    assert len(blobs) == len(background.source_sha256) >= 100
    assert len(background.digest) == 64


def test_vectorised_comparison_equals_compare_one_by_one(background, signal) -> None:  # type: ignore[no-untyped-def]
    """The baseline must be the very numbers `compare` would give each background image as a suspect."""
    blobs = background.descriptors[signal.key][:25]
    decoded = [signal.from_bytes(b) for b in blobs]
    reference = signal.compute(_decode(DEMO / "originals" / "vangogh-night-cafe.jpg"))
    batch = signal.compare_background(signal.stack_background(decoded), reference)
    for i, d in enumerate(decoded):
        one = signal.compare(d, reference).features
        for name in signal.background_features:
            assert batch[name][i] == pytest.approx(one[name], abs=1e-5), name


def test_baseline_is_the_mean_of_the_top_k() -> None:
    values = {"x": np.arange(100, dtype=np.float64) / 100}
    assert baseline(values)["x"] == pytest.approx(np.mean(np.arange(100 - TOP_K, 100)) / 100)
    assert with_excess({"x": 0.95, "y": 0.5}, {"x": 0.9}) == {"x": 0.95, "y": 0.5, "x.excess": pytest.approx(0.05)}


def test_a_plain_drawing_resembles_strangers_more_than_a_painting(background) -> None:  # type: ignore[no-untyped-def]
    """The failure it fixes: a low-content work (a flat shape on white, like clip art) is similar to many unrelated
    images, so its raw similarities say little; its baseline is higher than a detailed painting's."""
    signals = build_signals(load_embedder("effnet-lite0"))
    baselines = Baselines(background, signals)
    emb = next(s for s in signals if s.background_features)
    drawing = Image.new("RGB", (640, 480), "white")
    ImageDraw.Draw(drawing).ellipse((200, 120, 440, 360), fill=(220, 40, 40), outline="black", width=6)
    buf = io.BytesIO()
    drawing.save(buf, "PNG")
    plain = baselines.of({emb.key: emb.compute(decode_image(buf.getvalue(), "drawing.png"))})
    for name in ("vangogh-night-cafe.jpg", "vangogh-church-at-auvers.jpg"):
        painting = baselines.of({emb.key: emb.compute(_decode(DEMO / "originals" / name))})
        assert plain["embedding.global"] > painting["embedding.global"] + 0.04, (plain, painting)
        assert plain["embedding.layout"] > painting["embedding.layout"] + 0.2, (plain, painting)


def test_baselines_are_memoised_and_forgotten(background) -> None:  # type: ignore[no-untyped-def]
    signals = build_signals(load_embedder("effnet-lite0"))
    baselines = Baselines(background, signals)
    emb = next(s for s in signals if s.background_features)
    a = {emb.key: emb.compute(_decode(DEMO / "originals" / "vangogh-night-cafe.jpg"))}
    b = {emb.key: emb.compute(_decode(DEMO / "originals" / "vangogh-pere-tanguy.jpg"))}
    first = baselines.of(a, cache_key=1)
    assert baselines.of(b, cache_key=1) == first  # memoised under the key
    baselines.forget()
    assert baselines.of(b, cache_key=1) != first


def test_no_background_means_no_excess_features() -> None:
    signals = build_signals(load_embedder("effnet-lite0"))
    assert Baselines(None, signals).of({}) == {}
    assert load_background("no-such-embedder") is None


def test_background_images_come_only_from_the_background_share(background, shared_eval, dev_rows) -> None:  # type: ignore[no-untyped-def]
    """Every image of the shipped set is a redistributable distractor of the background share of the split, so
    evaluate.py can leave them all out and no reported figure is measured on an image the set has seen."""
    from detector.calibration.splits import distractor_split, redistributable

    by_hash = {}
    for r in dev_rows:
        if r["role"] == "distractor" and distractor_split(r["sha1"]) == "background":
            by_hash[hashlib.sha256((shared_eval / r["path"]).read_bytes()).hexdigest()] = r
    assert background.source_sha256 <= set(by_hash)
    assert all(redistributable(by_hash[h]["licence"]) for h in background.source_sha256)


def test_painterly_re_renderings_of_the_demo_works_find_their_original(tmp_path: Path) -> None:
    """End to end on the bundled sample: each demo painting re-rendered (stylised, cartoon, sketch, brush
    strokes, new palette, slight warp) is matched to its own original first, with excess features recorded."""
    from detector import synthetic
    from service.engine import Engine, WorkMetadata
    from service.inputs import InputItem

    engine = Engine.init(str(tmp_path / "ws"), ["effnet-lite0"])
    originals = sorted((DEMO / "originals").glob("*.jpg"))
    engine.register_many([(InputItem(str(p), reader=p.read_bytes), WorkMetadata(ref=p.stem)) for p in originals])
    rng = np.random.default_rng(20261129)
    items = []
    for p in originals:
        art = synthetic.restyle(_decode(p).rgb, rng)
        buf = io.BytesIO()
        Image.fromarray(art.image).save(buf, "JPEG", quality=90)
        data = buf.getvalue()
        items.append(InputItem(f"{p.stem}-{art.relation}.jpg", reader=lambda d=data: d))
    for p, res in zip(originals, engine.scan_many(items, top_k=3, near_misses=True), strict=True):
        assert res.error is None and res.matches, res.path
        best = res.matches[0]
        assert best.ref == p.stem, (res.path, [(m.ref, m.score) for m in res.matches])
        assert best.features["embedding.layout.excess"] > 0.2
    engine.close()
