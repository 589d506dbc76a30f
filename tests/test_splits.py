"""Which dev negatives share their artwork with a registered sibling (neither right nor wrong when matched): the
same drawing recoloured, or a line drawing and its coloured version, but not two symbols in the same frame."""

from __future__ import annotations

from pathlib import Path

from detector.calibration.splits import Silhouette, shared_artwork, silhouette
from detector.intake import decode_image

CLIPART = "images/deb_openclipart"


def _silhouette(shared_eval: Path, name: str) -> Silhouette:
    path = shared_eval / CLIPART / name
    found = silhouette(decode_image(path.read_bytes(), name).rgb)
    assert found is not None, name
    return found


def test_a_line_drawing_and_its_coloured_version_share_their_artwork(shared_eval: Path) -> None:
    """The black-and-white milk carton's ink is its lines, the coloured one's its whole shape: what their outlines
    enclose and where their edges lie are the same."""
    for line_art, coloured in [
        ("food/beverages/milk_bw.png", "food/beverages/milk_ganson.png"),
        ("food/pizza_cheese_bw.png", "food/pizza_cheese.png"),
    ]:
        assert shared_artwork(_silhouette(shared_eval, coloured), [_silhouette(shared_eval, line_art)]) == [0]


def test_different_symbols_in_the_same_frame_do_not(shared_eval: Path) -> None:
    """Two road signs in one red circle, and a carton beside another food drawing, stay negatives."""
    vehicles = _silhouette(shared_eval, "signs_and_symbols/interdiction_vehicules__01.png")
    others = [
        _silhouette(shared_eval, "signs_and_symbols/interdiction_pietons_yve_01.png"),
        _silhouette(shared_eval, "signs_and_symbols/defense_de_fumer_yves_gu_01.png"),
        _silhouette(shared_eval, "food/pizza_cheese.png"),
    ]
    assert shared_artwork(vehicles, others) == []
    assert shared_artwork(_silhouette(shared_eval, "food/beverages/milk_ganson.png"), others) == []


def test_a_photograph_has_no_silhouette(shared_eval: Path) -> None:
    wallpaper = next((shared_eval / "images/deb_wallpapers").rglob("*.jpg"))
    assert silhouette(decode_image(wallpaper.read_bytes(), wallpaper.name).rgb) is None
