"""Re-uploads of one image within a sweep: each image's group is that of the nearest earlier image whose PDQ hash is
within NEAR_DUPLICATE_BITS, else its own.

Comparing a hash with every earlier one costs a sweep O(n^2): at a million images each lookup reads 32 MB. This
index is exact multi-index hashing (Norouzi et al., "Fast exact search in Hamming space with multi-index hashing",
TPAMI 2014): the 256 bits are cut into NEAR_DUPLICATE_BITS + 1 chunks, and two hashes at most that many bits apart
agree exactly on at least one chunk (pigeonhole), so only the images sharing a chunk with the query are compared.
The chunks are kept as sorted arrays in levels that merge as they grow (a binary counter: O(log n) levels, each
image re-sorted O(log n) times), and a batch of images is looked up with a few vectorised searches per level.
Memory: about 150 bytes an image (1.5 GB at ten million, 15 GB at a hundred million).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

NEAR_DUPLICATE_BITS = 10
"""PDQ bits apart at most for two images to count as one re-uploaded image: re-encoding and resizing move a PDQ
hash a few bits, different pictures are ~128 apart, and PDQ's own 'same picture' line (31) also admits heavy edits,
which are findings in their own right, not re-uploads."""

_CHUNK_BITS = (24,) * 3 + (23,) * 8
"""256 bits in NEAR_DUPLICATE_BITS + 1 chunks (any cut into that many parts is exact; even ones keep buckets small)."""
assert sum(_CHUNK_BITS) == 256 and len(_CHUNK_BITS) == NEAR_DUPLICATE_BITS + 1


def _chunk_keys(hashes: np.ndarray) -> np.ndarray:
    """(n, 32) uint8 hashes -> (n, chunks) uint32: each chunk's bits as an integer (read from the four bytes that
    hold it, big-endian, shifted and masked)."""
    padded = np.zeros((len(hashes), 35), dtype=np.uint32)
    padded[:, :32] = hashes
    out = np.empty((len(hashes), len(_CHUNK_BITS)), dtype=np.uint32)
    start = 0
    for c, width in enumerate(_CHUNK_BITS):
        b = start // 8
        word = (padded[:, b] << 24) | (padded[:, b + 1] << 16) | (padded[:, b + 2] << 8) | padded[:, b + 3]
        out[:, c] = (word >> np.uint32(32 - start % 8 - width)) & np.uint32((1 << width) - 1)
        start += width
    return out


@dataclass
class _Level:
    """Images start..end-1, each chunk's keys sorted, with the positions they belong to."""

    start: int
    end: int
    keys: list[np.ndarray]
    positions: list[np.ndarray]


class NearDuplicates:
    """PDQ hashes seen so far in a run, each with its group (the SHA-256 of the group's first image)."""

    def __init__(self) -> None:
        self._hashes = np.zeros((1024, 32), dtype=np.uint8)  # grown by doubling
        self._groups = np.zeros((1024, 32), dtype=np.uint8)  # each image's group, as SHA-256 bytes
        self._n = 0
        self._levels: list[_Level] = []

    def __len__(self) -> int:
        return self._n

    def assign(self, images: Sequence[tuple[str, str]]) -> list[tuple[str, bool]]:
        """For each (PDQ hex or '', SHA-256 hex) in order: the group of the nearest earlier image within
        NEAR_DUPLICATE_BITS (earlier ones of the same batch included; the first seen wins a tie) and True, else
        its own SHA-256 and False. Then remembers those that have a PDQ hash."""
        with_pdq = [i for i, (pdq, _) in enumerate(images) if pdq]
        out = [(sha, False) for _, sha in images]
        if not with_pdq:
            return out
        query = np.frombuffer(b"".join(bytes.fromhex(images[i][0]) for i in with_pdq), np.uint8).reshape(-1, 32)
        keys = _chunk_keys(query)
        best = self._best_earlier(query, keys)  # per query: (distance, position) among earlier batches, or none
        within = self._pairs_within(query, keys)  # per query: [(distance, index in batch)] of earlier ones here
        groups = np.frombuffer(b"".join(bytes.fromhex(images[i][1]) for i in with_pdq), np.uint8).reshape(-1, 32)
        groups = groups.copy()
        base = self._n
        for j, i in enumerate(with_pdq):
            found = best.get(j)
            for distance, k in within.get(j, ()):
                if found is None or (distance, base + k) < found:
                    found = (distance, base + k)
            if found is not None:
                position = found[1]
                groups[j] = groups[position - base] if position >= base else self._groups[position]
                out[i] = (groups[j].tobytes().hex(), True)
        self._append(query, groups, keys)
        return out

    def extend(self, images: Iterable[tuple[str, str]]) -> None:
        """Remember (PDQ hex, group SHA-256 hex) pairs already assigned (a resumed run's), without looking up."""
        pairs = [(pdq, group) for pdq, group in images if pdq]
        for start in range(0, len(pairs), 65536):
            part = pairs[start : start + 65536]
            hashes = np.frombuffer(b"".join(bytes.fromhex(p) for p, _ in part), np.uint8).reshape(-1, 32)
            groups = np.frombuffer(b"".join(bytes.fromhex(g) for _, g in part), np.uint8).reshape(-1, 32)
            self._append(hashes, groups.copy(), _chunk_keys(hashes))

    # -- the index ---------------------------------------------------------------------------------------------------
    def _best_earlier(self, query: np.ndarray, keys: np.ndarray) -> dict[int, tuple[int, int]]:
        """The nearest earlier image within the bound for each query row, as (distance, position)."""
        rows, positions = [], []
        needles = [np.argsort(keys[:, c]) for c in range(keys.shape[1])]  # sorted needles search faster
        for level in self._levels:
            for c, by_key in enumerate(needles):
                wanted = keys[by_key, c]
                lo = np.searchsorted(level.keys[c], wanted, side="left")
                hi = np.searchsorted(level.keys[c], wanted, side="right")
                counts = hi - lo
                total = int(counts.sum())
                if not total:
                    continue
                row = np.repeat(by_key, counts)
                offset = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts) + np.repeat(lo, counts)
                rows.append(row)
                positions.append(level.positions[c][offset])
        if not rows:
            return {}
        row, position = np.concatenate(rows), np.concatenate(positions)
        distance = _distances(self._hashes[position], query[row])
        keep = distance <= NEAR_DUPLICATE_BITS
        row, position, distance = row[keep], position[keep], distance[keep]
        order = np.lexsort((position, distance, row))
        row, position, distance = row[order], position[order], distance[order]
        first = np.flatnonzero(np.r_[True, row[1:] != row[:-1]]) if len(row) else row
        return {int(row[f]): (int(distance[f]), int(position[f])) for f in first}

    @staticmethod
    def _pairs_within(query: np.ndarray, keys: np.ndarray) -> dict[int, list[tuple[int, int]]]:
        """For each query row, the earlier rows of the same batch within the bound, as (distance, row)."""
        pairs: set[tuple[int, int]] = set()
        for c in range(keys.shape[1]):
            order = np.argsort(keys[:, c], kind="stable")
            sorted_keys = keys[order, c]
            starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
            ends = np.r_[starts[1:], len(order)]
            for s, e in zip(starts[ends - starts > 1], ends[ends - starts > 1], strict=True):
                members = sorted(order[s:e].tolist())
                pairs.update((a, b) for n, a in enumerate(members) for b in members[n + 1 :])
        out: dict[int, list[tuple[int, int]]] = {}
        if pairs:
            earlier, later = np.array(sorted(pairs)).T
            distance = _distances(query[earlier], query[later])
            for a, b, d in zip(earlier.tolist(), later.tolist(), distance.tolist(), strict=True):
                if d <= NEAR_DUPLICATE_BITS:
                    out.setdefault(b, []).append((d, a))
        return out

    def _append(self, hashes: np.ndarray, groups: np.ndarray, keys: np.ndarray) -> None:
        n, m = self._n, len(hashes)
        while n + m > len(self._hashes):
            self._hashes = np.vstack([self._hashes, np.zeros_like(self._hashes)])
            self._groups = np.vstack([self._groups, np.zeros_like(self._groups)])
        self._hashes[n : n + m] = hashes
        self._groups[n : n + m] = groups
        self._n = n + m
        self._levels.append(_level(n, n + m, keys))
        while len(self._levels) > 1 and self._size(-2) <= 2 * self._size(-1):
            top, below = self._levels.pop(), self._levels.pop()
            self._levels.append(_merged(below, top))

    def _size(self, i: int) -> int:
        return self._levels[i].end - self._levels[i].start


def _level(start: int, end: int, keys: np.ndarray) -> _Level:
    orders = [np.argsort(keys[:, c], kind="stable") for c in range(keys.shape[1])]
    return _Level(
        start,
        end,
        [keys[o, c] for c, o in enumerate(orders)],
        [(o + start).astype(np.int32) for o in orders],  # positions < 2^31: 100M images fit,
    )


def _merged(below: _Level, top: _Level) -> _Level:
    """Two adjacent levels as one: each chunk's two sorted runs merged (a stable sort of two runs is a merge)."""
    keys, positions = [], []
    for c in range(len(_CHUNK_BITS)):
        joined = np.concatenate([below.keys[c], top.keys[c]])
        order = np.argsort(joined, kind="stable")
        keys.append(joined[order])
        positions.append(np.concatenate([below.positions[c], top.positions[c]])[order])
    return _Level(below.start, top.end, keys, positions)


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamming distances between rows of two (n, 32) uint8 arrays."""
    return np.bitwise_count(np.bitwise_xor(a.view(np.uint64), b.view(np.uint64))).sum(axis=1).astype(np.int64)
