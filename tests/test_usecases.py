"""The application layer's rules on real files, without either door: what one upload of seized files holds."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from service.usecases.uploads import NOT_AN_IMAGE, UploadRefused, unpack

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
