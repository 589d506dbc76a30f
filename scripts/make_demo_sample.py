"""Regenerate the bundled demo sample in ``samples/demo`` from ``../shared/eval``.

The demo sample is a tiny, self-contained set of registered works and suspect
images that ships with Semblance so that the CLI and service can be tried
without the evaluation data. Only rows of ``shared/eval/manifest.csv`` whose
``licence`` column says CC0 or public domain are used; the script checks this
(and each file's SHA-1) against the manifest and refuses to run otherwise.

Output layout (all paths in the CSVs are relative to the CSV's own folder)::

    samples/demo/
      originals/<ref>.jpg     registered works, JPEG q90, longest side <= 1024 px
      works.csv               path,ref,title,author,rights_holder,registration_no,source_url
      suspects/crop_*.jpg     ~40 % of the area of one original, resized
      suspects/collage_*.jpg  two originals as side-by-side panels on a white canvas
      suspects/recolour_*.jpg hue-shifted, contrast-changed full original
      suspects/ai_collage_*.jpg painterly, AI-like re-renderings of two originals, rotated, in a collage with a
                              caption and unrelated clip art: how the infringers in the brief's case work
      suspects/unrelated_*.jpg public-domain / CC0 images not derived from any original
      suspects/expected.csv   path,expected_refs,kind (refs joined by ';')
      LICENCES.md             origin, licence and processing of every bundled file

Everything random is drawn from a generator with a fixed seed, so reruns give
the same geometry and colours (JPEG bytes may differ between libjpeg builds).

Usage::

    python scripts/make_demo_sample.py [--shared ../shared] [--out samples/demo]

Needs Pillow, numpy and OpenCV (the re-renderings are detector.synthetic's).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import numpy as np
from PIL import Image, ImageEnhance

SEED = 20240611
JPEG_QUALITY = 90
MAX_SIDE = 1024
MAX_TOTAL_BYTES = 5 * 1024 * 1024
SIZE_WARN_BYTES = 1536 * 1024

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = REPO_ROOT.parent / "shared"
DEFAULT_OUT = REPO_ROOT / "samples" / "demo"

# A licence value is acceptable only if it says CC0 or public domain.
FREE_LICENCE = re.compile(r"\bCC0\b|public domain", re.IGNORECASE)

GCOMPRIS_URL = "https://packages.debian.org/gcompris-qt-data"
RIGHTS_HOLDER = "Public domain (demo)"


@dataclass(frozen=True)
class Work:
    """A registered original: where it comes from and how it is catalogued."""

    ref: str
    manifest_path: str
    title: str
    author: str
    registration_no: str
    source_url: str


@dataclass(frozen=True)
class Distractor:
    """An image bundled as an unrelated suspect (must not match any work)."""

    name: str
    manifest_path: str
    description: str


# Van Gogh paintings from GCompris' "details" activity. Manifest licence:
# "Public domain; based on an original painting by Van Gogh, Public domain image."
WORKS: tuple[Work, ...] = (
    Work(
        ref="vangogh-night-cafe",
        manifest_path="images/deb_gcompris/details/Van_Gogh_The_Night_Cafe_background.webp",
        title="The Night Café (1888)",
        author="Vincent van Gogh",
        registration_no="DEMO-0001",
        source_url=GCOMPRIS_URL,
    ),
    Work(
        ref="vangogh-church-at-auvers",
        manifest_path="images/deb_gcompris/details/Eglise_dAuvers-sur-Oise_background.webp",
        title="The Church at Auvers (1890)",
        author="Vincent van Gogh",
        registration_no="DEMO-0002",
        source_url=GCOMPRIS_URL,
    ),
    Work(
        ref="vangogh-pere-tanguy",
        manifest_path="images/deb_gcompris/details/PortraitOfPereTanguy_background.webp",
        title="Portrait of Père Tanguy (1887)",
        author="Vincent van Gogh",
        registration_no="DEMO-0003",
        source_url=GCOMPRIS_URL,
    ),
    Work(
        ref="vangogh-langlois-bridge",
        manifest_path="images/deb_gcompris/details/VincentVanGoghBridge_background.webp",
        title="The Langlois Bridge at Arles (1888)",
        author="Vincent van Gogh",
        registration_no="DEMO-0004",
        source_url=GCOMPRIS_URL,
    ),
)

DISTRACTORS: tuple[Distractor, ...] = (
    Distractor(
        name="unrelated_coffee.jpg",
        manifest_path="images/pypi_samples/scikit-image/coffee.png",
        description="photo of a cup of coffee (scikit-image sample `coffee`)",
    ),
    # A hard negative: another Van Gogh café scene, same painter and palette,
    # but a different painting that is not registered.
    Distractor(
        name="unrelated_vangogh_cafe_terrace.jpg",
        manifest_path="images/deb_gcompris/details/Gogh4_background.webp",
        description=(
            "Van Gogh, *Café Terrace at Night* (1888), a painting that is NOT registered "
            "(same painter and subject family as the Night Café: a hard negative)"
        ),
    ),
)

CROP_REF = "vangogh-night-cafe"
CROP_AREA = 0.40
CROP_OUT_WIDTH = 640
COLLAGE_REFS = ("vangogh-church-at-auvers", "vangogh-pere-tanguy")
COLLAGE_PANEL_HEIGHT = 560
COLLAGE_GUTTER = 24
COLLAGE_MARGIN = 16
RECOLOUR_REF = "vangogh-langlois-bridge"
AI_COLLAGE_REFS = ("vangogh-night-cafe", "vangogh-langlois-bridge")
AI_COLLAGE_CLIPART = (
    "images/deb_openclipart/food/beverages/mug.png",
    "images/deb_openclipart/food/apple_bitten_dan_gerhard_01.png",
)
"""Public-domain clip art pasted beside the re-rendered panels (unrelated to any work)."""
AI_COLLAGE_SEED = 20261202


def fail(message: str) -> NoReturn:
    """Print ``message`` to stderr and exit with status 2."""
    print(f"make_demo_sample: {message}", file=sys.stderr)
    raise SystemExit(2)


def load_manifest(eval_dir: Path) -> dict[str, dict[str, str]]:
    """Read ``eval/manifest.csv`` into a mapping from ``path`` to its row."""
    manifest = eval_dir / "manifest.csv"
    if not manifest.is_file():
        fail(f"{manifest} not found; is --shared pointing at the shared data folder?")
    with manifest.open(newline="", encoding="utf-8") as fh:
        return {row["path"]: row for row in csv.DictReader(fh)}


def checked_row(manifest: dict[str, dict[str, str]], eval_dir: Path, path: str) -> dict[str, str]:
    """Return the manifest row for ``path`` after checking licence, presence and SHA-1."""
    row = manifest.get(path)
    if row is None:
        fail(f"{path} is not listed in manifest.csv")
    if not FREE_LICENCE.search(row["licence"]):
        fail(f"{path} has licence {row['licence']!r}, which is not CC0 or public domain")
    file_path = eval_dir / path
    if not file_path.is_file():
        fail(f"{file_path} is missing")
    digest = hashlib.sha1(file_path.read_bytes()).hexdigest()
    if row.get("sha1") and digest != row["sha1"]:
        fail(f"{file_path} has SHA-1 {digest}, manifest says {row['sha1']}")
    return row


def load_rgb(path: Path) -> Image.Image:
    """Open an image as 8-bit RGB, flattening any alpha onto white."""
    with Image.open(path) as im:
        im.load()
        if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
            rgba = im.convert("RGBA")
            canvas = Image.new("RGB", rgba.size, (255, 255, 255))
            canvas.paste(rgba, mask=rgba.getchannel("A"))
            return canvas
        return im.convert("RGB")


def limit_side(im: Image.Image, max_side: int = MAX_SIDE) -> Image.Image:
    """Shrink ``im`` so its longest side is at most ``max_side`` (never enlarges)."""
    longest = max(im.size)
    if longest <= max_side:
        return im
    scale = max_side / longest
    size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
    return im.resize(size, Image.Resampling.LANCZOS)


def save_jpeg(im: Image.Image, path: Path) -> None:
    """Write ``im`` as a metadata-free baseline JPEG at the sample quality."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    im.convert("RGB").save(buf, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    path.write_bytes(buf.getvalue())


def make_crop(im: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, str]:
    """Cut a box holding ``CROP_AREA`` of ``im`` at a random spot and resize it."""
    side = float(np.sqrt(CROP_AREA))
    cw, ch = round(im.width * side), round(im.height * side)
    left = int(rng.integers(0, im.width - cw + 1))
    top = int(rng.integers(0, im.height - ch + 1))
    box = (left, top, left + cw, top + ch)
    out_h = round(CROP_OUT_WIDTH * ch / cw)
    crop = im.crop(box).resize((CROP_OUT_WIDTH, out_h), Image.Resampling.LANCZOS)
    kept = cw * ch / (im.width * im.height)
    how = (
        f"cropped box {box} of the {im.width}x{im.height} original "
        f"({kept:.0%} of its area), resized to {CROP_OUT_WIDTH}x{out_h}"
    )
    return crop, how


def make_collage(left: Image.Image, right: Image.Image) -> tuple[Image.Image, str]:
    """Place two images side by side at equal height on a white canvas."""
    panels = [
        p.resize(
            (round(p.width * COLLAGE_PANEL_HEIGHT / p.height), COLLAGE_PANEL_HEIGHT),
            Image.Resampling.LANCZOS,
        )
        for p in (left, right)
    ]
    width = 2 * COLLAGE_MARGIN + COLLAGE_GUTTER + sum(p.width for p in panels)
    height = 2 * COLLAGE_MARGIN + COLLAGE_PANEL_HEIGHT
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    x = COLLAGE_MARGIN
    for panel in panels:
        canvas.paste(panel, (x, COLLAGE_MARGIN))
        x += panel.width + COLLAGE_GUTTER
    shares = ", ".join(f"{p.width * p.height / (width * height):.0%}" for p in panels)
    how = (
        f"two panels {panels[0].width}x{panels[0].height} and {panels[1].width}x"
        f"{panels[1].height} on a {width}x{height} white canvas with a {COLLAGE_GUTTER}px "
        f"white gutter (panel shares of canvas area: {shares})"
    )
    return canvas, how


def make_recolour(im: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, str]:
    """Rotate hue, boost contrast and saturation of the whole image."""
    degrees = float(rng.uniform(25.0, 40.0))
    contrast = float(rng.uniform(1.3, 1.45))
    saturation = float(rng.uniform(1.1, 1.25))
    hsv = np.asarray(im.convert("HSV"), dtype=np.int16).copy()
    hsv[..., 0] = (hsv[..., 0] + round(degrees * 256 / 360)) % 256
    shifted = Image.fromarray(hsv.astype(np.uint8), mode="HSV").convert("RGB")
    out = ImageEnhance.Contrast(shifted).enhance(contrast)
    out = ImageEnhance.Color(out).enhance(saturation)
    how = (
        f"hue rotated by {degrees:.0f} degrees, contrast x{contrast:.2f}, "
        f"saturation x{saturation:.2f}; full frame, size unchanged ({im.width}x{im.height})"
    )
    return out, how


def clear_outputs(out: Path) -> None:
    """Remove files this script previously generated, so renamed outputs do not linger."""
    for sub, pattern in (("originals", "*.jpg"), ("suspects", "*.jpg"), ("suspects", "*.csv")):
        for stale in (out / sub).glob(pattern):
            stale.unlink()
    for name in ("works.csv", "LICENCES.md"):
        (out / name).unlink(missing_ok=True)


def md_escape(text: str) -> str:
    """Escape characters that would break a Markdown table cell."""
    return text.replace("|", "\\|")


@dataclass
class Sample:
    """Accumulates what has been written, for the size report and LICENCES.md."""

    out: Path
    rows: dict[str, dict[str, str]]
    written: list[Path] = field(default_factory=list)
    licences: list[tuple[str, str, str, str]] = field(default_factory=list)
    expected: list[tuple[str, str, str]] = field(default_factory=list)

    def jpeg(self, im: Image.Image, rel: str) -> None:
        """Save ``im`` under ``rel`` (relative to the sample folder)."""
        save_jpeg(im, self.out / rel)
        self.written.append(self.out / rel)

    def note(self, rel: str, origin: str, licence: str, how: str) -> None:
        """Record one LICENCES.md row."""
        self.licences.append((rel, origin, licence, how))

    def derived(self, name: str, refs: tuple[str, ...], kind: str, im: Image.Image, how: str) -> None:
        """Save a suspect made from registered originals and record where it came from."""
        self.jpeg(im, f"suspects/{name}")
        self.expected.append((name, ";".join(refs), kind))
        origins = "; ".join(self.rows[r]["origin"] for r in refs)
        licences = "; ".join(sorted({self.rows[r]["licence"] for r in refs}))
        made_from = ", ".join(f"`originals/{r}.jpg`" for r in refs)
        how = f"made from the decoded source pixels of {made_from} (before JPEG): {how}"
        self.note(f"suspects/{name}", origins, licences, how)


def write_originals(sample: Sample, eval_dir: Path) -> dict[str, Image.Image]:
    """Write the registered originals and ``works.csv``; return the images by ref."""
    images: dict[str, Image.Image] = {}
    for w in WORKS:
        src = load_rgb(eval_dir / w.manifest_path)
        im = limit_side(src)
        images[w.ref] = im
        rel = f"originals/{w.ref}.jpg"
        sample.jpeg(im, rel)
        row = sample.rows[w.manifest_path]
        how = (
            f"{w.title} by {w.author}; decoded from {src.width}x{src.height} WebP, "
            f"re-encoded as JPEG q{JPEG_QUALITY} at {im.width}x{im.height}"
        )
        sample.note(rel, row["origin"], row["licence"], how)

    header = ["path", "ref", "title", "author", "rights_holder", "registration_no", "source_url"]
    with (sample.out / "works.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        for w in WORKS:
            writer.writerow(
                [
                    f"originals/{w.ref}.jpg",
                    w.ref,
                    w.title,
                    w.author,
                    RIGHTS_HOLDER,
                    w.registration_no,
                    w.source_url,
                ]
            )
    sample.written.append(sample.out / "works.csv")
    return images


def write_suspects(sample: Sample, eval_dir: Path, images: dict[str, Image.Image], rng: np.random.Generator) -> None:
    """Write the derived and unrelated suspects and ``suspects/expected.csv``."""
    crop, how = make_crop(images[CROP_REF], rng)
    sample.derived("crop_night_cafe.jpg", (CROP_REF,), "crop", crop, how)

    collage, how = make_collage(images[COLLAGE_REFS[0]], images[COLLAGE_REFS[1]])
    sample.derived("collage_auvers_tanguy.jpg", COLLAGE_REFS, "collage", collage, how)

    recolour, how = make_recolour(images[RECOLOUR_REF], rng)
    sample.derived("recolour_langlois_bridge.jpg", (RECOLOUR_REF,), "recolour", recolour, how)

    write_ai_collage(sample, eval_dir, images)

    for d in DISTRACTORS:
        src = load_rgb(eval_dir / d.manifest_path)
        im = limit_side(src)
        rel = f"suspects/{d.name}"
        sample.jpeg(im, rel)
        sample.expected.append((d.name, "", "unrelated"))
        row = sample.rows[d.manifest_path]
        how = (
            f"{d.description}; not derived from any original; re-encoded as JPEG "
            f"q{JPEG_QUALITY} at {im.width}x{im.height}"
        )
        sample.note(rel, row["origin"], row["licence"], how)

    expected_csv = sample.out / "suspects" / "expected.csv"
    with expected_csv.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["path", "expected_refs", "kind"])
        writer.writerows(sample.expected)
    sample.written.append(expected_csv)


def write_ai_collage(sample: Sample, eval_dir: Path, images: dict[str, Image.Image]) -> None:
    """The crime the tool exists for: AI-like re-renderings (detector.synthetic.restyle) of two works, each rotated
    a little, on a paper texture with a caption and two pieces of public-domain clip art beside them."""
    sys.path.insert(0, str(REPO_ROOT))
    from detector import scenes

    clipart = [np.asarray(load_rgb(eval_dir / path)) for path in AI_COLLAGE_CLIPART]
    rng = np.random.default_rng(AI_COLLAGE_SEED)
    texture = np.full((64, 64, 3), 225, np.uint8)  # the collage draws its own paper grain when `rng` picks texture
    panels = [np.asarray(images[r]) for r in AI_COLLAGE_REFS]
    canvas, _ = scenes.ai_collage(panels, rng, texture, clipart)
    how = (
        f"detector.scenes.ai_collage (seed {AI_COLLAGE_SEED}): each original re-rendered by "
        "detector.synthetic.restyle (stylisation, new palette, slight warp), rotated by up to 12 degrees, on a "
        "paper texture or a flat background, with a caption and the public-domain clip art "
        + ", ".join(f"`{p}`" for p in AI_COLLAGE_CLIPART)
    )
    name = "ai_collage_cafe_bridge.jpg"
    sample.derived(name, AI_COLLAGE_REFS, "ai_collage", limit_side(Image.fromarray(canvas)), how)
    for path in AI_COLLAGE_CLIPART:
        row = sample.rows[path]
        sample.note(f"suspects/{name} (clip art)", row["origin"], row["licence"], "pasted beside the panels, resized")


def write_licences(sample: Sample) -> None:
    """Write ``LICENCES.md`` listing origin, licence and processing of every file."""
    lines = [
        "# Demo sample: origins and licences",
        "",
        f"Generated by `scripts/make_demo_sample.py` (seed {SEED}) from the Semblance",
        "evaluation set (`shared/eval/manifest.csv`). Only rows whose `licence` column",
        "is CC0 or public domain were used; the script checks each file's licence and",
        "SHA-1 against the manifest. *Origin* is the manifest's `origin` column",
        "(package, version, inner path); *Licence* is its `licence` column, verbatim.",
        "",
        "The four registered works are paintings by Vincent van Gogh (1853-1890), in the",
        "public domain; the GCompris digitisations are marked public domain as well.",
        "`rights_holder` in `works.csv` is a placeholder for the demo, not a claim.",
        "Paths in `works.csv` and `suspects/expected.csv` are relative to the CSV's folder.",
        "",
        "| File | Origin | Licence | What was done |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| `{f}` | `{md_escape(o)}` | {md_escape(lic)} | {md_escape(h)} |" for f, o, lic, h in sample.licences]
    lines += [
        (
            "| `works.csv`, `suspects/expected.csv` | written by the script | project licence "
            "(see `pyproject.toml`) | catalogue and ground truth for the images above |"
        ),
        "",
    ]
    (sample.out / "LICENCES.md").write_text("\n".join(lines), encoding="utf-8")
    sample.written.append(sample.out / "LICENCES.md")


def build(shared: Path, out: Path) -> list[Path]:
    """Generate the whole sample under ``out``; return the files written."""
    eval_dir = shared / "eval"
    if not eval_dir.is_dir():
        fail(f"shared data not found at {eval_dir} (expected ../shared/eval next to the repo); pass --shared PATH")
    manifest = load_manifest(eval_dir)
    work_paths = {w.manifest_path for w in WORKS}
    for d in DISTRACTORS:
        if d.manifest_path in work_paths:
            fail(f"distractor {d.manifest_path} is also a registered original")
    paths = [w.manifest_path for w in WORKS] + [d.manifest_path for d in DISTRACTORS] + list(AI_COLLAGE_CLIPART)
    rows = {p: checked_row(manifest, eval_dir, p) for p in paths}
    # derived() looks rows up by ref as well as by manifest path.
    rows.update({w.ref: rows[w.manifest_path] for w in WORKS})

    clear_outputs(out)
    (out / "originals").mkdir(parents=True, exist_ok=True)
    (out / "suspects").mkdir(parents=True, exist_ok=True)

    rng = np.random.default_rng(SEED)
    sample = Sample(out=out, rows=rows)
    images = write_originals(sample, eval_dir)
    write_suspects(sample, eval_dir, images, rng)
    write_licences(sample)
    return sample.written


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, build the sample and report its size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--shared",
        type=Path,
        default=DEFAULT_SHARED,
        help=f"shared data folder holding eval/ (default: {DEFAULT_SHARED})",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"output folder (default: {DEFAULT_OUT})",
    )
    args = parser.parse_args(argv)
    written = build(args.shared, args.out)
    total = 0
    for path in written:
        size = path.stat().st_size
        total += size
        print(f"{size:>9,d}  {path}")
    print(f"{total:>9,d}  total ({len(written)} files)")
    if total > MAX_TOTAL_BYTES:
        fail(f"sample is {total:,d} bytes, over the {MAX_TOTAL_BYTES:,d} byte limit")
    if total > SIZE_WARN_BYTES:
        print(f"warning: sample is over {SIZE_WARN_BYTES:,d} bytes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
