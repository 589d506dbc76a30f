"""The search index: exact while small, trained into compressed codes past a size, incremental, measured, saved
and loaded with its training, and retrained when its recall drops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index import search_index as S
from index.search_index import SignalIndex


def clustered(n: int, dim: int, seed: int) -> np.ndarray:
    """Unit vectors around 64 centres with a decaying spectrum, like embeddings of related pictures."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(64, dim)) * np.linspace(1.0, 0.1, dim)
    x = centres[rng.integers(0, 64, n)] + 0.3 * rng.normal(size=(n, dim)) * np.linspace(1.0, 0.1, dim)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_a_vector_index_turns_compact_past_its_threshold_and_still_finds_its_rows(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(S, "COMPACT_ROWS", 12_000)
    rows = clustered(16_000, 64, seed=1)
    idx = SignalIndex("vector", 64)
    idx.add_batch(rows[:8_000], np.arange(8_000) // 4, np.arange(8_000) % 4)
    assert not idx.compact and idx.type_name == "IndexFlatIP"
    exact = idx.search(rows[:3], 5)
    assert next(h.work_id for h in exact if h.query_row == 0) == 0
    assert exact[0].similarity == pytest.approx(1.0, abs=1e-5)

    idx.add_batch(rows[8_000:], np.arange(8_000, 16_000) // 4, np.arange(8_000, 16_000) % 4)  # crosses: trained
    assert idx.compact and idx.type_name == "PCA64,IVF512,SQ4" and len(idx) == 16_000
    probe = np.arange(0, 16_000, 97)
    assert idx.self_recall(rows[probe], probe) >= 0.95
    assert idx.memory_bytes() / (16_000 / 4) < 2048  # per work of 4 rows, against 1 KB of float32 rows

    more = clustered(400, 64, seed=2)  # added incrementally, without training again
    idx.add_batch(more, np.full(400, 99_999), np.zeros(400))
    assert idx.training is not None and idx.training.trained_rows == 16_000
    hits = idx.search(more[:5], 10)
    for q in range(5):
        assert 99_999 in {h.work_id for h in hits if h.query_row == q}

    stem = tmp_path / "embedding"
    idx.save(stem)
    again = SignalIndex.load(stem, "vector", 64)
    assert again.compact and again.type_name == idx.type_name and len(again) == len(idx)
    assert [(h.work_id, h.region_id) for h in again.search(rows[:4], 5)] == [
        (h.work_id, h.region_id) for h in idx.search(rows[:4], 5)
    ]


def test_a_compact_index_is_retrained_when_it_outgrows_its_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(S, "COMPACT_ROWS", 10_000)
    idx = SignalIndex("vector", 32)
    rows = clustered(10_000, 32, seed=3)
    idx.add_batch(rows, np.arange(10_000), np.zeros(10_000))
    probe = np.arange(0, 10_000, 50)
    idx.note_recall(rows[probe], probe)
    assert idx.training is not None and not idx.needs_training() and not idx.recall_stale()
    assert idx.training.trained_recall == idx.training.self_recall  # the level later measurements are held to
    idx.training.self_recall = idx.training.trained_recall - 0.05  # as a drifted registry would measure
    assert idx.needs_training()
    idx.training.self_recall = idx.training.trained_recall
    idx.add_batch(clustered(10_000 * S.REGROW, 32, seed=5), np.arange(10_000 * S.REGROW), np.zeros(10_000 * S.REGROW))
    assert idx.needs_training()  # outgrew its lists


def test_the_streaming_build_gives_the_same_rows_as_adding_them() -> None:
    rows = clustered(3_000, 16, seed=4)
    parts = [rows[i : i + 700] for i in range(0, 3_000, 700)]
    starts = np.cumsum([0] + [len(p) for p in parts])
    chunks = [(p, np.arange(s, s + len(p)), np.zeros(len(p))) for p, s in zip(parts, starts, strict=False)]
    built = SignalIndex.build("vector", 16, lambda: iter(chunks))
    assert not built.compact and len(built) == 3_000 and built.work_ids.tolist() == list(range(3_000))
    total, sample = S._reservoir(iter(chunks), 1_000)
    assert total == 3_000 and sample.shape == (1_000, 16)


def test_the_saved_index_is_versioned_hashed_and_vouched_for_by_the_registry(tmp_path: Path) -> None:
    """What a report quotes as the index that answered: the saved files' format, generation and SHA-256, which the
    registry records too."""
    import json

    from index.search_index import INDEX_FORMAT, file_sha256
    from service.engine import Engine, WorkMetadata
    from service.inputs import InputItem

    demo = Path(__file__).resolve().parents[1] / "samples" / "demo" / "originals"
    engine = Engine.init(str(tmp_path / "ws"), ["effnet-lite0"])
    try:
        works = sorted(demo.glob("*.jpg"))
        engine.register_many([(InputItem(str(p), reader=p.read_bytes), WorkMetadata(ref=p.stem)) for p in works])
        described = engine.workspace.index_description()
        recorded = json.loads(engine.workspace.registry.get_meta("index_state") or "{}")
    finally:
        engine.close()
    assert described["format"] == INDEX_FORMAT and described["generation"] == len(works)
    files = described["files"]
    assert isinstance(files, dict) and set(files) == {"embedding:effnet-lite0", "pdq", "phash"}
    for key, digest in files.items():
        stems = [p for p in (tmp_path / "ws" / "index").glob("*.faiss") if file_sha256(p) == digest]
        assert len(stems) == 1, key
    assert recorded["files"] == files and recorded["generation"] == len(works)
