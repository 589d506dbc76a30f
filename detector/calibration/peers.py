"""The peers Semblance is compared with, each run alone and brute force over every registered work: pHash, PDQ at
its standard threshold, the embedder's global descriptor, and that descriptor with DISC21 score normalisation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from detector.background import BackgroundSet
from detector.calibration import metrics as M
from detector.calibration.cases import QueryCase
from detector.embedders import Embedder
from detector.intake import decode_image
from detector.signals.embedding import EmbeddingSignal
from detector.signals.pdq import PdqSignal
from detector.signals.phash import PhashSignal

PEER_PREFIXES = ("pHash", "PDQ", "global ")
"""Methods that are peers (run alone, brute force), not ablations of Semblance."""
QUERY_NORMALISATION_TOP = 3
"""DISC21-style score normalisation of the global-descriptor peer: a query's similarities minus the mean of its 3
highest similarities to the background set (the setting fixed in advance in the engine issue's comparison)."""


def peer_scores(
    cases: Sequence[QueryCase], originals: dict[str, bytes], emb: Embedder, background: BackgroundSet | None
) -> dict[str, list[M.Prediction]]:
    """Peers run on their own, brute force over every registered work: pHash, PDQ, the embedder's global
    descriptor alone, and that descriptor with DISC21 query normalisation against the background set."""
    ph, pdq = PhashSignal(), PdqSignal()
    refs = sorted(originals)
    dec = {r: decode_image(originals[r], r) for r in refs}
    ref_ph = np.stack([ph.compute(dec[r]) for r in refs])
    ref_pdq = np.stack([pdq.compute(dec[r]).hashes[0] for r in refs])
    ref_emb = np.stack([emb.global_vector(dec[r].rgb) for r in refs])
    key = f"embedding:{emb.id}"
    bg_emb = None
    if background is not None and key in background.descriptors:
        sig = EmbeddingSignal(emb)
        bg_emb = np.stack([sig.from_bytes(b).features.vectors[0] for b in background.descriptors[key]])
    glob, norm = f"global {emb.id}", f"global {emb.id} + normalisation"
    preds: dict[str, list[M.Prediction]] = {"pHash": [], "PDQ (t=31)": [], glob: []}
    if bg_emb is not None:
        preds[norm] = []
    for c in cases:
        img = decode_image(c.data, c.id)
        q_ph = ph.compute(img)
        d_ph = np.unpackbits(ref_ph ^ q_ph, axis=1).sum(1)
        q_pdq = pdq.compute(img).hashes
        d_pdq = np.unpackbits(q_pdq[:, None, :] ^ ref_pdq[None], axis=2).sum(2).min(0)
        q = emb.global_vector(img.rgb)
        sims = ref_emb @ q
        offset = float(np.sort(bg_emb @ q)[-QUERY_NORMALISATION_TOP:].mean()) if bg_emb is not None else 0.0
        for j, r in enumerate(refs):
            preds["pHash"].append((c.id, r, 1 - d_ph[j] / 64))
            if d_pdq[j] <= 31:  # PDQ at its standard threshold: a match or nothing
                preds["PDQ (t=31)"].append((c.id, r, 1 - d_pdq[j] / 256))
            preds[glob].append((c.id, r, float(sims[j])))
            if bg_emb is not None:
                preds[norm].append((c.id, r, float(sims[j]) - offset))
    return preds
