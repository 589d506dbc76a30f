"""Small pieces of a sweep on hostile listing data: keys, paths, spreadsheet cells, names."""

from __future__ import annotations

from pathlib import Path

from service.safe_text import spreadsheet_text
from service.sweep.listings import ImageRef, read_listings
from service.sweep.stages import acquire
from service.untrusted import printable


def test_the_same_listing_id_on_two_marketplaces_is_two_listings(tmp_path: Path) -> None:
    f = tmp_path / "l.csv"
    f.write_text("listing_id,marketplace,seller,path\n123,ebay,alice,a.jpg\n123,etsy,bob,b.jpg\n123,ebay,alice,c.jpg\n")
    found = {(x.fields["marketplace"], x.listing_id): x for x in read_listings(str(f))}
    assert set(found) == {("ebay", "123"), ("etsy", "123")}
    assert [Path(i.path).name for i in found[("ebay", "123")].images] == ["a.jpg", "c.jpg"]
    assert found[("etsy", "123")].fields["seller"] == "bob"
    assert found[("ebay", "123")].key != found[("etsy", "123")].key


def test_bad_rows_are_reported_and_the_rest_read(tmp_path: Path) -> None:
    f = tmp_path / "l.jsonl"
    f.write_text('{"listing_id": "ok", "path": "x.jpg"}\nnot json\n{"no_id": 1}\n{"listing_id": "empty"}\n')
    found = list(read_listings(str(f)))
    assert [x.listing_id for x in found if not x.problems] == ["ok"]
    assert len([x for x in found if x.problems]) == 3


def test_a_hostile_path_is_an_items_error_not_a_crash() -> None:
    got = acquire(ImageRef(path="/tmp/a\x00b.jpg"), None)
    assert got.data is None and got.error
    off = acquire(ImageRef(url="http://127.0.0.1/x.jpg"), None)
    assert off.data is None and "fetching is off" in (off.error or "")


def test_listing_text_cannot_become_a_spreadsheet_formula() -> None:
    assert spreadsheet_text('=HYPERLINK("http://x","click")') == '\'=HYPERLINK("http://x","click")'
    assert spreadsheet_text("+1") == "'+1" and spreadsheet_text("@SUM(A1)") == "'@SUM(A1)"
    assert spreadsheet_text("plain") == "plain"


def test_archive_member_names_lose_control_and_bidi_characters() -> None:
    assert printable("phone.zip!DCIM/\u202egpj.exe") == "phone.zip!DCIM/gpj.exe"
    assert printable("a\x00b\x1b[31m.jpg") == "ab[31m.jpg"
