"""The application layer's rules on real files, without either door: what one upload of seized files holds, and
what an upload to the registry holds."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from service.results import WorkMetadata
from service.usecases.uploads import NOT_AN_IMAGE, UploadRefused, unpack, works_to_register

DEMO = Path(__file__).resolve().parent.parent / "samples" / "demo" / "suspects"


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_one_image_is_scanned_at_once_and_a_zip_is_a_batch_of_its_members() -> None:
    jpeg = (DEMO / "crop_night_cafe.jpg").read_bytes()
    arrivals, single = unpack([("photo.jpg", jpeg)], max_files=10)
    assert single and [(a.name, a.data) for a in arrivals] == [("photo.jpg", jpeg)]
    seized = _zip({"phone/DCIM/a.jpg": jpeg, "notes.txt": b"meet at 6", "renamed.jpg": b"%PDF-1.4 not a picture"})
    arrivals, single = unpack([("seized.zip", seized)], max_files=10)
    assert not single
    by_name = {a.name: a for a in arrivals}
    assert set(by_name) == {"seized.zip!phone/DCIM/a.jpg", "seized.zip!renamed.jpg"}  # members named as pictures
    assert by_name["seized.zip!phone/DCIM/a.jpg"].data == jpeg
    renamed = by_name["seized.zip!renamed.jpg"]  # named as a picture, refused by its bytes
    assert renamed.data is None and renamed.why == "not an image (judged by its content, not its name)"


def test_a_whole_upload_is_refused_by_name_and_reason() -> None:
    jpeg = (DEMO / "crop_night_cafe.jpg").read_bytes()
    with pytest.raises(UploadRefused) as lone:
        unpack([("report.pdf", b"%PDF-1.4")], max_files=10)
    assert lone.value.kind == "not_an_image" and lone.value.why == f"report.pdf: {NOT_AN_IMAGE}"
    with pytest.raises(UploadRefused) as many:
        unpack([(f"{i}.jpg", jpeg) for i in range(4)], max_files=3)
    assert many.value.kind == "too_many" and "more than 3 files" in many.value.why
    with pytest.raises(UploadRefused) as empty:
        unpack([("empty.zip", _zip({}))], max_files=10)
    assert empty.value.kind == "empty"


def test_works_in_a_zip_take_their_rows_of_its_manifest_as_the_cli_reads_one() -> None:
    """The zip's works.csv is read by the same rule as `semblance register --manifest`: named columns stripped,
    other columns kept as extra metadata, a member without a row registered with none."""
    jpeg = (DEMO / "crop_night_cafe.jpg").read_bytes()
    other = (DEMO / "unrelated_coffee.jpg").read_bytes()
    manifest = "path,ref,title,inventory\nart/cafe.jpg, cafe ,The Night Café ,INV-7\n".encode()
    upload = [("works.zip", _zip({"works.csv": manifest, "art/cafe.jpg": jpeg, "x.jpg": other}))]
    items = works_to_register(upload, WorkMetadata(title="from the form"), max_files=10)
    metas = {item.name: meta for item, meta in items}
    assert set(metas) == {"works.zip!art/cafe.jpg", "works.zip!x.jpg"}
    cafe = metas["works.zip!art/cafe.jpg"]
    assert (cafe.ref, cafe.title, cafe.extra) == ("cafe", "The Night Café", {"inventory": "INV-7"})
    assert metas["works.zip!x.jpg"] == WorkMetadata()  # the form's metadata is for loose files, not a zip's members
    [(item, meta)] = works_to_register([("cafe.jpg", jpeg)], WorkMetadata(ref="cafe"), max_files=10)
    assert item.read() == jpeg and meta.ref == "cafe"


def test_an_upload_to_the_registry_is_refused_by_name_and_reason() -> None:
    jpeg = (DEMO / "crop_night_cafe.jpg").read_bytes()
    refusals = {
        "not_an_image": ([("notes.txt", b"meet at 6")], WorkMetadata()),
        "ref_for_many": ([("a.jpg", jpeg), ("b.jpg", jpeg)], WorkMetadata(ref="one")),
        "too_many": ([(f"{i}.jpg", jpeg) for i in range(4)], WorkMetadata()),
        "empty": ([("empty.zip", _zip({}))], WorkMetadata()),
        "bad_manifest": ([("bad.zip", _zip({"works.csv": b"\xff\xfe not utf-8", "a.jpg": jpeg}))], WorkMetadata()),
    }
    for kind, (uploads, given) in refusals.items():
        with pytest.raises(UploadRefused) as refused:
            works_to_register(uploads, given, max_files=3)
        assert refused.value.kind == kind, (kind, refused.value.why)
        assert uploads[0][0] in refused.value.why or kind in ("ref_for_many", "too_many", "empty")
