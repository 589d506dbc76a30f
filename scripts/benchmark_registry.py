"""What a scan costs as the registry grows: the same real suspects against 100, 1,300, 10,000 and 100,000 works.

    python scripts/benchmark_registry.py [--sizes 100 1300 10000 100000] [--suspects 150] [--out FILE]

The registries hold designed sets at the dev set's proportion at every size, since siblings of one set crowd the
candidates and the verifiers where independent pictures would not:
  * 100: dev originals (../shared/eval), registered through the engine as a user would;
  * 1,300: the same plus 1,200 clip-art distractors of the dev set's designed sets (icon themes, card decks, flags,
    road signs) as filler works, registered the same way;
  * 10,000 and 100,000: the 1,300 repeated under new refs until the size is reached, each copy a *sibling* of its
    source rather than a twin: its neural descriptor is the source's with noise that puts it at the cosine of a
    pair of members of one real designed set, drawn from all such pairs of the 1,300 (so as many copies are near
    twins as real siblings are; measured, not chosen), and its hashes, keypoints and learned features are those of
    another real work, as a sibling's own drawing would give. They are written to the registry directly (with their
    background baselines, as registration stores them), not embedded again.

The suspects are 150 dev derivatives and distractors of at least 0.3 MP (seeded), none of them registered. For each
size, a fresh engine opens the workspace (its indexes built or loaded: timed apart), scans one suspect to warm up,
then scans the 150 with every stage timed (mean ms per scan): describing the suspect, the candidate search,
loading the candidates' descriptors, background baselines, re-scoring by each candidate signal, each verifier, and
the rest (fusion, verdicts, records); with the candidates per scan, the pairs each verifier compared per scan,
and how many verdicts differ from the 100-work registry's. Writes `--out`; scripts/benchmark.py quotes it in
PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import json
import os
import platform
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from detector.intake import decode_image  # noqa: E402
from detector.matching import describe  # noqa: E402
from detector.signals.embedding import EmbeddingDescriptor  # noqa: E402
from index.registry import Registry, WorkRecord  # noqa: E402
from index.search_index import SignalIndex  # noqa: E402
from service.engine import Engine, WorkMetadata  # noqa: E402
from service.inputs import InputItem  # noqa: E402

MIN_SUSPECT_PIXELS = 300_000
"""Suspects of at least 0.3 MP, as the speed issue measured: a marketplace picture is 0.5-1 MP."""


def dev_rows(shared: Path) -> list[dict[str, str]]:
    with open(shared / "manifest.csv", newline="") as f:
        return list(csv.DictReader(f))


def choose(
    rows: list[dict[str, str]], n_suspects: int, n_fillers: int, seed: int
) -> tuple[list[Path], list[Path], list[Path]]:
    """(100 originals, `n_fillers` clip-art fillers, suspects), each seeded; no suspect is registered."""
    rng = np.random.default_rng(seed)
    shared = Path(rows[0]["_root"])
    originals = [r for r in rows if r["role"] == "original"]
    originals = [originals[i] for i in sorted(rng.choice(len(originals), min(100, len(originals)), replace=False))]
    big = [
        r
        for r in rows
        if r["role"] in ("derivative", "distractor") and int(r["width"]) * int(r["height"]) >= MIN_SUSPECT_PIXELS
    ]
    suspects = [big[i] for i in sorted(rng.choice(len(big), min(n_suspects, len(big)), replace=False))]
    taken = {r["path"] for r in suspects}
    clipart = [r for r in rows if r["source"] == "deb_openclipart" and r["path"] not in taken]
    fillers = [clipart[i] for i in sorted(rng.choice(len(clipart), min(n_fillers, len(clipart)), replace=False))]

    def paths(group: list[dict[str, str]]) -> list[Path]:
        return [shared / r["path"] for r in group]

    return paths(originals), paths(fillers), paths(suspects)


def register(engine: Engine, files: list[Path], prefix: str, start: int = 0) -> None:
    batch = [
        (InputItem(p.name, reader=p.read_bytes), WorkMetadata(ref=f"{prefix}{start + i:04d}-{p.stem}"))
        for i, p in enumerate(files)
    ]
    t0 = time.perf_counter()
    outcomes = engine.register_many(batch)
    kept = sum(1 for o in outcomes if o.status == "registered")
    print(f"registered {kept} of {len(files)} ({len(files) / (time.perf_counter() - t0):.1f}/s)", flush=True)


def sibling_cosines(engine: Engine, sets: dict[str, str]) -> np.ndarray:
    """The cosine of the whole-picture descriptors of every pair of works of one designed set (`sets`: ref -> set)."""
    signal = next(s for s in engine.signals if s.name == "embedding")
    reg = engine.workspace.registry
    works = {w.id: w.ref for w in reg.works()}
    stored = reg.descriptors(works, signal.key)
    by_set: dict[str, list[np.ndarray]] = defaultdict(list)
    for wid, data in stored.items():
        ref = works[wid]
        if ref in sets:
            by_set[sets[ref]].append(signal.from_bytes(data).features.vectors[0])
    sims = []
    for vectors in by_set.values():
        if len(vectors) < 2:
            continue
        m = np.stack(vectors)
        m /= np.linalg.norm(m, axis=1, keepdims=True)
        c = m @ m.T
        sims.extend(c[np.triu_indices(len(m), 1)].tolist())
    return np.clip(np.asarray(sims, dtype=np.float64), 0.05, 0.999)  # a cosine at or below 0 has no finite spread


def perturbed(descriptor: EmbeddingDescriptor, cosine: float, rng: np.random.Generator) -> EmbeddingDescriptor:
    """The descriptor with every row moved to `cosine` of where it was (random directions): a sibling, not a twin."""
    spread = np.sqrt(1 / cosine**2 - 1)

    def move(v: np.ndarray) -> np.ndarray:
        norms = np.linalg.norm(v, axis=-1, keepdims=True)
        noise = rng.standard_normal(v.shape).astype(np.float32)
        noise *= norms * spread / np.sqrt(v.shape[-1])
        out = v + noise
        return (out * norms / np.linalg.norm(out, axis=-1, keepdims=True)).astype(np.float32)

    f = descriptor.features
    layout = None if f.layout is None else move(f.layout[None, :])[0]
    features = type(f)(move(f.vectors), f.boxes, layout)
    return EmbeddingDescriptor(features, descriptor.width, descriptor.height)


def grow(home: Path, target: int, cosines: np.ndarray, seed: int) -> None:
    """Add sibling copies of the registered works (module docstring) until the registry holds `target` works."""
    engine = Engine.open(str(home))
    reg = engine.workspace.registry
    real = [w for w in reg.works() if "~" not in w.ref]
    have = reg.count()
    signals = {s.key: s for s in engine.signals}
    embedding = next(s for s in engine.signals if s.name == "embedding")
    stored = {key: reg.descriptors([w.id for w in real], key) for key in signals}
    rng = np.random.default_rng(seed + have)
    reg.db.execute("PRAGMA synchronous=OFF")  # a throwaway benchmark registry: no fsync per work
    t0 = time.perf_counter()
    for n in range(have, target):
        src = real[n % len(real)]
        other = real[int(rng.integers(len(real)))]
        rows = []
        for key, signal in signals.items():
            if key == embedding.key and src.id in stored[key]:
                cosine = float(cosines[int(rng.integers(len(cosines)))])
                moved = perturbed(embedding.from_bytes(stored[key][src.id]), cosine, rng)
                rows.append((key, signal.version, embedding.to_bytes(moved)))
            elif key != embedding.key and other.id in stored[key]:
                rows.append((key, signal.version, stored[key][other.id]))
        record = WorkRecord(
            ref=f"{src.ref}~{n}",
            sha256=hashlib.sha256(f"sibling {n} of {src.sha256}".encode()).hexdigest(),
            size_bytes=src.size_bytes,
            width=src.width,
            height=src.height,
            format=src.format,
            original_name=src.original_name,
        )
        reg.add_work(record, rows, None, engine.baselines_as_stored({k: d for k, _, d in rows}))
        if (n + 1) % 10_000 == 0:
            print(f"  {n + 1} works ({(n + 1 - have) / (time.perf_counter() - t0):.0f}/s)", flush=True)
    engine.close()


class Clock:
    """Mean ms per scan of each wrapped call, counting only the outermost of nested wrapped calls in a thread."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        self.sizes: list[int] = []
        self._depth = threading.local()
        self._undo: list[Callable[[], None]] = []

    def wrap(self, owner: Any, name: str, stage: str, sizes: bool = False) -> None:
        original = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            depth = getattr(self._depth, "n", 0)
            self._depth.n = depth + 1
            t = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self._depth.n = depth
                if depth == 0:
                    self.ms[stage] += (time.perf_counter() - t) * 1000
                    self.calls[stage] += len(args[2]) if name == "compare_many" else 1  # pairs compared
                    if sizes:
                        self.sizes.append(len(list(args[1])))

        setattr(owner, name, timed)
        self._undo.append(lambda: setattr(owner, name, original))

    def undo(self) -> None:
        for u in reversed(self._undo):
            u()


@contextlib.contextmanager
def clocked(engine: Engine) -> Iterator[Clock]:
    """The engine's stages wrapped for timing while the block runs."""
    clock = Clock()
    clock.wrap(SignalIndex, "search", "search")
    clock.wrap(Registry, "descriptors", "loading candidates", sizes=True)
    clock.wrap(Registry, "baselines", "baselines")
    clock.wrap(engine.baselines, "of", "baselines")
    for s in engine.signals:
        stage = f"{'verifying' if s.role != 'candidate' else 're-scoring'}: {s.name}"
        for method in ("compare", "compare_many", "compare_view"):
            if hasattr(type(s), method):
                clock.wrap(type(s), method, stage)
    try:
        yield clock
    finally:
        clock.undo()


def measure(home: Path, suspects: list[Path], size: int) -> tuple[dict[str, Any], list[str]]:
    t0 = time.perf_counter()
    engine = Engine.open(str(home))
    engine.ready()
    opened = time.perf_counter() - t0
    list(engine.scan_many([InputItem("warm.jpg", reader=lambda: suspects[0].read_bytes())]))
    datas = [p.read_bytes() for p in suspects]
    described = []
    t0 = time.perf_counter()
    for p, data in zip(suspects, datas, strict=True):
        image = decode_image(data, p.name)
        query, not_run = describe(engine.signals, image, query=True)
        described.append((image, query, not_run))
    describe_ms = (time.perf_counter() - t0) * 1000 / len(suspects)
    verdicts = []
    with clocked(engine) as clock:
        t0 = time.perf_counter()
        for image, query, not_run in described:
            found = engine.match(image, query, not_run)
            verdicts.append(f"{found[0].ref.split('~')[0]}:{found[0].verdict}" if found else "no_match")
        judge_ms = (time.perf_counter() - t0) * 1000 / len(suspects)
    works = engine.workspace.registry.count()
    engine.close()
    n = len(suspects)
    stages = {k: round(v / n, 2) for k, v in sorted(clock.ms.items())}
    rest = judge_ms - sum(stages.values())
    verifier_runs = {k.split(": ", 1)[1]: round(c / n, 2) for k, c in clock.calls.items() if k.startswith("verifying")}
    result = {
        "works": works,
        "open_s": round(opened, 2),
        "describe_ms": round(describe_ms, 1),
        "judge_ms": round(judge_ms, 1),
        "scan_ms": round(describe_ms + judge_ms, 1),
        "stages_ms": stages | {"fusion, verdicts and the rest": round(rest, 2)},
        "candidates_per_scan": round(float(np.mean(clock.sizes)), 1) if clock.sizes else 0.0,
        "verifier_pairs_per_scan": verifier_runs,
    }
    print(f"{size} works: {json.dumps(result)}", flush=True)
    return result, verdicts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 1300, 10_000, 100_000])
    ap.add_argument("--suspects", type=int, default=150)
    ap.add_argument("--fillers", type=int, default=1200, help="Clip-art works registered beside the originals.")
    ap.add_argument("--shared", default=str(REPO.parent / "shared" / "eval"))
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--out", default=str(REPO / "docs" / "registry-scale.json"))
    ap.add_argument("--keep", help="Build the workspace in this new folder and keep it (to look into a verdict).")
    args = ap.parse_args()
    shared = Path(args.shared)
    if not (shared / "manifest.csv").is_file():
        sys.exit(f"{shared}/manifest.csv not found: this benchmark scans the dev set's real pictures")
    rows = dev_rows(shared)
    for r in rows:
        r["_root"] = str(shared)
    originals, fillers, suspects = choose(rows, args.suspects, args.fillers, args.seed)
    sets = {f"f{i:04d}-{p.stem}": str(p.parent) for i, p in enumerate(fillers)}
    levels = []
    verdicts_at: dict[int, list[str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(args.keep) if args.keep else Path(tmp) / "ws"
        engine = Engine.init(str(home))
        register(engine, originals, "o")
        engine.close()
        cosines: np.ndarray | None = None
        filled = 0  # fillers offered so far (a few are duplicates of others, so the count may stay below)
        for size in sorted(args.sizes):
            engine = Engine.open(str(home))
            count = engine.workspace.registry.count()
            if count < size and filled < len(fillers):
                register(engine, fillers[filled : filled + size - count], "f", filled)
                filled += size - count
            if cosines is None and engine.workspace.registry.count() > len(originals):
                cosines = sibling_cosines(engine, sets)
                quartiles = ", ".join(f"{q:.2f}" for q in np.percentile(cosines, [25, 50, 75, 99]))
                print(f"cosine of two works of one designed set, quartiles and 99th: {quartiles}", flush=True)
            engine.close()
            if cosines is not None and size > len(originals) + len(fillers):
                t0 = time.perf_counter()
                grow(home, size, cosines, args.seed)
                print(f"grown to {size} in {time.perf_counter() - t0:.0f} s", flush=True)
            level, verdicts = measure(home, suspects, size)
            verdicts_at[size] = verdicts
            first = verdicts_at[min(verdicts_at)]
            changed = [
                {"suspect": p.name, "smallest": a, "here": b}
                for p, a, b in zip(suspects, first, verdicts, strict=True)
                if a != b
            ]
            level["verdicts_changed_from_smallest"] = len(changed)
            level["changed"] = changed  # work (a sibling copy by its source's ref):verdict, at the smallest and here
            levels.append(level)
    base = levels[0]["scan_ms"]
    scaled = [lv | {"x_smallest": round(lv["scan_ms"] / base, 2)} for lv in levels]
    report: dict[str, Any] = {
        "machine": f"{os.cpu_count()} cores ({platform.machine()}), Python {platform.python_version()}",
        "suspects": len(suspects),
        "suspect_megapixels": round(float(np.mean([_pixels(p) for p in suspects])) / 1e6, 2),
        "sibling_cosine_percentiles": {str(q): round(float(np.percentile(cosines, q)), 3) for q in (25, 50, 75, 99)}
        if cosines is not None
        else {},
        "levels": scaled,
    }
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    for lv in scaled:
        print(f"{lv['works']:>7} works: {lv['scan_ms']:.0f} ms a scan ({lv['x_smallest']:.2f}x)")
    print(f"wrote {args.out}")


def _pixels(p: Path) -> int:
    from PIL import Image

    with Image.open(p) as im:
        return im.size[0] * im.size[1]


if __name__ == "__main__":
    main()
