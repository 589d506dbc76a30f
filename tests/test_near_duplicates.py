"""The sweep's near-duplicate index (service/sweep/near_duplicates.py) gives exactly the groups of comparing each
image with every earlier one, whatever the batches, on hashes with planted re-uploads at every distance."""

from __future__ import annotations

import numpy as np
import pytest

from service.sweep.near_duplicates import NEAR_DUPLICATE_BITS, NearDuplicates


def brute_force(images: list[tuple[str, str]]) -> list[tuple[str, bool]]:
    """The definition: the nearest earlier hash within the bound (the first seen on a tie), else its own group."""
    seen: list[tuple[int, str]] = []
    out = []
    for pdq, sha in images:
        if not pdq:
            out.append((sha, False))
            continue
        h = int(pdq, 16)
        best = min(((bin(h ^ g).count("1"), i) for i, (g, _) in enumerate(seen)), default=None)
        if best is not None and best[0] <= NEAR_DUPLICATE_BITS:
            out.append((seen[best[1]][1], True))
        else:
            out.append((sha, False))
        seen.append((h, out[-1][0]))
    return out


def planted(n: int, seed: int) -> list[tuple[str, str]]:
    """Random hashes, a third of them re-uploads of an earlier one with 0 to 14 bits flipped, some without PDQ."""
    rng = np.random.default_rng(seed)
    hashes: list[np.ndarray] = []
    images = []
    for i in range(n):
        if hashes and rng.random() < 0.35:
            h = hashes[int(rng.integers(len(hashes)))].copy()
            flip = rng.choice(256, size=int(rng.integers(0, 15)), replace=False)
            bits = np.unpackbits(h)
            bits[flip] ^= 1
            h = np.packbits(bits)
        else:
            h = rng.integers(0, 256, 32, dtype=np.uint8)
        hashes.append(h)
        sha = f"{i:064x}"
        images.append(("" if rng.random() < 0.05 else h.tobytes().hex(), sha))
    return images


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_groups_are_those_of_comparing_with_every_earlier_image(seed: int) -> None:
    images = planted(1500, seed)
    want = brute_force(images)
    rng = np.random.default_rng(seed + 100)
    index, got, start = NearDuplicates(), [], 0
    while start < len(images):  # batches of every size, one image at a time included
        size = int(rng.choice([1, 1, 2, 7, 50, 300]))
        got += index.assign(images[start : start + size])
        start += size
    assert got == want
    assert sum(near for _, near in want) > 300  # the planted re-uploads were found, at many distances


def test_a_resumed_run_remembers_the_groups_assigned_before() -> None:
    images = planted(600, 7)
    want = brute_force(images)
    first = NearDuplicates()
    before = first.assign(images[:400])
    resumed = NearDuplicates()
    resumed.extend((pdq, group) for (pdq, _), (group, _) in zip(images[:400], before, strict=True))
    assert before + resumed.assign(images[400:]) == want
