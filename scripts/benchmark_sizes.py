"""Scanning and registration by picture size, beside the bare pass over the same files: the sizes users scan.

    python scripts/benchmark_sizes.py [--per-class 20] [--out docs/picture-sizes.json]

Size classes, `--per-class` pictures each (seeded):
  * dev pictures under 0.3 MP (../shared/eval derivatives and distractors: what the 150-image benchmark mostly holds);
  * marketplace pictures, 0.5-1 MP: dev derivatives and distractors of that size;
  * phone photos of 3 MP and 12 MP: JPEG (quality 90, as a phone writes) made from the full-size wallpapers of
    Debian's `plasma-workspace-wallpapers` (LGPL-3 or CC-BY-SA-4.0, each wallpaper's metadata says which;
    `apt-get install plasma-workspace-wallpapers` puts them in /usr/share/wallpapers), centre-cropped to 4:3 and
    resized by Lanczos to 2048x1536 and 4000x3000. The 12 MP class uses the wallpapers of at least 8 MP only.

For each class, in this process with its engines opened and warmed first: scans per second against a workspace of
100 dev originals, registrations per second into a fresh workspace, and the *bare pass* over the same files (Pillow
decode, 224x224, one EfficientNet-Lite0 forward pass: scripts/benchmark.py's yardstick), with decoding alone
timed beside them. Writes `--out`; scripts/benchmark.py quotes it in PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from benchmark import bare_pass, rate  # noqa: E402

from detector.intake import decode_image  # noqa: E402
from service.engine import Engine, WorkMetadata  # noqa: E402
from service.inputs import InputItem  # noqa: E402

WALLPAPERS = Path("/usr/share/wallpapers")
PHONE_SIZES = {"phone photos, 3 MP": (2048, 1536), "phone photos, 12 MP": (4000, 3000)}


def dev_classes(shared: Path, n: int, seed: int) -> tuple[list[Path], dict[str, list[Path]]]:
    """(100 originals to register, {class: suspects}) from the dev set, seeded."""
    with open(shared / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    rng = np.random.default_rng(seed)

    def pick(group: list[dict[str, str]], k: int) -> list[Path]:
        return [shared / group[i]["path"] for i in sorted(rng.choice(len(group), min(k, len(group)), replace=False))]

    originals = pick([r for r in rows if r["role"] == "original"], 100)
    others = [r for r in rows if r["role"] in ("derivative", "distractor")]
    pixels = {id(r): int(r["width"]) * int(r["height"]) for r in others}
    small = [r for r in others if pixels[id(r)] < 300_000]
    market = [r for r in others if 500_000 <= pixels[id(r)] <= 1_000_000]
    return originals, {"dev pictures under 0.3 MP": pick(small, n), "marketplace pictures, 0.5-1 MP": pick(market, n)}


def phone_classes(n: int, out: Path) -> tuple[dict[str, list[Path]], list[dict[str, str]]]:
    """{class: JPEGs made from the wallpapers}, and each wallpaper used with its licence."""
    largest: list[tuple[int, Path, str]] = []
    for folder in sorted(WALLPAPERS.glob("*/contents/images")):
        sizes = []
        for p in folder.iterdir():
            with Image.open(p) as im:
                sizes.append((im.size[0] * im.size[1], p))
        licence = _licence(folder.parents[1])
        pixels, path = max(sizes)
        largest.append((pixels, path, licence))
    classes: dict[str, list[Path]] = {}
    used: dict[Path, str] = {}
    for name, (w, h) in PHONE_SIZES.items():
        sources = [s for s in largest if s[0] >= (8_000_000 if w * h > 8_000_000 else w * h)]
        made = []
        for _, path, licence in sources[:n]:
            used[path] = licence
            with Image.open(path) as im:
                rgb = im.convert("RGB")
            sw, sh = rgb.size
            cw = min(sw, sh * 4 // 3)
            ch = cw * 3 // 4
            box = ((sw - cw) // 2, (sh - ch) // 2, (sw - cw) // 2 + cw, (sh - ch) // 2 + ch)
            target = out / f"{name.split(',')[1].strip().replace(' ', '')}-{path.parts[-4]}.jpg"
            rgb.crop(box).resize((w, h), Image.Resampling.LANCZOS).save(target, "JPEG", quality=90)
            made.append(target)
        classes[name] = made
    return classes, [{"wallpaper": str(p), "licence": lic} for p, lic in sorted(used.items())]


def measure(name: str, files: list[Path], scan_engine: Engine, tmp: Path) -> dict[str, Any]:
    datas = [p.read_bytes() for p in files]
    items = [InputItem(p.name, reader=lambda d=d: d) for p, d in zip(files, datas, strict=True)]  # type: ignore[misc]
    list(scan_engine.scan_many(items[:1]))  # warm at this size
    decode = rate(len(files), lambda: [decode_image(d, p.name) for p, d in zip(files, datas, strict=True)])
    scan = rate(len(files), lambda: list(scan_engine.scan_many(items)))
    reg_engine = Engine.init(str(tmp / f"register-{abs(hash(name))}"))
    reg_engine.register_many([(items[0], WorkMetadata(ref="warm"))])  # models loaded before timing
    batch = [(item, WorkMetadata(ref=f"w{i}")) for i, item in enumerate(items[1:])]
    register = rate(len(batch), lambda: reg_engine.register_many(batch))
    reg_engine.close()
    bare = bare_pass(files)
    megapixels = float(np.mean([_pixels(p) for p in files])) / 1e6
    result = {
        "class": name,
        "pictures": len(files),
        "megapixels": round(megapixels, 2),
        "file_kb": round(float(np.mean([len(d) for d in datas])) / 1024, 1),
        "decode_per_s": round(decode, 2),
        "scan_per_s": round(scan, 2),
        "register_per_s": round(register, 2),
        "bare_pass_per_s": round(bare, 2),
        "scan_x_bare": round(scan / bare, 3),
        "register_x_bare": round(register / bare, 3),
    }
    print(json.dumps(result), flush=True)
    return result


def _licence(wallpaper: Path) -> str:
    """The licence a wallpaper's metadata (metadata.json, or the older metadata.desktop) names."""
    if (wallpaper / "metadata.json").is_file():
        meta = json.loads((wallpaper / "metadata.json").read_text())
        return str(meta.get("KPlugin", {}).get("License", "unstated"))
    for line in (wallpaper / "metadata.desktop").read_text().splitlines():
        if line.startswith("X-KDE-PluginInfo-License="):
            return line.split("=", 1)[1].strip()
    return "unstated"


def _file_item(path: Path) -> InputItem:
    return InputItem(path.name, reader=path.read_bytes)


def _pixels(p: Path) -> int:
    with Image.open(p) as im:
        return im.size[0] * im.size[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-class", type=int, default=20)
    ap.add_argument("--shared", default=str(REPO.parent / "shared" / "eval"))
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--out", default=str(REPO / "docs" / "picture-sizes.json"))
    args = ap.parse_args()
    shared = Path(args.shared)
    if not (shared / "manifest.csv").is_file():
        sys.exit(f"{shared}/manifest.csv not found: the dev set's pictures are measured beside the phone photos")
    if not WALLPAPERS.is_dir():
        sys.exit(f"{WALLPAPERS} not found: apt-get install plasma-workspace-wallpapers (the phone photos' source)")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        originals, classes = dev_classes(shared, args.per_class, args.seed)
        phones, used = phone_classes(args.per_class, tmp)
        classes |= phones
        engine = Engine.init(str(tmp / "scan"))
        engine.register_many([(_file_item(p), WorkMetadata(ref=f"o{i}")) for i, p in enumerate(originals)])
        results = [measure(name, files, engine, tmp) for name, files in classes.items()]
        engine.close()
    report = {
        "machine": f"{os.cpu_count()} cores ({platform.machine()}), Python {platform.python_version()}",
        "registered_works": len(originals),
        "classes": results,
        "wallpapers": used,
    }
    Path(args.out).write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    for r in results:
        print(
            f"{r['class']:<32} {r['megapixels']:>5} MP: scan {r['scan_per_s']}/s ({r['scan_x_bare']} x bare), "
            f"register {r['register_per_s']}/s ({r['register_x_bare']} x), bare {r['bare_pass_per_s']}/s"
        )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
