"""service.inputs: folders, archives (zip-slip, zip bombs, corruption, nesting) and CSV manifests."""

from __future__ import annotations

import csv
import io
import os
import random
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from detector.intake import decode_image
from service.inputs import InputError, InputItem, expand, from_manifest


def png_bytes(colour: tuple[int, int, int] = (255, 0, 0), size: tuple[int, int] = (6, 4)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


def zip_bytes(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buf.getvalue()


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def by_name(items: list[InputItem]) -> dict[str, InputItem]:
    names = [item.name for item in items]
    assert len(names) == len(set(names)), names
    return {item.name: item for item in items}


def assert_error_item(item: InputItem, *words: str) -> None:
    assert item.reader is None
    assert item.error
    for word in words:
        assert word in item.error, f"{word!r} not in {item.error!r}"
    with pytest.raises(InputError) as info:
        item.read()
    assert info.value.name == item.name and item.error in str(info.value)


# --- folders and plain paths -----------------------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "seized"
    write(root / "b.png", png_bytes((0, 255, 0)))
    write(root / "a.JPG", b"jpeg bytes")  # suffixes are matched case-insensitively
    write(root / "notes.txt", b"not an image")
    write(root / "a_dir" / "e.webp", b"webp bytes")
    write(root / "sub" / "deeper" / "d.gif", b"gif bytes")
    write(root / "sub" / "c.tiff", b"tiff bytes")
    write(root / "sub" / "Thumbs.db", b"junk")
    (root / "empty").mkdir()
    return root


def test_expand_walks_folders_recursively_in_sorted_order(tree: Path) -> None:
    items = list(expand([str(tree)]))
    rel = [os.path.relpath(item.name, tree) for item in items]
    # each folder: its files sorted, then its sub-folders sorted; only image suffixes
    assert rel == ["a.JPG", "b.png", "a_dir/e.webp", "sub/c.tiff", "sub/deeper/d.gif"]
    assert all(item.error is None for item in items)
    assert items[1].read() == (tree / "b.png").read_bytes()
    assert items[4].read() == b"gif bytes"
    assert [i.name for i in expand([str(tree)])] == [i.name for i in items]  # deterministic


def test_expand_all_files_includes_every_file(tree: Path) -> None:
    rel = [os.path.relpath(item.name, tree) for item in expand([str(tree)], all_files=True)]
    assert rel == ["a.JPG", "b.png", "notes.txt", "a_dir/e.webp", "sub/Thumbs.db", "sub/c.tiff", "sub/deeper/d.gif"]


def test_expand_reports_missing_paths_and_keeps_going(tree: Path, tmp_path: Path) -> None:
    missing = str(tmp_path / "nowhere" / "gone.png")
    items = list(expand([missing, str(tree / "b.png")]))
    assert [item.name for item in items] == [missing, str(tree / "b.png")]
    assert_error_item(items[0], "no such file or folder")
    assert decode_image(items[1].read(), items[1].name).rgb[0, 0].tolist() == [0, 255, 0]


def test_explicit_file_is_taken_as_given_whatever_its_suffix(tree: Path) -> None:
    (item,) = expand([str(tree / "notes.txt")])
    assert item.name == str(tree / "notes.txt") and item.error is None
    assert item.read() == b"not an image"


def test_file_vanishing_before_read_becomes_input_error(tree: Path) -> None:
    (item,) = expand([str(tree / "b.png")])
    (tree / "b.png").unlink()
    with pytest.raises(InputError, match="cannot read file"):
        item.read()


# --- zip archives ----------------------------------------------------------------------------------------------


def test_zip_members_are_named_and_readable(tmp_path: Path) -> None:
    red, blue = png_bytes((255, 0, 0)), png_bytes((0, 0, 255))
    archive = write(
        tmp_path / "archive.zip",
        zip_bytes({"inner/name.png": red, "inner/deep/other.PNG": blue, "readme.txt": b"hi", "inner/": b""}),
    )
    items = by_name(list(expand([str(archive)])))
    assert set(items) == {f"{archive}!inner/name.png", f"{archive}!inner/deep/other.PNG"}
    assert items[f"{archive}!inner/name.png"].read() == red
    decoded = decode_image(items[f"{archive}!inner/deep/other.PNG"].read(), "other.PNG")
    assert decoded.rgb[0, 0].tolist() == [0, 0, 255]
    everything = by_name(list(expand([str(archive)], all_files=True)))
    assert everything[f"{archive}!readme.txt"].read() == b"hi"


def test_zip_inside_a_walked_folder_is_opened(tmp_path: Path) -> None:
    write(tmp_path / "dump" / "pics.zip", zip_bytes({"x.png": png_bytes()}))
    (item,) = expand([str(tmp_path / "dump")])
    assert item.name == f"{tmp_path / 'dump' / 'pics.zip'}!x.png"
    assert item.read() == png_bytes()


@pytest.mark.parametrize("evil", ["../evil.png", "a/../../evil.png", "/etc/evil.png", "..\\evil.png"])
def test_zip_slip_names_are_rejected(tmp_path: Path, evil: str) -> None:
    archive = write(tmp_path / "slip.zip", zip_bytes({evil: png_bytes(), "good.png": png_bytes()}))
    items = by_name(list(expand([str(archive)])))
    assert set(items) == {f"{archive}!{evil}", f"{archive}!good.png"}
    assert_error_item(items[f"{archive}!{evil}"], "unsafe path")
    assert items[f"{archive}!good.png"].read() == png_bytes()
    assert not (tmp_path / "evil.png").exists() and not (tmp_path.parent / "evil.png").exists()


def test_zip_bomb_member_is_rejected(tmp_path: Path) -> None:
    archive = write(tmp_path / "bomb.zip", zip_bytes({"x.png": bytes(50 * 1024 * 1024), "ok.png": png_bytes()}))
    assert archive.stat().st_size < 200_000  # 50 MB of zeros in a tiny archive
    items = by_name(list(expand([str(archive)])))
    assert_error_item(items[f"{archive}!x.png"], "zip bomb", "compression ratio")
    assert items[f"{archive}!ok.png"].read() == png_bytes()


@pytest.mark.parametrize(
    "content",
    [b"PK\x03\x04 this is not really a zip", b"", b"\x00" * 100],
    ids=["garbage", "empty", "zeros"],
)
def test_corrupt_zip_is_an_error_item(tmp_path: Path, content: bytes) -> None:
    archive = write(tmp_path / "broken.zip", content)
    (item,) = expand([str(archive)])
    assert item.name == str(archive)
    assert_error_item(item, "unreadable zip archive")


def test_zip_needing_an_unsupported_version_is_an_error_item(tmp_path: Path) -> None:
    data = bytearray(zip_bytes({"a.png": png_bytes()}))
    entry = data.index(b"PK\x01\x02")
    data[entry + 6 : entry + 8] = (250).to_bytes(2, "little")  # "version needed to extract" 25.0
    archive = write(tmp_path / "future.zip", bytes(data))
    (item,) = expand([str(archive)])  # zipfile raises NotImplementedError here: it used to escape
    assert_error_item(item, "unreadable zip archive", "version")


def test_truncated_zip_is_an_error_item(tmp_path: Path) -> None:
    data = zip_bytes({"a.png": png_bytes(), "b.png": png_bytes((0, 0, 255))})
    archive = write(tmp_path / "cut.zip", data[: len(data) // 2])  # the central directory is lost
    (item,) = expand([str(archive)])
    assert_error_item(item, "unreadable zip archive")


@pytest.mark.parametrize(
    ("method", "skip"),
    [(zipfile.ZIP_DEFLATED, 2), (zipfile.ZIP_BZIP2, 2), (zipfile.ZIP_LZMA, 20)],
    ids=["deflate", "bzip2", "lzma"],
)
def test_corrupt_member_data_raises_input_error_on_read(tmp_path: Path, method: int, skip: int) -> None:
    payload = random.Random(7).randbytes(4000)  # incompressible: stays under the ratio cap
    data = bytearray(zip_bytes({"a.png": payload}, method))
    start = data.index(b"a.png") + len("a.png")  # compressed data follows the local header's name
    for i in range(start + skip, start + skip + 60):  # into the codec's stream: zlib.error / LZMAError, not CRC
        data[i] ^= 0xFF
    archive = write(tmp_path / "damaged.zip", bytes(data))
    (item,) = expand([str(archive)])
    assert item.name == f"{archive}!a.png" and item.error is None  # the directory is intact
    with pytest.raises(InputError, match="corrupt archive member") as info:  # zlib.error/LZMAError used to escape
        item.read()
    assert info.value.name == item.name


def test_encrypted_member_is_an_error_item(tmp_path: Path) -> None:
    data = bytearray(zip_bytes({"locked.png": b"ciphertext"}, zipfile.ZIP_STORED))
    data[data.index(b"PK\x03\x04") + 6] |= 0x1  # general-purpose flag bit 0: encrypted (local header)
    data[data.index(b"PK\x01\x02") + 8] |= 0x1  # ... and central directory
    path = write(tmp_path / "locked.zip", bytes(data))
    (item,) = expand([str(path)])
    assert_error_item(item, "encrypted")


def test_nested_zip_one_level_works_two_levels_are_refused(tmp_path: Path) -> None:
    inner = zip_bytes({"pic.png": png_bytes((0, 0, 255))})
    outer = write(tmp_path / "outer.zip", zip_bytes({"inner.zip": inner, "top.png": png_bytes()}))
    items = by_name(list(expand([str(outer)])))
    assert set(items) == {f"{outer}!inner.zip!pic.png", f"{outer}!top.png"}
    assert items[f"{outer}!inner.zip!pic.png"].read() == png_bytes((0, 0, 255))

    deeper = write(tmp_path / "deeper.zip", zip_bytes({"mid.zip": zip_bytes({"inner.zip": inner})}))
    (item,) = expand([str(deeper)])
    assert item.name == f"{deeper}!mid.zip!inner.zip"
    assert_error_item(item, "nested too deeply")


def test_corrupt_nested_zip_is_an_error_item(tmp_path: Path) -> None:
    outer = write(tmp_path / "outer.zip", zip_bytes({"inner.zip": b"not a zip", "ok.png": png_bytes()}))
    items = by_name(list(expand([str(outer)])))
    assert_error_item(items[f"{outer}!inner.zip"], "unreadable zip archive")
    assert items[f"{outer}!ok.png"].read() == png_bytes()


# --- manifests ---------------------------------------------------------------------------------------------


def write_manifest(path: Path, header: list[str], rows: list[list[str]], bom: bool = False) -> Path:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(("\ufeff" if bom else "") + buf.getvalue(), encoding="utf-8")
    return path


def test_manifest_resolves_relative_paths_against_its_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    case = tmp_path / "case"
    write(case / "imgs" / "a.png", png_bytes((255, 0, 0)))
    absolute = write(tmp_path / "elsewhere" / "b.png", png_bytes((0, 255, 0)))
    manifest = write_manifest(
        case / "manifest.csv",
        ["path", "artist"],
        [["imgs/a.png", " Ada "], [str(absolute), "Bo"], ["", "nobody"], ["imgs/missing.png", "Cy"]],
        bom=True,  # as Excel writes it
    )
    monkeypatch.chdir(tmp_path / "elsewhere")  # relative paths must not depend on the working directory
    items = list(from_manifest(str(manifest)))
    assert [item.name for item in items] == ["imgs/a.png", str(absolute), f"{manifest}:4", "imgs/missing.png"]
    assert items[0].read() == png_bytes((255, 0, 0))
    assert items[0].row == {"path": "imgs/a.png", "artist": "Ada"}
    assert items[1].read() == png_bytes((0, 255, 0)) and items[1].row["artist"] == "Bo"
    assert_error_item(items[2], "empty path")
    assert items[2].row == {"path": "", "artist": "nobody"}
    assert_error_item(items[3], "no such file")
    assert items[3].row["artist"] == "Cy"


def test_manifest_rows_may_name_folders_and_archives(tmp_path: Path) -> None:
    write(tmp_path / "set" / "one.png", png_bytes())
    write(tmp_path / "set" / "two.png", png_bytes((0, 0, 255)))
    write(tmp_path / "bundle.zip", zip_bytes({"z.png": png_bytes((9, 9, 9))}))
    manifest = write_manifest(tmp_path / "m.csv", ["path", "case"], [["set", "7"], ["bundle.zip", "8"]])
    items = list(from_manifest(str(manifest)))
    assert [Path(item.name.split("!")[0]).name for item in items] == ["one.png", "two.png", "bundle.zip"]
    assert [item.row["case"] for item in items] == ["7", "7", "8"]
    assert items[1].read() == png_bytes((0, 0, 255))
    assert items[2].name.endswith("bundle.zip!z.png") and items[2].read() == png_bytes((9, 9, 9))


def test_manifest_without_required_column_raises(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "m.csv", ["file", "artist"], [["a.png", "Ada"]])
    with pytest.raises(InputError, match="lacks column") as info:
        list(from_manifest(str(manifest)))
    assert info.value.name == str(manifest) and "path" in info.value.reason
    with pytest.raises(InputError, match="artist"):
        list(from_manifest(str(write_manifest(tmp_path / "n.csv", ["path"], [["a.png"]])), required=("path", "artist")))


def test_unreadable_manifest_raises(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read manifest"):
        list(from_manifest(str(tmp_path / "absent.csv")))
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("path\nbild_\u00e4.png\n".encode("latin-1"))
    with pytest.raises(InputError, match="cannot read manifest"):
        list(from_manifest(str(latin1)))


def test_shared_eval_manifest_lists_readable_files(shared_eval: Path) -> None:
    manifest = shared_eval / "manifest.csv"
    with open(manifest, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    items = list(from_manifest(str(manifest)))
    assert [item.name for item in items] == [row["path"] for row in rows]  # names as written, in order
    assert all(item.error is None for item in items)
    assert items[0].row["width"] == rows[0]["width"]
    for item, row in list(zip(items, rows, strict=True))[:: max(1, len(items) // 20)]:
        assert len(item.read()) == int(row["bytes"]), item.name
