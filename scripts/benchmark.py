"""Speed benchmark on this machine with the offline embedder; writes docs/PERFORMANCE.md.

    python scripts/benchmark.py [--works 10000] [--out docs/PERFORMANCE.md]

Measures, through the public engine API (the same path as the CLI):
  * registration throughput of ~1 MP JPEGs,
  * scanning throughput of ~1 MP JPEGs (half of them transformed copies of registered works),
  * warm single-query latency against a workspace of `--works` registered works (filled with small generated
    images through the same registration path), median and 95th percentile.
Images are generated with a fixed seed (random shapes, gradients and noise), so runs are comparable.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector import __version__
from detector.intake import decode_image
from service.engine import Engine, WorkMetadata
from service.inputs import InputItem

REPO = Path(__file__).resolve().parents[1]
TARGETS = {"register_per_s": 20.0, "scan_per_s": 10.0, "query_ms_10k": 250.0}


def procedural(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A random picture: gradient background, filled shapes, lines and noise."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    c0, c1 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    t = (xx / w * rng.uniform(-1, 1) + yy / h * rng.uniform(-1, 1)) % 1.0
    img = (c0[None, None] * (1 - t[..., None]) + c1[None, None] * t[..., None]).astype(np.uint8)
    for _ in range(int(rng.integers(8, 20))):
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        kind = rng.integers(0, 3)
        p = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        if kind == 0:
            cv2.ellipse(
                img,
                p,
                (int(rng.integers(10, w // 4)), int(rng.integers(10, h // 4))),
                float(rng.uniform(0, 180)),
                0,
                360,
                colour,
                -1,
            )
        elif kind == 1:
            q = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            cv2.rectangle(img, p, q, colour, -1)
        else:
            q = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            cv2.line(img, p, q, colour, int(rng.integers(2, 12)))
    noise = rng.normal(0, 6, img.shape)
    return np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def jpeg(a: np.ndarray, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def item(name: str, data: bytes) -> InputItem:
    return InputItem(name, reader=lambda: data)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--works", type=int, default=10_000, help="Workspace size for the query-latency test.")
    ap.add_argument("--n", type=int, default=100, help="Images for the throughput tests.")
    ap.add_argument("--out", default=str(REPO / "docs/PERFORMANCE.md"))
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    print(f"generating {args.n} ~1 MP JPEGs", flush=True)
    big = [procedural(rng, 1200, 850) for _ in range(args.n)]
    big_jpegs = [jpeg(a) for a in big]
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine.init(os.path.join(tmp, "ws"), ["effnet-lite0"])
        engine.register_many([(item("warmup.jpg", jpeg(procedural(rng, 640, 480))), WorkMetadata(ref="warmup"))])
        t0 = time.perf_counter()
        outcomes = engine.register_many(
            [(item(f"w{i}.jpg", d), WorkMetadata(ref=f"w{i}")) for i, d in enumerate(big_jpegs)]
        )
        reg_s = time.perf_counter() - t0
        assert all(o.status == "registered" for o in outcomes), outcomes[:3]
        register_per_s = args.n / reg_s
        print(f"registration: {register_per_s:.1f} images/s", flush=True)

        suspects = []
        for i, a in enumerate(big):
            if i % 2 == 0:  # a transformed copy: crop + recompress
                h, w = a.shape[:2]
                suspects.append(jpeg(a[h // 8 : h - h // 8, w // 10 : w - w // 6], 70))
            else:
                suspects.append(jpeg(procedural(rng, 1200, 850)))
        decoded = [decode_image(d, f"s{i}.jpg") for i, d in enumerate(suspects)]
        views = SuspectViews(
            sum(bool(d.panels) for d in decoded),
            sum(len(d.panels) for d in decoded),
            sum(d.light_strokes_filled is not None for d in decoded),
        )
        del decoded  # about 250 MB of pixels the fill and latency tests below do not need
        t0 = time.perf_counter()
        results = list(engine.scan_many([item(f"s{i}.jpg", d) for i, d in enumerate(suspects)]))
        scan_s = time.perf_counter() - t0
        scan_per_s = args.n / scan_s
        found = sum(1 for i, r in enumerate(results) if i % 2 == 0 and r.matches and r.matches[0].ref == f"w{i}")
        print(f"scanning: {scan_per_s:.1f} images/s ({found}/{(args.n + 1) // 2} transformed copies found)", flush=True)

        fill = args.works - args.n - 1
        print(f"filling the workspace to {args.works} works", flush=True)
        t0 = time.perf_counter()
        batch: list[tuple[InputItem, WorkMetadata]] = []
        for i in range(fill):
            batch.append((item(f"f{i}.jpg", jpeg(procedural(rng, 320, 240), 85)), WorkMetadata(ref=f"f{i}")))
            if len(batch) == 500 or i == fill - 1:
                engine.register_many(batch)
                batch = []
                print(f"  {i + 1}/{fill} ({(i + 1) / (time.perf_counter() - t0):.1f}/s)", flush=True)
        engine.close()
        engine = Engine.open(os.path.join(tmp, "ws"))
        list(engine.scan_many([item("warm.jpg", suspects[1])]))  # load the index: the query below is warm
        latencies = []
        for i in range(50):
            t0 = time.perf_counter()
            list(engine.scan_many([item(f"q{i}.jpg", suspects[i % len(suspects)])]))
            latencies.append((time.perf_counter() - t0) * 1000)
        info = engine.info()
        engine.close()
    median = statistics.median(latencies)
    p95 = sorted(latencies)[int(0.95 * len(latencies)) - 1]
    print(f"warm query against {args.works} works: median {median:.0f} ms, p95 {p95:.0f} ms")
    write_report(Path(args.out), args, register_per_s, scan_per_s, found, median, p95, info, views)


@dataclass(frozen=True)
class SuspectViews:
    """How many of the scanned suspects get extra views, each costing an embedding and more verification."""

    cut: int
    """Suspects cut into collage panels."""
    panels: int
    overlaid: int
    """Suspects with enough thin light strokes for the overlay view (detector.overlay)."""


def write_report(
    out: Path,
    args: argparse.Namespace,
    reg: float,
    scan: float,
    found: int,
    median: float,
    p95: float,
    info: dict[str, object],
    views: SuspectViews,
) -> None:
    def verdict(ok: bool) -> str:
        return "met" if ok else "**not met**"

    cpu = platform.processor() or platform.machine()
    index = info.get("index")
    index_types = index.get("types") if isinstance(index, dict) else None
    lines = [
        "# Performance",
        "",
        f"Measured by `python scripts/benchmark.py --works {args.works} --n {args.n}` (semblance {__version__}) on "
        f"this machine: {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, offline embedder "
        "`effnet-lite0`, CPU only. Images are generated with a fixed seed; throughput includes decoding, every "
        "signal, the registry transaction with fsync, and (for scans) candidate search, exact re-scoring and "
        "keypoint verification of the best 8 candidates.",
        "",
        "| measure | target | measured | |",
        "|---|---|---|---|",
        f"| registration, ~1 MP JPEG | ≥ {TARGETS['register_per_s']:.0f} images/s | {reg:.1f} images/s | "
        f"{verdict(reg >= TARGETS['register_per_s'])} |",
        f"| scanning, ~1 MP JPEG | ≥ {TARGETS['scan_per_s']:.0f} images/s | {scan:.1f} images/s | "
        f"{verdict(scan >= TARGETS['scan_per_s'])} |",
        f"| one warm query, {args.works:,} registered works | < {TARGETS['query_ms_10k']:.0f} ms | median "
        f"{median:.0f} ms, p95 {p95:.0f} ms | {verdict(median < TARGETS['query_ms_10k'])} |",
        "",
        f"Transformed copies found at rank 1 during the scan test: {found} of {(args.n + 1) // 2}.",
        f"Index types at {args.works:,} works: `{index_types}`.",
        "",
        "Where the time goes, from profiling on this machine (2 cores): per suspect, the two EfficientNet-Lite0 "
        "passes (384 and 256 px) take about 40 ms, ORB with 1,500 keypoints about 20 ms, decoding and the 1,024 px "
        "working copy about 15 ms, and verifying the 8 best candidates 70-100 ms (brute-force matching of 1,500 x "
        "700 ORB descriptors about 5 ms, then RANSAC up to 9 ms when most matches are outliers, which is the case "
        "for every unrelated candidate). Registration spends most of its time in the network, ORB and the fsync'd "
        "transaction. At 10,000 works the exact inner-product search of about 28 query vectors against 140,000 "
        "region vectors of 1,280 dimensions is about 5 GFLOP per query, and loading and comparing the candidates' "
        "stored descriptors adds the rest. Each candidate's background baseline (322 background vectors and "
        "layouts against its region vectors) costs about 0.6 ms the first time a process meets the work, then is "
        "memoised: at 10,000 works a query meets some 50 new candidates, about 30 ms. A suspect cut into panels "
        "costs one more embedding (about 20 ms) and two more verifications per panel; the benchmark's drawn "
        f"shapes are cut more often than photographs ({views.cut} of its {args.n} suspects, {views.panels} panels, "
        "against 21% of the dev set's ordinary images). A suspect with many thin light strokes (a tiled "
        "watermark, detector.overlay) costs one more embedding and a second ORB set matched against every "
        f"verified candidate: {views.overlaid} of the {args.n} suspects here, 7% of the evaluation's distractors.",
        "",
        "Why the targets are not met yet, and the planned fixes: verify only candidates whose embedding or hash "
        "evidence can still reach a verdict (most of a distractor's 8 verifications are wasted), cap RANSAC "
        "iterations, reduce region vectors to 256 dimensions with PCA whitening fitted on registered works (5x less "
        "search and storage), store each work's baseline at registration, and batch the network over several "
        "images. A single process uses both cores for the network; several processes on 2 cores over-subscribe "
        "them and are slower, not faster.",
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
