"""Each signal on real copies versus unrelated images, plus descriptor round trips and localisation."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from detector.embedders import load_embedder
from detector.geometry import polygon_iou
from detector.intake import DecodedImage, decode_image
from detector.signals import SIGNAL_TYPES, build_signals
from detector.signals.embedding import EmbeddingSignal
from detector.signals.keypoints import KeypointSignal
from detector.signals.pdq import PdqSignal
from detector.signals.phash import PhashSignal


def load(root: Path, row: dict[str, str]) -> DecodedImage:
    return decode_image((root / row["path"]).read_bytes(), row["path"])


def from_array(a: np.ndarray, name: str = "generated.png") -> DecodedImage:
    import io

    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "PNG")
    return decode_image(buf.getvalue(), name)


@pytest.fixture(scope="module")
def signals():  # type: ignore[no-untyped-def]
    return {s.name: s for s in build_signals(load_embedder("effnet-lite0"))}


@pytest.fixture(scope="module")
def trio(shared_eval, pick, original_of):  # type: ignore[no-untyped-def]
    """(original, its thumbnail, an unrelated distractor) from the dev set."""
    thumb = pick(relation="thumbnail")[0]
    other = pick(role="distractor", source="deb_wallpapers")[0]
    return load(shared_eval, original_of(thumb)), load(shared_eval, thumb), load(shared_eval, other)


@pytest.mark.parametrize("name", sorted(SIGNAL_TYPES))
def test_copy_scores_above_unrelated(signals, trio, name: str) -> None:  # type: ignore[no-untyped-def]
    sig = signals[name]
    original, copy, unrelated = trio
    ref = sig.from_bytes(sig.to_bytes(sig.compute(original)))
    same = sig.compare(sig.compute(copy), ref).features
    other = sig.compare(sig.compute(unrelated), ref).features
    key = sig.feature_names[0]
    assert same[key] > other[key], (name, same, other)


def test_hashes_call_a_thumbnail_a_match_and_a_stranger_not(trio) -> None:  # type: ignore[no-untyped-def]
    original, copy, unrelated = trio
    pdq = PdqSignal()
    ref = pdq.compute(original)
    assert pdq.compare(pdq.compute(copy), ref).evidence["match"] is True
    assert pdq.compare(pdq.compute(unrelated), ref).evidence["match"] is False
    ph = PhashSignal()
    assert ph.compare(ph.compute(copy), ph.compute(original)).evidence["distance"] <= 10


@pytest.mark.parametrize(("k", "expected"), [(1, "rotate90"), (2, "rotate180"), (3, "rotate270")])
def test_pdq_matches_rotations_and_names_them(trio, k: int, expected: str) -> None:  # type: ignore[no-untyped-def]
    original = trio[0]
    pdq = PdqSignal()
    rotated = from_array(np.ascontiguousarray(np.rot90(original.rgb, k)))
    comp = pdq.compare(pdq.compute(rotated), pdq.compute(original))
    assert comp.evidence["distance"] <= 31
    assert comp.evidence["transform"] in (expected, {"rotate90": "rotate270", "rotate270": "rotate90"}.get(expected))


def test_pdq_matches_a_mirror_image(trio) -> None:  # type: ignore[no-untyped-def]
    original = trio[0]
    pdq = PdqSignal()
    mirrored = from_array(np.ascontiguousarray(original.rgb[:, ::-1]))
    comp = pdq.compare(pdq.compute(mirrored), pdq.compute(original))
    assert comp.evidence["distance"] <= 31
    assert comp.evidence["transform"].startswith("flip") or comp.evidence["transform"] in ("transpose", "transverse")


def test_regional_embedding_finds_crops_better_than_the_global_one(shared_eval, pick) -> None:  # type: ignore[no-untyped-def]
    """Crops keeping 40% of an original: the best region pair beats the whole-image cosine on most images."""
    sig = EmbeddingSignal(load_embedder("effnet-lite0"))
    rng = np.random.default_rng(3)
    gains = []
    for row in pick(n=6, role="original", source="gh_style_transfer"):
        original = load(shared_eval, row)
        h, w = original.rgb.shape[:2]
        ch, cw = int(h * 0.63), int(w * 0.63)
        y, x = int(rng.integers(0, h - ch)), int(rng.integers(0, w - cw))
        crop = from_array(np.ascontiguousarray(original.rgb[y : y + ch, x : x + cw]))
        comp = sig.compare(sig.compute_query(crop), sig.compute(original))  # a suspect's descriptor, as in a scan
        gains.append(comp.features["embedding.regional"] - comp.features["embedding.global"])
    assert min(gains) >= 0.0
    assert sum(g > 0.01 for g in gains) >= 4, gains


def test_keypoints_outline_a_crop_in_the_original(trio) -> None:  # type: ignore[no-untyped-def]
    original = trio[0]
    h, w = original.rgb.shape[:2]
    x0, y0, x1, y1 = w // 4, h // 5, w // 4 + w // 2, h // 5 + h // 2
    crop = from_array(np.ascontiguousarray(original.rgb[y0:y1, x0:x1]))
    kp = KeypointSignal()
    comp = kp.compare(kp.compute(crop), kp.compute(original))
    assert comp.features["keypoints.inliers"] >= 20
    assert comp.reference_region is not None
    s = original.scale
    truth = [(x0 * s, y0 * s), (x1 * s, y0 * s), (x1 * s, y1 * s), (x0 * s, y1 * s)]
    assert polygon_iou(comp.reference_region, truth) >= 0.8


def test_keypoints_judge_a_pasted_copy_inside_its_own_outline(trio) -> None:  # type: ignore[no-untyped-def]
    """A copy pasted as one panel next to another picture: the outline is found in both images, and the inlier
    ratio counts only the tentative matches inside the copy, not the other picture's chance matches."""
    original, _, unrelated = trio
    panel = np.asarray(Image.fromarray(original.rgb).resize((300, 200)))
    other = np.asarray(Image.fromarray(unrelated.rgb).resize((600, 400)))
    canvas = np.full((400, 900, 3), 255, np.uint8)
    canvas[100:300, 0:300] = panel
    canvas[:, 300:] = other
    kp = KeypointSignal()
    comp = kp.compare(kp.compute_query(from_array(canvas)), kp.compute(original))
    assert comp.features["keypoints.inliers"] >= 20
    assert comp.query_region is not None and comp.reference_region is not None
    assert polygon_iou(comp.query_region, [(0, 100), (300, 100), (300, 300), (0, 300)]) >= 0.8
    in_region = comp.evidence["tentative_matches_in_region"]
    assert isinstance(in_region, int) and in_region <= comp.evidence["tentative_matches"]  # type: ignore[operator]
    everywhere = comp.features["keypoints.inliers"] / comp.evidence["tentative_matches"]  # type: ignore[operator]
    assert comp.features["keypoints.inlier_ratio"] >= everywhere
    assert comp.features["keypoints.inlier_ratio"] >= 0.7


def test_signals_see_through_a_tiled_watermark(signals, shared_eval, pick) -> None:  # type: ignore[no-untyped-def]
    """A darkened crop of a painting under a tiled, semi-transparent '(c) shop' watermark: the text takes the
    strongest corners, so only the keypoint set with the light strokes filled in verifies the copy; the
    embedding's extra strokes-filled vector resembles the painting far more than the suspect as it is."""
    from PIL import ImageDraw, ImageEnhance, ImageFont

    original = load(shared_eval, pick(role="original", pair_id="art:turner_shipwreck_minotaur")[0])
    h, w = original.rgb.shape[:2]
    crop = Image.fromarray(np.ascontiguousarray(original.rgb[h // 10 : h - h // 10, w // 10 : w - w // 10]))
    dark = ImageEnhance.Brightness(crop).enhance(0.5).convert("RGBA")
    layer = Image.new("RGBA", dark.size, (0, 0, 0, 0))
    draw, (cw, ch) = ImageDraw.Draw(layer), dark.size
    font = ImageFont.load_default(size=max(12, ch // 12))
    for y in range(0, ch, max(30, ch // 6)):
        for x in range(0, cw, max(80, cw // 4)):
            draw.text((x, y), "\u00a9 shop", fill=(255, 255, 255, 110), font=font)
    suspect = from_array(np.asarray(Image.alpha_composite(dark, layer).convert("RGB")))
    kp = KeypointSignal()
    query, reference = kp.compute_query(suspect), kp.compute(original)
    assert query.strokes_filled is not None
    plain = kp.compare(replace(query, strokes_filled=None), reference)
    comp = kp.compare(query, reference)
    assert comp.evidence["query_light_strokes_filled"] is True
    assert comp.features["keypoints.inliers"] >= 40 > plain.features["keypoints.inliers"]
    assert comp.features["keypoints.inlier_ratio"] >= 0.6
    es = signals["embedding"]
    emb = es.compare(es.compute_query(suspect), es.compute(original))
    assert emb.features["embedding.regional"] >= emb.features["embedding.global"] + 0.2, emb.features
    # the same darkened crop without the watermark has few thin light strokes: no second set
    plain_dark = from_array(np.asarray(dark.convert("RGB")))
    assert plain_dark.light_strokes_filled is None and kp.compute_query(plain_dark).strokes_filled is None


def test_keypoints_find_nothing_between_unrelated_images(trio) -> None:  # type: ignore[no-untyped-def]
    original, _, unrelated = trio
    kp = KeypointSignal()
    comp = kp.compare(kp.compute(unrelated), kp.compute(original))
    assert comp.features["keypoints.inliers"] < 20
    assert comp.query_region is None


@pytest.mark.parametrize("name", sorted(SIGNAL_TYPES))
def test_descriptors_round_trip(signals, trio, name: str) -> None:  # type: ignore[no-untyped-def]
    sig = signals[name]
    d = sig.compute(trio[0])
    back = sig.from_bytes(sig.to_bytes(d))
    assert sig.to_bytes(back) == sig.to_bytes(d)
    # float16 storage of embeddings must not change a self-comparison materially
    comp = sig.compare(d, back)
    assert comp.features[sig.feature_names[0]] >= 0.99 or name == "keypoints"


def test_signals_are_deterministic(signals, trio) -> None:  # type: ignore[no-untyped-def]
    for sig in signals.values():
        assert sig.to_bytes(sig.compute(trio[1])) == sig.to_bytes(sig.compute(trio[1]))


def test_layout_ties_style_transferred_images_to_their_content_original(shared_eval, pick, original_of) -> None:  # type: ignore[no-untyped-def]
    """Neural style transfer keeps the content's mid-level layout: the stylised image is closer to its own
    content original than to the other originals of the same source."""
    sig = EmbeddingSignal(load_embedder("effnet-lite0"))
    stylised = pick(n=6, relation="stylised_content")
    originals = {r["pair_id"]: original_of(r) for r in stylised}
    refs = {pid: sig.compute(load(shared_eval, row)) for pid, row in originals.items()}
    assert len(refs) >= 2
    closest = 0
    for row in stylised:
        q = sig.compute_query(load(shared_eval, row))
        scores = {pid: sig.compare(q, ref).features["embedding.layout"] for pid, ref in refs.items()}
        closest += max(scores, key=scores.__getitem__) == row["pair_id"]
    assert closest >= 5, closest
