"""FAISS search over the rows signals contribute: binary Hamming codes (PDQ, pHash) and float vectors.

Vectors are L2-normalised. A vector index stays exact (flat inner product) while small; past `COMPACT_ROWS` rows
it is trained once into compressed codes (`compact_factory`: PCA to 128 dimensions, an inverted file, 4 bits a
dimension), about 1.2 KB a work instead of 72 KB, and rows are added to it incrementally. Either way
the engine re-scores every candidate exactly from the descriptors the registry keeps on disk, so approximate
search can only miss a candidate, never change a score. The compact index measures its own recall when trained
and when saved (`self_recall`: registered rows looked up by their exact vectors) and is retrained when that drops
`RECALL_DROP` below what it was right after training, or when it has grown `REGROW` times past its training size.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from detector.embedders.base import file_sha256

INDEX_FORMAT = 2
"""Version of the index files' layout (state.json records it); 2: compact IVF-PQ indexes with their training."""
COMPACT_ROWS = 100_000
"""Vector rows (about 7,000 works at 14 rows each) past which a flat index is trained into compressed codes: below
it a flat search is already fast (~10 ms) and exact, and there are too few rows to train 256+ lists well."""
COMPACT_DIM = 128
"""PCA dimensions kept before quantising. Copies and their originals stay close in the leading components; what
PCA drops is measured by `self_recall`, and exact re-scoring never sees it."""
CODE_BITS = 4
"""Bits per PCA dimension in a row's code (FAISS's 4-bit scalar quantiser: 64 bytes a row at 128 dimensions).
Product quantisation would be smaller but its training took 45 s for 10,000 rows on these 2 cores, against
under 1 s for the scalar quantiser's, and training must stay cheap enough to repeat when recall drops."""
NPROBE = 64
"""Inverted lists visited per query row. On vectors drawn with SSCD's spectrum (scripts/benchmark_index.py) a
near copy's own work was among a row's 32 nearest in 82% of lookups with 16 lists of 1,024 and 96% with 64 at
10k works; the scale benchmark in docs/PERFORMANCE.md gives the latency and recall this costs up to 1M works."""
RECALL_DROP = 0.02
"""A compact index whose self-recall falls this far below its own right after training is retrained from the
registry's descriptors. Relative, not absolute: a registry full of near-identical works (a sticker set in fifty
colours) has a lower self-recall from the start, and no retraining can raise it."""
REGROW = 8
"""A compact index is also retrained when it holds this many times the rows it was trained for: its lists then
hold 8x the rows they were sized for, and a query scans 8x more codes."""
RECALL_SAMPLE = 500
"""Registered rows looked up to measure self-recall."""
RECALL_K = 10


def lists_for(rows: int) -> int:
    """Inverted lists for an index trained on `rows` rows: about 4 * sqrt(rows), between 256 and 4,096 (FAISS's
    guidance; 4,096 lists of 14M rows at 1M works is ~3,400 rows a list)."""
    return int(min(4096, max(256, 2 ** round(math.log2(4 * math.sqrt(max(rows, 1)))))))


def compact_factory(rows: int, dim: int) -> str:
    """The FAISS index-factory string for a compact index of `rows` rows of `dim` dimensions."""
    return f"PCA{min(COMPACT_DIM, dim)},IVF{lists_for(rows)},SQ{CODE_BITS}"


Chunk = tuple[np.ndarray, np.ndarray, np.ndarray]
"""Rows, their work ids and region ids."""


@dataclass(frozen=True)
class Hit:
    work_id: int
    region_id: int
    query_row: int
    similarity: float


@dataclass
class Training:
    """How a compact index was trained, recorded beside it (state.json) and in evidence reports."""

    factory: str
    trained_rows: int
    self_recall: float | None = None
    """Share of sampled registered rows found among the RECALL_K nearest of their own lookup."""
    measured_rows: int = 0
    """Rows the index held when `self_recall` was measured; it is measured again once the index doubles."""
    trained_recall: float | None = None
    """Self-recall measured right after training: the level a later measurement is compared with."""

    def to_json(self) -> dict[str, object]:
        return {
            "factory": self.factory,
            "trained_rows": self.trained_rows,
            "self_recall": self.self_recall,
            "measured_rows": self.measured_rows,
            "trained_recall": self.trained_recall,
            "nprobe": NPROBE,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Training:
        recall, trained = data.get("self_recall"), data.get("trained_recall")
        return cls(
            str(data["factory"]),
            int(data["trained_rows"]),
            None if recall is None else float(recall),
            int(data.get("measured_rows", 0)),
            None if trained is None else float(trained),
        )


class SignalIndex:
    """One FAISS index for one signal key, with the (work, region) each row came from."""

    def __init__(self, kind: str, dim: int) -> None:
        self.kind = kind
        self.dim = dim
        self.work_ids = np.zeros(0, dtype=np.int64)
        self.region_ids = np.zeros(0, dtype=np.int32)
        self.training: Training | None = None
        """Set for a compact (trained) vector index."""
        self.index: Any = faiss.IndexBinaryFlat(dim) if kind == "hamming" else faiss.IndexFlatIP(dim)

    @property
    def type_name(self) -> str:
        return self.training.factory if self.training is not None else type(self.index).__name__

    @property
    def compact(self) -> bool:
        return self.training is not None

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def add(self, rows: np.ndarray, work_id: int, region_ids: np.ndarray) -> None:
        self.add_batch(rows, np.full(len(rows), work_id, dtype=np.int64), region_ids)

    def add_batch(self, rows: np.ndarray, work_ids: np.ndarray, region_ids: np.ndarray) -> None:
        """Append rows; a flat vector index crossing `COMPACT_ROWS` is trained into a compact one on the way."""
        if len(rows) == 0:
            return
        if self.kind == "hamming":
            self.index.add(np.ascontiguousarray(rows, dtype=np.uint8))
        else:
            rows = np.ascontiguousarray(rows, dtype=np.float32)
            if not self.compact and len(self) + len(rows) >= COMPACT_ROWS:
                old = self.index.reconstruct_n(0, len(self)) if len(self) else np.zeros((0, self.dim), np.float32)
                self.train(np.vstack([old, rows]))
                self.index.add(old)
            self.index.add(rows)
        self.work_ids = np.concatenate([self.work_ids, work_ids.astype(np.int64)])
        self.region_ids = np.concatenate([self.region_ids, region_ids.astype(np.int32)])

    def train(self, sample: np.ndarray, rows: int | None = None, seed: int = 0) -> None:
        """Replace this (empty or flat) vector index by a compact one sized for `rows` rows (default: the sample's
        size), trained on `sample` (at most 64 rows a list are used, drawn with a fixed seed: the same rows give
        the same index)."""
        rows = rows or len(sample)
        factory = compact_factory(rows, self.dim)
        index = faiss.index_factory(self.dim, factory, faiss.METRIC_L2)  # L2 on unit vectors ranks as cosine
        nlist = lists_for(rows)
        rng = np.random.default_rng(seed)
        take = min(len(sample), 64 * nlist)
        chosen = np.sort(rng.choice(len(sample), take, replace=False)) if take < len(sample) else slice(None)
        index.train(np.ascontiguousarray(sample[chosen], dtype=np.float32))
        faiss.extract_index_ivf(index).nprobe = NPROBE
        self.index = index
        self.training = Training(factory, rows)

    def needs_training(self) -> bool:
        """Whether a compact index should be trained again: its recall dropped since training, or it outgrew its
        lists."""
        t = self.training
        if t is None:
            return False
        if len(self) > REGROW * t.trained_rows:
            return True
        if t.self_recall is None or t.trained_recall is None:
            return False
        return t.self_recall < t.trained_recall - RECALL_DROP

    def self_recall(self, rows: np.ndarray, positions: np.ndarray, k: int = RECALL_K) -> float:
        """Share of registered rows (`rows`, the exact vectors stored at index `positions`) found among the k
        nearest of their own lookup: what the compressed codes lose, measured without an exact search."""
        if len(rows) == 0:
            return 1.0
        _, idx = self.index.search(np.ascontiguousarray(rows, dtype=np.float32), min(k, len(self)))
        return float(np.mean([p in set(found.tolist()) for p, found in zip(positions, idx, strict=True)]))

    def search(self, rows: np.ndarray, k: int) -> list[Hit]:
        """The k nearest rows for each query row, as similarities in [0, 1] (Hamming) or cosines (exact while
        flat; from compressed codes, as 1 - d²/2, once compact)."""
        if len(self) == 0 or len(rows) == 0:
            return []
        k = min(k, len(self))
        if self.kind == "hamming":
            dist, idx = self.index.search(np.ascontiguousarray(rows, dtype=np.uint8), k)
            sims = (1.0 - dist.astype(np.float64) / self.dim).astype(np.float32)
        elif self.compact:
            dist, idx = self.index.search(np.ascontiguousarray(rows, dtype=np.float32), k)
            sims = 1.0 - dist / 2.0
        else:
            sims, idx = self.index.search(np.ascontiguousarray(rows, dtype=np.float32), k)
        valid = idx >= 0
        q = np.nonzero(valid)[0]
        found = idx[valid]
        works, regions, values = self.work_ids[found], self.region_ids[found], sims[valid]
        return [
            Hit(int(w), int(r), int(qr), float(v))
            for w, r, qr, v in zip(works.tolist(), regions.tolist(), q.tolist(), values.tolist(), strict=True)
        ]

    def memory_bytes(self) -> int:
        """Bytes this index holds in memory: codes, lists' ids and the row -> (work, region) maps."""
        if self.kind == "hamming":
            codes = len(self) * self.dim // 8
        elif self.compact:
            codes = len(self) * (min(COMPACT_DIM, self.dim) * CODE_BITS // 8 + 8)  # a code and a list entry's id
        else:
            codes = len(self) * self.dim * 4
        return codes + self.work_ids.nbytes + self.region_ids.nbytes

    # -- persistence --------------------------------------------------------------------------------
    def save(self, stem: Path) -> str:
        """Write `stem.faiss` and `stem.ids.npz` atomically; returns the SHA-256 of the index file."""
        tmp = stem.with_suffix(".faiss.tmp")
        if self.kind == "hamming":
            faiss.write_index_binary(self.index, str(tmp))
        else:
            faiss.write_index(self.index, str(tmp))
        _fsync(tmp)
        ids_tmp = stem.with_suffix(".ids.tmp.npz")
        training = json.dumps(self.training.to_json() if self.training else None)
        np.savez(ids_tmp, work_ids=self.work_ids, region_ids=self.region_ids, training=np.asarray(training))
        _fsync(ids_tmp)
        os.replace(ids_tmp, stem.with_suffix(".ids.npz"))
        os.replace(tmp, stem.with_suffix(".faiss"))
        return file_sha256(stem.with_suffix(".faiss"))

    @classmethod
    def load(cls, stem: Path, kind: str, dim: int) -> SignalIndex:
        out = cls(kind, dim)
        path = str(stem.with_suffix(".faiss"))
        out.index = faiss.read_index_binary(path) if kind == "hamming" else faiss.read_index(path)
        with np.load(stem.with_suffix(".ids.npz")) as ids:
            out.work_ids, out.region_ids = ids["work_ids"], ids["region_ids"]
            training = json.loads(str(ids["training"])) if "training" in ids else None
        if len(out.work_ids) != len(out):
            raise ValueError(f"{path}: id map has {len(out.work_ids)} rows, index {len(out)}")
        if training is not None:
            out.training = Training.from_json(training)
            faiss.extract_index_ivf(out.index).nprobe = NPROBE
        return out

    @classmethod
    def build(cls, kind: str, dim: int, chunks: Callable[[], Iterable[Chunk]]) -> SignalIndex:
        """An index of every row `chunks()` yields as (rows, work ids, region ids), read in a streaming pass or two:
        past `COMPACT_ROWS` vector rows, a first pass keeps a seeded sample to train on and a second adds the rows,
        so a million works' vectors never sit in memory at once."""
        out = cls(kind, dim)
        if kind == "vector":
            total, sample = _reservoir(chunks(), 64 * 4096)
            if total >= COMPACT_ROWS:
                out.train(sample, total)
        for rows, works, regions in chunks():
            out.index.add(np.ascontiguousarray(rows, dtype=np.uint8 if kind == "hamming" else np.float32))
            out.work_ids = np.concatenate([out.work_ids, works.astype(np.int64)])
            out.region_ids = np.concatenate([out.region_ids, regions.astype(np.int32)])
        return out

    def note_recall(self, rows: np.ndarray, positions: np.ndarray) -> None:
        """Measure and record self-recall on these registered rows (exact vectors at `positions`)."""
        if self.training is not None:
            self.training.self_recall = self.self_recall(rows, positions)
            self.training.measured_rows = len(self)
            if self.training.trained_recall is None:  # the first measurement after training sets the level
                self.training.trained_recall = self.training.self_recall

    def recall_stale(self) -> bool:
        """Whether self-recall should be measured again: never measured, or the index has doubled since."""
        t = self.training
        return t is not None and (t.self_recall is None or len(self) >= 2 * max(t.measured_rows, 1))


def _reservoir(chunks: Iterable[Chunk], size: int, seed: int = 0) -> tuple[int, np.ndarray]:
    """(Rows seen, a uniform sample of at most `size` of them), in one pass (reservoir sampling by chunk)."""
    rng = np.random.default_rng(seed)
    kept: np.ndarray | None = None
    seen = 0
    for rows, _, _ in chunks:
        rows = np.asarray(rows, dtype=np.float32)
        if kept is None:
            kept = rows[:size].copy()
            rest = rows[size:]
            seen = len(kept)
        else:
            rest = rows
        room = size - len(kept)
        if room > 0 and len(rest):
            kept = np.vstack([kept, rest[:room]])
            seen += min(room, len(rest))
            rest = rest[room:]
        if len(rest):  # each later row replaces a kept one with probability size / rows seen
            js = rng.integers(0, seen + np.arange(1, len(rest) + 1))
            hit = js < size
            kept[js[hit]] = rest[hit]
            seen += len(rest)
    return seen, kept if kept is not None else np.zeros((0, 0), np.float32)


def _fsync(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def write_state(path: Path, state: dict[str, object]) -> None:
    """Atomically write the JSON that stamps the index files with the registry generation."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
    _fsync(tmp)
    os.replace(tmp, path)
