"""Evidence reports: HTML and PDF from real pairs, collage coverage, tamper detection and reproduction."""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin
from pypdf import PdfReader

from detector.provenance import ai_indicators, read_metadata
from service.engine import Engine, WorkMetadata
from service.inputs import InputItem
from service.reports.bundle import CaseInfo, build_bundle, reproduce_bundle, verify_bundle

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "samples" / "demo"
CASE = CaseInfo(
    case_number="2026-TEST-7",
    examiner="A. Examiner",
    authority="Test Prosecutor",
    obtained="seized laptop /home/suspect/Pictures",
)


def item(path: Path) -> InputItem:
    return InputItem(str(path), reader=path.read_bytes)


@pytest.fixture(scope="module")
def dev_bundle(tmp_path_factory, shared_eval, pick, original_of):  # type: ignore[no-untyped-def]
    """A report on a real dev pair: a wallpaper registered, its thumbnail scanned (a reframed variant falls below
    the effnet-lite0 calibration's 0.99 threshold; docs/EVALUATION.md)."""
    suspect = pick(relation="thumbnail", source="deb_wallpapers")[0]
    original = original_of(suspect)
    tmp = tmp_path_factory.mktemp("report")
    engine = Engine.init(str(tmp / "ws"), ["effnet-lite0"])
    engine.register(
        item(shared_eval / original["path"]),
        WorkMetadata(ref=original["pair_id"], title="Wallpaper", rights_holder="Its author"),
    )
    bundle = build_bundle(engine, item(shared_eval / suspect["path"]), CASE, tmp / "out")
    engine.close()
    return bundle, suspect, original


@pytest.fixture(scope="module")
def collage_bundle(tmp_path_factory):  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("collage")
    engine = Engine.init(str(tmp / "ws"), ["effnet-lite0"])
    for p in sorted((DEMO / "originals").iterdir()):
        engine.register(item(p), WorkMetadata(ref=p.stem, title=p.stem))
    bundle = build_bundle(engine, item(DEMO / "suspects" / "collage_auvers_tanguy.jpg"), CASE, tmp / "out")
    engine.close()
    return bundle


def test_a_real_pair_renders_to_html_and_pdf(dev_bundle) -> None:  # type: ignore[no-untyped-def]
    bundle, _suspect, original = dev_bundle
    html = (bundle / "report.html").read_text()
    ev = json.loads((bundle / "evidence.json").read_text())
    assert ev["matches"][0]["ref"] == original["pair_id"]
    assert ev["suspect"]["sha256"] in html and ev["matches"][0]["work"]["sha256"] in html
    assert "2026-TEST-7" in html and "substantially similar" in html
    assert html.count("data:image/jpeg;base64,") >= 2  # self-contained: figures embedded
    assert "http://" not in html.replace("http://www.w3.org", "") and "<script" not in html
    assert (bundle / "report.pdf").read_bytes().startswith(b"%PDF")


def test_the_pdf_has_the_hashes_and_the_images(dev_bundle) -> None:  # type: ignore[no-untyped-def]
    bundle, _, _ = dev_bundle
    ev = json.loads((bundle / "evidence.json").read_text())
    reader = PdfReader(str(bundle / "report.pdf"))
    text = "".join(page.extract_text() for page in reader.pages).replace("\n", "")
    assert ev["suspect"]["sha256"] in text
    assert ev["suspect"]["md5"] in text
    assert ev["matches"][0]["work"]["sha256"] in text
    images = sum(len(page.images) for page in reader.pages)
    assert images >= 2  # side by side + overlay for the match


def test_a_collage_report_lists_every_matched_work(collage_bundle) -> None:  # type: ignore[no-untyped-def]
    ev = json.loads((collage_bundle / "evidence.json").read_text())
    refs = {m["ref"] for m in ev["matches"] if m["verdict"] != "no_match"}
    assert {"vangogh-church-at-auvers", "vangogh-pere-tanguy"} <= refs
    html = (collage_bundle / "report.html").read_text()
    pdf_text = "".join(p.extract_text() for p in PdfReader(str(collage_bundle / "report.pdf")).pages)
    for ref in ("vangogh-church-at-auvers", "vangogh-pere-tanguy"):
        assert ref in html and ref in pdf_text.replace("\n", "")


def test_an_untouched_bundle_verifies(collage_bundle) -> None:  # type: ignore[no-untyped-def]
    result = verify_bundle(collage_bundle)
    assert result.ok, result.problems


@pytest.mark.parametrize(
    "target",
    [
        "report.html",
        "report.pdf",
        "evidence.json",
        "inputs/suspect.jpg",
        "figures/match-1-side-by-side.jpg",
        "manifest.json",
        "manifest.sig",
        "method/thresholds.toml",
    ],
)
def test_changing_one_byte_anywhere_is_detected(collage_bundle, tmp_path: Path, target: str) -> None:  # type: ignore[no-untyped-def]
    copy = tmp_path / "b"
    shutil.copytree(collage_bundle, copy)
    path = copy / target
    data = bytearray(path.read_bytes())
    i = len(data) // 2 if target != "manifest.sig" else 3
    data[i] = (data[i] + 1) % 256 if target != "manifest.sig" else ord("A" if data[i] != ord("A") else "B")
    path.write_bytes(bytes(data))
    result = verify_bundle(copy)
    assert not result.ok
    assert result.problems


def test_added_or_removed_files_are_detected(collage_bundle, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    added = tmp_path / "added"
    shutil.copytree(collage_bundle, added)
    (added / "figures" / "extra.jpg").write_bytes(b"x")
    assert any("not in the manifest" in p for p in verify_bundle(added).problems)
    removed = tmp_path / "removed"
    shutil.copytree(collage_bundle, removed)
    (removed / "report.pdf").unlink()
    assert any("missing file" in p for p in verify_bundle(removed).problems)


def test_a_fifo_or_a_link_in_a_bundle_is_refused_without_being_opened(collage_bundle, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Only listed regular files belong in a signed bundle: a FIFO would hang whoever opens it, a link points
    outside what was signed. Neither is read, and the manifest's own place taken by a FIFO is refused too."""
    fifo = tmp_path / "fifo"
    shutil.copytree(collage_bundle, fifo)
    os.mkfifo(fifo / "figures" / "pipe.jpg")
    result = verify_bundle(fifo)
    assert not result.ok and "not a regular file: figures/pipe.jpg is a FIFO" in result.problems
    linked = tmp_path / "linked"
    shutil.copytree(collage_bundle, linked)
    (linked / "notes.txt").symlink_to("/etc/hostname")
    assert "not a regular file: notes.txt is a symbolic link" in verify_bundle(linked).problems
    hung = tmp_path / "hung"
    shutil.copytree(collage_bundle, hung)
    (hung / "manifest.json").unlink()
    os.mkfifo(hung / "manifest.json")
    assert verify_bundle(hung).problems == ["not a regular file: manifest.json is a FIFO"]


def test_a_bundle_is_trusted_only_when_its_key_is(collage_bundle) -> None:  # type: ignore[no-untyped-def]
    intact = verify_bundle(collage_bundle)
    assert intact.ok and intact.details["trusted_by"] is None  # intact, but nobody vouched for the key
    key = str(intact.details["key_fingerprint"])
    assert verify_bundle(collage_bundle, {"0" * 64: "another key"}).details["trusted_by"] is None
    assert verify_bundle(collage_bundle, {key: "the examiner's key"}).details["trusted_by"] == "the examiner's key"


def test_reproduction_matches(collage_bundle) -> None:  # type: ignore[no-untyped-def]
    result = reproduce_bundle(collage_bundle)
    assert result.ok, result.problems
    rows = result.details["matches"]
    assert isinstance(rows, list) and len(rows) >= 2
    for row in rows:
        assert row["recorded_score"] == pytest.approx(row["recomputed_score"], abs=1e-9)
        assert row["recorded_verdict"] == row["recomputed_verdict"]


def test_reproduction_catches_a_changed_number(collage_bundle, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    copy = tmp_path / "b"
    shutil.copytree(collage_bundle, copy)
    ev = json.loads((copy / "evidence.json").read_text())
    ev["matches"][0]["score"] = 0.5
    (copy / "evidence.json").write_text(json.dumps(ev))
    assert not reproduce_bundle(copy).ok


def _png_with_text(chunks: dict[str, str]) -> bytes:
    info = PngImagePlugin.PngInfo()
    for k, v in chunks.items():
        info.add_text(k, v)
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 20, 30)).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def test_stable_diffusion_and_comfyui_png_chunks_are_quoted() -> None:
    params = "a castle at night\nNegative prompt: blurry\nSteps: 30, Sampler: Euler a, Seed: 1234, Model: sd_xl"
    data = _png_with_text({"parameters": params, "prompt": json.dumps({"3": {"class_type": "KSampler"}})})
    found = ai_indicators(data, read_metadata(data))
    quotes = {i.where: i.quote for i in found}
    assert quotes["PNG text chunk 'parameters'"] == params
    assert "KSampler" in quotes["PNG text chunk 'prompt'"]


def test_iptc_digital_source_type_in_xmp_is_found() -> None:
    xmp = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
        'Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"/>'
        "</rdf:RDF></x:xmpmeta>"
    )
    buf = io.BytesIO()
    Image.new("RGB", (32, 32)).save(buf, "JPEG")
    jpeg = buf.getvalue()
    segment = b"http://ns.adobe.com/xap/1.0/\x00" + xmp.encode()
    data = jpeg[:2] + b"\xff\xe1" + (len(segment) + 2).to_bytes(2, "big") + segment + jpeg[2:]
    found = ai_indicators(data, read_metadata(data))
    assert any(i.kind == "digital_source_type" and "trainedAlgorithmicMedia" in i.quote for i in found)


def test_generator_software_in_exif_is_found_and_plain_photos_have_none() -> None:
    img = Image.new("RGB", (32, 32))
    exif = img.getexif()
    exif[0x0131] = "Adobe Firefly 3"  # Software
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    found = ai_indicators(buf.getvalue(), read_metadata(buf.getvalue()))
    assert [i.quote for i in found] == ["Adobe Firefly 3"]
    plain = (DEMO / "suspects" / "unrelated_coffee.jpg").read_bytes()
    assert ai_indicators(plain, read_metadata(plain)) == []


def test_every_shipped_expert_is_explained_in_words() -> None:
    """A report says which expert gave the score: each expert of every packaged calibration has its own sentence,
    and so has every expert a calibration may fit."""
    from detector.calibration import fit
    from detector.fusion import COMBINED, load_model
    from service.reports.wording import BASIS

    packaged = sorted((Path(__file__).resolve().parents[1] / "detector" / "calibration").glob("*.toml"))
    assert packaged
    for path in packaged:
        assert set(load_model(path).all_experts()) <= set(BASIS), path.name
    assert {COMBINED, *fit.EXPERTS} <= set(BASIS)


def test_readings_quote_the_numbers_of_the_calibration_in_use() -> None:
    """The report text reads the decision numbers from the model: another calibration, other numbers."""
    from dataclasses import replace

    from detector.calibration import packaged_model_path
    from detector.fusion import load_model
    from service.reports.wording import reading

    model = load_model(packaged_model_path("effnet-lite0"))
    rules = {**model.signal_rules, "keypoints": {**model.signal_rules["keypoints"], "min_inliers": 37.0}}
    strict = replace(model, signal_rules={**rules, "pdq": {"max_distance": 17.0}})
    assert f"{round(model.rule('keypoints', 'min_inliers'))} or more" in reading("keypoints", {"inliers": 5}, model)
    assert "37 or more" in reading("keypoints", {"inliers": 5}, strict)
    assert "17 or fewer" in reading("pdq", {"distance": 3}, strict)


def test_the_keypoint_reading_says_when_the_watermark_was_filled_in() -> None:
    """The court reads which copy of the suspect the geometric evidence came from."""
    from service.reports.wording import reading

    plain = {"inliers": 70, "tentative_matches": 90}
    from detector.calibration import packaged_model_path
    from detector.fusion import load_model

    model = load_model(packaged_model_path("effnet-lite0"))
    assert "filled in" not in reading("keypoints", plain, model)
    assert "filled in" in reading("keypoints", {**plain, "query_light_strokes_filled": True}, model)
    assert "filled in" not in reading("keypoints", {**plain, "query_light_strokes_filled": False}, model)


def test_the_report_states_error_rates_and_signal_values_in_words(collage_bundle) -> None:  # type: ignore[no-untyped-def]
    """A judge reads counts and rounded numbers, not JSON: the rates at the thresholds in use as 'N of M unrelated
    images', each signal's values rounded, and the raw records left to evidence.json."""
    from pypdf import PdfReader

    ev = json.loads((collage_bundle / "evidence.json").read_text())
    rates = ev["method"]["thresholds"]["rates"]
    derivative = next(r for k, r in rates.items() if k.endswith("derivative") and isinstance(r, dict))
    sentence = f"{derivative['false_alarms']:,} of {derivative['negatives']:,} unrelated images"
    html = (collage_bundle / "report.html").read_text()
    pdf = " ".join(page.extract_text() for page in PdfReader(collage_bundle / "report.pdf").pages)
    for text in (html, " ".join(pdf.split())):
        assert sentence in text and "95% interval" in text
        assert '{"' not in text and "0.99999" not in text  # no JSON objects, no 16-digit floats
