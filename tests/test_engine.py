"""The engine API end to end on real dev images: registration, duplicates, scanning, collages, removal."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from detector.geometry import polygon_iou
from detector.intake import decode_image
from service.engine import Engine, EngineError, WorkMetadata
from service.inputs import InputItem

WALLPAPERS = "deb_wallpapers"


def file_item(root: Path, row: dict[str, str]) -> InputItem:
    return InputItem(row["path"], reader=(root / row["path"]).read_bytes)


def bytes_item(name: str, data: bytes) -> InputItem:
    return InputItem(name, reader=lambda: data)


def png(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def works(dev_rows):  # type: ignore[no-untyped-def]
    """Six wallpaper originals that have near-copy derivatives in the dev set."""
    with_copies = {r["pair_id"] for r in dev_rows if r["relation"] in ("thumbnail", "grub_variant")}
    rows = sorted(
        (r for r in dev_rows if r["role"] == "original" and r["pair_id"] in with_copies), key=lambda r: r["sha1"]
    )[:6]
    assert len(rows) == 6
    return rows


@pytest.fixture(scope="module")
def engine(tmp_path_factory, shared_eval, works):  # type: ignore[no-untyped-def]
    home = tmp_path_factory.mktemp("ws")
    e = Engine.init(str(home), ["effnet-lite0"])
    outcomes = e.register_many(
        [(file_item(shared_eval, r), WorkMetadata(ref=r["pair_id"], title=r["pair_id"])) for r in works]
    )
    assert [o.status for o in outcomes] == ["registered"] * 6
    yield e
    e.close()


def test_near_copies_from_the_dev_set_are_found_as_copies(engine, dev_rows, shared_eval, works) -> None:  # type: ignore[no-untyped-def]
    refs = {r["pair_id"] for r in works}
    copies = [r for r in dev_rows if r["pair_id"] in refs and r["relation"] in ("thumbnail", "grub_variant")][:6]
    items = [file_item(shared_eval, r) for r in copies]
    for res, row in zip(engine.scan_many(items, near_misses=True), copies, strict=True):
        assert res.error is None
        assert res.matches, row["path"]
        assert res.matches[0].ref == row["pair_id"], row["path"]  # the right work first, always
        if row["relation"] == "thumbnail":  # the calibration's 0.99 threshold still calls a thumbnail a copy;
            assert res.verdict in ("copy", "derivative")  # grub variants (text and logos added) fall below it


def test_distractors_get_no_copy_verdict(engine, pick, shared_eval) -> None:  # type: ignore[no-untyped-def]
    distractors = pick(n=10, role="distractor", source=WALLPAPERS) + pick(
        n=10, role="distractor", source="deb_openclipart"
    )
    for res in engine.scan_many([file_item(shared_eval, r) for r in distractors]):
        assert res.error is None
        assert all(m.verdict != "copy" for m in res.matches), (res.path, [m.ref for m in res.matches])


Outline = list[tuple[int, int]]


def gutter_collage(shared_eval: Path, rows: list[dict[str, str]]) -> tuple[np.ndarray, dict[str, Outline]]:
    """Thumbnails of `rows` side by side on white, and each work's outline in the canvas."""
    panels = [decode_image((shared_eval / r["path"]).read_bytes(), r["path"]).rgb for r in rows]
    cell_w, cell_h, gutter = 420, 300, 20
    canvas = np.full((cell_h + 2 * gutter, len(rows) * cell_w + (len(rows) + 1) * gutter, 3), 255, np.uint8)
    truth = {}
    for i, (p, r) in enumerate(zip(panels, rows, strict=True)):
        im = Image.fromarray(p)
        im.thumbnail((cell_w, cell_h))
        x, y = gutter + i * (cell_w + gutter), gutter
        canvas[y : y + im.height, x : x + im.width] = np.asarray(im)
        truth[r["pair_id"]] = [(x, y), (x + im.width, y), (x + im.width, y + im.height), (x, y + im.height)]
    return canvas, truth


def test_each_collage_panel_is_also_judged_on_its_own(engine, shared_eval, works) -> None:  # type: ignore[no-untyped-def]
    """A panel compared alone resembles its work far more than the whole collage does, and decides the match."""
    canvas, truth = gutter_collage(shared_eval, works[:3])
    res = engine.scan(bytes_item("collage.png", png(canvas)), top_k=8, near_misses=True)
    found = {m.ref: m for m in res.matches}
    kinds = [v.kind for v in decode_image(png(canvas), "collage.png").views]
    assert kinds[:3] == ["panel"] * 3 and "panel" not in kinds[3:]  # its three panels, then any region proposals
    for ref in truth:
        m = found[ref]
        assert len(m.views) == 1 + len(kinds)  # the whole image, then each view
        whole, *panels = m.views[:4]
        assert max(v["embedding.global"] for v in panels) > whole["embedding.global"] + 0.2, (ref, m.views)
        assert m.score > 0.9, (ref, m.score, m.view)  # verdicts: docs/EVALUATION.md (collages, recall at 1% FAR)
    assert any(found[ref].view.startswith("panel ") for ref in truth)
    assert all(found[ref].to_json()["view"] == found[ref].view for ref in truth)
    h, w = canvas.shape[:2]
    for ref in truth:  # a panel that decides also gives the raw evidence: its own box and its own PDQ hash
        m = found[ref]
        if not m.view.startswith("panel "):
            continue
        panel = int(m.view.split()[1])
        assert m.signals["pdq"]["transform"] == f"panel {panel} of the collage"
        x0, y0, x1, y1 = m.signals["embedding"]["query_box"]  # type: ignore[misc]
        box = [(x0 * w, y0 * h), (x1 * w, y0 * h), (x1 * w, y1 * h), (x0 * w, y1 * h)]
        assert polygon_iou(box, truth[ref]) >= 0.7, (ref, box, truth[ref])


def test_a_collage_of_three_works_returns_all_three_with_their_panels(engine, shared_eval, works) -> None:  # type: ignore[no-untyped-def]
    canvas, truth = gutter_collage(shared_eval, works[:3])
    res = engine.scan(bytes_item("collage.png", png(canvas)), top_k=8, near_misses=True)
    found = {m.ref: m for m in res.matches}
    assert set(truth) <= set(found), [m.ref for m in res.matches]
    for ref, poly in truth.items():  # every work is localised in its own panel, flagged or not
        assert found[ref].region is not None
        assert polygon_iou(found[ref].region, poly) >= 0.7, (ref, found[ref].region, poly)
    # `copy` needs geometric or hash proof: textured panels have it; a smooth gradient may only be `derivative`
    assert sum(found[ref].verdict == "copy" for ref in truth) >= 2


def test_registering_the_same_file_twice_is_reported_not_duplicated(engine, shared_eval, works) -> None:  # type: ignore[no-untyped-def]
    before = len(engine.works())
    again = engine.register(file_item(shared_eval, works[0]), WorkMetadata(ref="another-ref"))
    assert again.status == "duplicate"
    assert again.ref == works[0]["pair_id"]
    assert len(engine.works()) == before


def test_a_bad_file_is_reported_and_the_batch_goes_on(engine, shared_eval, pick) -> None:  # type: ignore[no-untyped-def]
    good = pick(role="distractor", source="pypi_samples")[0]
    items = [bytes_item("broken.jpg", b"\xff\xd8\xff\xe0 not really a jpeg"), file_item(shared_eval, good)]
    results = list(engine.scan_many(items))
    assert (results[0].error is not None and "corrupt" in results[0].error) or "not an image" in str(results[0].error)
    assert results[0].to_json()["error"]
    assert results[1].error is None


def test_a_blank_picture_is_neither_registered_nor_compared(engine) -> None:  # type: ignore[no-untyped-def]
    """A flat picture would match every other flat picture: registering it is refused, scanning it says why."""
    before = len(engine.works())
    blank = png(np.full((300, 400, 3), 240, np.uint8))
    outcome = engine.register(bytes_item("white.png", blank), WorkMetadata(ref="white"))
    assert outcome.status == "error" and "blank" in outcome.message
    assert outcome.to_json()["error"] == outcome.message and outcome.to_json()["path"] == "white.png"
    assert len(engine.works()) == before
    result = engine.scan(bytes_item("white.png", blank))
    assert result.error is not None and "blank" in result.error
    assert result.to_json()["verdict"] is None and result.sha256


def test_remove_leaves_an_audit_record_and_keeps_the_file(tmp_path, shared_eval, works) -> None:  # type: ignore[no-untyped-def]
    e = Engine.init(str(tmp_path / "ws"), ["effnet-lite0"])
    row = works[0]
    e.register(file_item(shared_eval, row), WorkMetadata(ref="to-remove"))
    sha = e.work("to-remove").sha256  # type: ignore[union-attr]
    assert e.scan(file_item(shared_eval, row)).matches[0].ref == "to-remove"
    assert e.remove("to-remove", reason="registered by mistake") is not None
    assert e.work("to-remove") is None
    actions = [a["action"] for a in e.audit("to-remove")]
    assert actions == ["register", "remove"]
    assert e.workspace.vault.has(sha)  # evidence is never deleted
    assert e.scan(file_item(shared_eval, row)).matches == []
    e.close()


def test_a_query_with_an_embedder_not_in_the_workspace_is_refused(engine) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(EngineError, match="not enabled"):
        Engine.open(str(engine.workspace.home), embedder="clip:ViT-B-32:/nonexistent.safetensors")


def test_opening_a_missing_workspace_says_how_to_create_one(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(EngineError, match="init"):
        Engine.open(str(tmp_path / "nothing-here"))
