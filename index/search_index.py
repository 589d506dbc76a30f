"""FAISS search over the rows signals contribute: binary Hamming codes (PDQ, pHash) and float vectors.

Vectors are L2-normalised and searched by inner product. An index stays exact (flat) while small and switches
to HNSW past `HNSW_THRESHOLD` rows; either way the engine re-scores every candidate exactly from the stored
descriptors, so approximate search can only miss a candidate, never change a score.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from detector.embedders.base import file_sha256

HNSW_THRESHOLD = 250_000
HNSW_M = 32
HNSW_EF_SEARCH = 128


@dataclass(frozen=True)
class Hit:
    work_id: int
    region_id: int
    query_row: int
    similarity: float


class SignalIndex:
    """One FAISS index for one signal key, with the (work, region) each row came from."""

    def __init__(self, kind: str, dim: int) -> None:
        self.kind = kind
        self.dim = dim
        self.work_ids = np.zeros(0, dtype=np.int64)
        self.region_ids = np.zeros(0, dtype=np.int32)
        self.index = self._new_index(0)

    @property
    def type_name(self) -> str:
        return type(self.index).__name__

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def _new_index(self, rows: int) -> Any:
        if self.kind == "hamming":
            return faiss.IndexBinaryFlat(self.dim)
        if rows >= HNSW_THRESHOLD:
            hnsw = faiss.IndexHNSWFlat(self.dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            hnsw.hnsw.efSearch = HNSW_EF_SEARCH
            return hnsw
        return faiss.IndexFlatIP(self.dim)

    def add(self, rows: np.ndarray, work_id: int, region_ids: np.ndarray) -> None:
        self.add_batch(rows, np.full(len(rows), work_id, dtype=np.int64), region_ids)

    def add_batch(self, rows: np.ndarray, work_ids: np.ndarray, region_ids: np.ndarray) -> None:
        if len(rows) == 0:
            return
        if self.kind == "vector" and len(self) < HNSW_THRESHOLD <= len(self) + len(rows):
            # crossing the threshold: move everything into an HNSW graph
            old = self.index.reconstruct_n(0, len(self)) if len(self) else np.zeros((0, self.dim), np.float32)
            self.index = self._new_index(len(self) + len(rows))
            if len(old):
                self.index.add(old)
        self.index.add(np.ascontiguousarray(rows, dtype=np.uint8 if self.kind == "hamming" else np.float32))
        self.work_ids = np.concatenate([self.work_ids, work_ids.astype(np.int64)])
        self.region_ids = np.concatenate([self.region_ids, region_ids.astype(np.int32)])

    def search(self, rows: np.ndarray, k: int) -> list[Hit]:
        """The k nearest rows for each query row, as similarities in [0, 1] (Hamming) or cosines."""
        if len(self) == 0 or len(rows) == 0:
            return []
        k = min(k, len(self))
        if self.kind == "hamming":
            dist, idx = self.index.search(np.ascontiguousarray(rows, dtype=np.uint8), k)
            sims = (1.0 - dist.astype(np.float64) / self.dim).astype(np.float32)
        else:
            sims, idx = self.index.search(np.ascontiguousarray(rows, dtype=np.float32), k)
        hits = []
        for q in range(idx.shape[0]):
            for j in range(idx.shape[1]):
                i = int(idx[q, j])
                if i >= 0:
                    hits.append(Hit(int(self.work_ids[i]), int(self.region_ids[i]), q, float(sims[q, j])))
        return hits

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
        np.savez(ids_tmp, work_ids=self.work_ids, region_ids=self.region_ids)
        _fsync(ids_tmp)
        os.replace(ids_tmp, stem.with_suffix(".ids.npz"))
        os.replace(tmp, stem.with_suffix(".faiss"))
        return file_sha256(stem.with_suffix(".faiss"))

    @classmethod
    def load(cls, stem: Path, kind: str, dim: int) -> SignalIndex:
        out = cls(kind, dim)
        path = str(stem.with_suffix(".faiss"))
        out.index = faiss.read_index_binary(path) if kind == "hamming" else faiss.read_index(path)
        ids = np.load(stem.with_suffix(".ids.npz"))
        out.work_ids, out.region_ids = ids["work_ids"], ids["region_ids"]
        if len(out.work_ids) != len(out):
            raise ValueError(f"{path}: id map has {len(out.work_ids)} rows, index {len(out)}")
        if isinstance(out.index, faiss.IndexHNSWFlat):
            out.index.hnsw.efSearch = HNSW_EF_SEARCH
        return out


def _fsync(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def write_state(path: Path, state: dict[str, object]) -> None:
    """Atomically write the JSON that stamps the index files with the registry generation."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
    _fsync(tmp)
    os.replace(tmp, path)
