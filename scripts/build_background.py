"""Build the background set shipped in `detector/background/<embedder>.npz` (see detector/background.py).

    python scripts/build_background.py            # defaults: ../shared/eval, effnet-lite0

It takes the distractors of a labelled set (unrelated images) that fall in the *background* share of the split
(`detector.calibration.splits.distractor_split`: a quarter of all distractors, drawn from the tune half) and whose
licence allows redistribution, and stores only their descriptors (a global vector and a layout per image, no
pixels) with the SHA-256 of every source file. `scripts/evaluate.py` leaves any image of the background set out of
its queries, so no reported figure is measured on an image the normalisation has seen.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector.background import load_background, packaged_path, save_background
from detector.calibration.splits import distractor_split, redistributable
from detector.embedders import load_embedder
from detector.intake import IntakeError, decode_image
from detector.signals import build_signals
from service.engine import EngineError
from service.labelled_set import read_manifest

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", default=str(REPO.parent / "shared/eval/manifest.csv"))
    ap.add_argument("--root", default=None)
    ap.add_argument("--embedder", default="effnet-lite0")
    ap.add_argument("--out", default=None, help="Default: the packaged detector/background/<embedder>.npz")
    args = ap.parse_args()
    manifest = Path(args.manifest)
    try:
        root, rows = read_manifest(manifest, Path(args.root) if args.root else None)
    except EngineError as exc:
        sys.exit(f"build_background: {exc}")
    chosen = [
        r
        for r in rows
        if r["role"] == "distractor" and distractor_split(r["sha1"]) == "background" and redistributable(r["licence"])
    ]
    embedder = load_embedder(args.embedder)
    signals = [s for s in build_signals(embedder) if s.background_features]
    descriptors: dict[str, list[bytes]] = {s.key: [] for s in signals}
    hashes: list[str] = []
    for r in sorted(chosen, key=lambda r: r["sha1"]):
        data = (root / r["path"]).read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest in hashes:
            continue  # the same file twice would count twice in a work's top K
        try:
            image = decode_image(data, r["path"])
        except IntakeError as exc:
            print(f"  skipped {exc}", file=sys.stderr)
            continue
        for s in signals:
            descriptors[s.key].append(s.to_bytes(s.background_descriptor(image)))
        hashes.append(digest)
    out = Path(args.out) if args.out else packaged_path(embedder.id)
    description = (
        f"{len(hashes)} redistributable distractors of {manifest.name} (background quarter of the split, "
        "drawn from the tune half; descriptors only)"
    )
    save_background(out, embedder.id, descriptors, hashes, description)
    bg = load_background(embedder.id, out)
    assert bg is not None
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, {len(hashes)} images, sha256 {bg.digest[:16]}…)")


if __name__ == "__main__":
    main()
