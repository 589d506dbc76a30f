"""Search-index scale benchmark: build, open and query Semblance's vector index at 10k, 100k and 1M works.

    python scripts/benchmark_index.py [--sizes 10000 100000 1000000] [--embedder E]

A registry of a million works cannot be registered on this machine (at ~20 works/s that is 14 hours), so the
index (`index.search_index.SignalIndex`, exactly as the engine uses it) is filled with synthetic vectors drawn to
match the real vectors' spectrum: the mean and covariance of every row (whole image and regions) that the
embedder gives for real dev images (../shared/eval, when present; else the shipped background set), sampled as
mean + eigenvectors * sqrt(eigenvalues) * N(0, 1) and L2-normalised, 14 rows a work as the embedder gives.
Queries are registered works seen again: each of a work's rows with noise added until its cosine to the original
is about 0.9 (a near copy's), plus as many unrelated rows as the real suspect has beyond its own (extra scales,
panels), so a query has the real number of rows.

Measured for each size: build time (training included), open time (loading the saved files), p50/p99 latency of
one query's candidate search (`search` with the engine's NEIGHBOURS_PER_ROW, merged per work), recall@10 of works
against exact search over the same vectors (a query's whole-image row; the exact top 10 works by cosine) both as
the index ranks them (`recall_at_10_raw`) and after the engine's exact re-scoring of the CANDIDATES_PER_SIGNAL works
it returns (`recall_at_10`, what a scan sees), how often the copied work is among those candidates from its
whole-image row alone (`copy_found`) and from all its rows as a scan looks it up (`copy_found_all_rows`), how far
apart the exact 2nd and 10th nearest works are (`cosine_gap_2nd_to_10th`: near-ties that any compressed code
reorders), and the index's memory per work. Writes docs/index-scale.json and docs/index-latency.png;
docs/PERFORMANCE.md quotes them.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector.auto import resolve_auto
from detector.background import load_background
from detector.embedders import load_embedder
from detector.intake import decode_image
from index.retrieval import CANDIDATES_PER_SIGNAL, NEIGHBOURS_PER_ROW
from index.search_index import SignalIndex

REPO = Path(__file__).resolve().parents[1]
CHUNK_WORKS = 50_000
NOISE_COSINE = 0.9


def real_rows(embedder_spec: str, shared: Path, n_images: int) -> tuple[np.ndarray, int, int, str]:
    """Real rows of the embedder: (rows, rows per work, rows per suspect, where they came from)."""
    embedder = load_embedder(embedder_spec)
    manifest = shared / "manifest.csv"
    if manifest.is_file():
        with open(manifest, newline="") as f:
            rows = [r for r in csv.DictReader(f) if r["role"] in ("original", "distractor")]
        rng = np.random.default_rng(0)
        chosen = [rows[i] for i in rng.choice(len(rows), min(n_images, len(rows)), replace=False)]
        vectors: list[np.ndarray] = []
        per_work, per_query = 0, 0
        for r in chosen:
            image = decode_image((shared / r["path"]).read_bytes(), r["path"])
            feats = embedder.features(image.rgb)
            per_work = max(per_work, len(feats.vectors))
            per_query = max(per_query, len(embedder.query_features(image.rgb).vectors))
            vectors.append(feats.vectors)
        return np.vstack(vectors), per_work, per_query, f"{len(chosen)} dev images of ../shared/eval/manifest.csv"
    background = load_background(embedder.id)
    if background is None:
        raise SystemExit(f"no dev images and no background set for {embedder.id}: nothing to fit the spectrum on")
    from detector.signals.embedding import EmbeddingSignal

    signal = EmbeddingSignal(embedder)
    descs = [signal.from_bytes(b) for b in background.descriptors[signal.key]]
    source = f"the {len(descs)} whole-image vectors of the shipped background set"
    return np.vstack([d.features.vectors for d in descs]), 14, 28, source


class Spectrum:
    """A Gaussian with the real rows' mean and covariance, sampled in chunks with a fixed seed per chunk."""

    def __init__(self, rows: np.ndarray) -> None:
        self.mean = rows.mean(axis=0)
        cov = np.cov(rows - self.mean, rowvar=False)
        values, vectors = np.linalg.eigh(cov)
        self.scale = (vectors * np.sqrt(np.clip(values, 0, None))).T.astype(np.float32)  # (dim, dim)
        self.dim = rows.shape[1]

    def sample(self, n: int, seed: int) -> np.ndarray:
        z = np.random.default_rng(seed).standard_normal((n, self.dim), dtype=np.float32)
        x = z @ self.scale + self.mean.astype(np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    def near(self, rows: np.ndarray, seed: int) -> np.ndarray:
        """Rows seen again with noise, at cosine ~NOISE_COSINE to themselves."""
        noise = self.sample(len(rows), seed) - self.mean.astype(np.float32) / np.linalg.norm(self.mean)
        noise /= np.linalg.norm(noise, axis=1, keepdims=True)
        t = np.sqrt(1 - NOISE_COSINE**2) / NOISE_COSINE
        x = rows + t * noise
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def chunk_rows(spectrum: Spectrum, works: int, per_work: int, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    start = index * CHUNK_WORKS
    count = min(CHUNK_WORKS, works - start)
    rows = spectrum.sample(count * per_work, seed=1000 + index)
    work_ids = np.repeat(np.arange(start, start + count, dtype=np.int64), per_work)
    regions = np.tile(np.arange(per_work, dtype=np.int32), count)
    return rows, work_ids, regions


def run_size(spectrum: Spectrum, works: int, per_work: int, per_query: int, queries: int) -> dict[str, object]:
    """Build, save, open and query an index of `works` synthetic works; the queries are the first `queries` works
    seen again (every work is an independent draw, so the first ones are as good a sample as any)."""
    chunks = (works + CHUNK_WORKS - 1) // CHUNK_WORKS
    t0 = time.perf_counter()
    index = SignalIndex.build(
        "vector", spectrum.dim, lambda: (chunk_rows(spectrum, works, per_work, i) for i in range(chunks))
    )
    build_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        stem = Path(tmp) / "embedding"
        index.save(stem)
        file_mb = stem.with_suffix(".faiss").stat().st_size / 1e6
        t0 = time.perf_counter()
        opened = SignalIndex.load(stem, "vector", spectrum.dim)
        open_s = time.perf_counter() - t0
    first, _, _ = chunk_rows(spectrum, works, per_work, 0)
    own = [first[q * per_work : (q + 1) * per_work] for q in range(queries)]
    query_global = np.vstack([spectrum.near(own[q][:1], seed=q) for q in range(queries)])
    latencies, candidates = [], []
    copy_among_candidates = 0
    for q in range(queries):
        extra = spectrum.sample(max(0, per_query - per_work), seed=50_000 + q)
        rows = np.vstack([spectrum.near(own[q], seed=90_000 + q), extra])
        t0 = time.perf_counter()
        best: dict[int, float] = {}
        for h in opened.search(rows, NEIGHBOURS_PER_ROW):
            best[h.work_id] = max(best.get(h.work_id, -2.0), h.similarity)
        found = sorted(best, key=best.__getitem__, reverse=True)[:CANDIDATES_PER_SIGNAL]
        latencies.append((time.perf_counter() - t0) * 1000)
        copy_among_candidates += int(q in found)
    for q in range(queries):  # the whole-image row alone, for recall against exact search of the same row
        best = {}
        for h in opened.search(query_global[q : q + 1], NEIGHBOURS_PER_ROW):
            best[h.work_id] = max(best.get(h.work_id, -2.0), h.similarity)
        candidates.append(sorted(best, key=best.__getitem__, reverse=True))
    # exact cosine of each query's whole-image row with every work (its best row), a chunk at a time
    exact: list[dict[int, float]] = [{} for _ in range(queries)]
    wanted = [set(c[:CANDIDATES_PER_SIGNAL]) for c in candidates]
    for i in range(chunks):
        rows, work_ids, _ = chunk_rows(spectrum, works, per_work, i)
        sims = query_global @ rows.T
        for q in range(queries):
            top = np.argpartition(-sims[q], 10 * per_work)[: 10 * per_work].tolist()
            mine = np.nonzero(np.isin(work_ids, list(wanted[q])))[0].tolist()
            for j in top + mine:
                w = int(work_ids[j])
                exact[q][w] = max(exact[q].get(w, -2.0), float(sims[q, j]))
    raw = rescored = first_found = 0
    gaps = []
    for q in range(queries):
        truth = sorted(exact[q], key=exact[q].__getitem__, reverse=True)[:10]
        gaps.append(exact[q][truth[1]] - exact[q][truth[9]])
        raw += len(set(candidates[q][:10]) & set(truth))
        kept = sorted(wanted[q], key=lambda w: exact[q].get(w, -2.0), reverse=True)[:10]
        rescored += len(set(kept) & set(truth))
        first_found += int(q in wanted[q])
    return {
        "works": works,
        "rows": len(opened),
        "type": opened.type_name,
        "build_s": round(build_s, 1),
        "open_s": round(open_s, 2),
        "file_mb": round(file_mb, 1),
        "bytes_per_work": round(opened.memory_bytes() / works),
        "query_rows": per_query,
        "latency_ms_p50": round(float(np.percentile(latencies, 50)), 2),
        "latency_ms_p99": round(float(np.percentile(latencies, 99)), 2),
        "recall_at_10_raw": round(raw / (10 * queries), 4),
        "recall_at_10": round(rescored / (10 * queries), 4),
        "copy_found": round(first_found / queries, 4),
        "copy_found_all_rows": round(copy_among_candidates / queries, 4),
        "cosine_gap_2nd_to_10th": round(float(np.median(gaps)), 4),
        "queries": queries,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--embedder", default=None, help="Built-in embedder whose vectors to imitate (default: auto's).")
    ap.add_argument("--shared", default=str(REPO.parent / "shared" / "eval"))
    ap.add_argument("--images", type=int, default=400, help="Dev images whose rows fit the spectrum.")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--out", default=str(REPO / "docs"))
    args = ap.parse_args()
    spec = args.embedder or resolve_auto()[0]
    rows, per_work, per_query, source = real_rows(spec, Path(args.shared), args.images)
    spectrum = Spectrum(rows)
    print(f"spectrum of {spec} fitted on {len(rows)} rows from {source}; {per_work} rows a work, {per_query} a query")
    results: list[dict[str, Any]] = []
    for works in args.sizes:
        r = run_size(spectrum, works, per_work, per_query, args.queries)
        print(json.dumps(r), flush=True)
        results.append(r)
    out = Path(args.out)
    payload = {"embedder": spec, "spectrum_from": source, "rows_per_work": per_work, "results": results}
    (out / "index-scale.json").write_text(json.dumps(payload, indent=1))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    sizes = [r["works"] for r in results]
    ax.plot(sizes, [r["latency_ms_p50"] for r in results], "o-", label="p50")
    ax.plot(sizes, [r["latency_ms_p99"] for r in results], "s--", label="p99")
    ax.axhline(50, color="grey", lw=0.8, ls=":", label="50 ms target")
    ax.set_xscale("log")
    ax.set_xlabel("registered works")
    ax.set_ylabel("candidate search per suspect (ms)")
    ax.set_title(f"Search latency, {spec}, 2 cores")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "index-latency.png", dpi=110)
    print(f"wrote {out / 'index-scale.json'} and {out / 'index-latency.png'}")


if __name__ == "__main__":
    main()
