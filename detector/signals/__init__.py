"""Signal registry: every signal type Semblance knows, by name. Add a signal here and in its own module."""

from __future__ import annotations

from typing import Any

from detector.embedders import Embedder
from detector.signals.base import Comparison, IndexEntries, Signal
from detector.signals.embedding import EmbeddingSignal
from detector.signals.keypoints import KeypointSignal
from detector.signals.learned_match import LearnedMatchSignal
from detector.signals.pdq import PdqSignal
from detector.signals.phash import PhashSignal

SIGNAL_TYPES: dict[str, type[Signal[Any]]] = {
    PdqSignal.name: PdqSignal,
    PhashSignal.name: PhashSignal,
    EmbeddingSignal.name: EmbeddingSignal,
    KeypointSignal.name: KeypointSignal,
    LearnedMatchSignal.name: LearnedMatchSignal,
}

__all__ = ["SIGNAL_TYPES", "Comparison", "IndexEntries", "Signal", "build_signals"]


def build_signals(embedder: Embedder, disabled: frozenset[str] = frozenset()) -> list[Signal[Any]]:
    """One instance of every registered signal type (minus `disabled`), neural ones bound to `embedder`."""
    out: list[Signal[Any]] = []
    for name, cls in SIGNAL_TYPES.items():
        if name in disabled:
            continue
        out.append(EmbeddingSignal(embedder) if cls is EmbeddingSignal else cls())
    return out
