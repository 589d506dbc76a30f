"""The evaluation's metrics on small cases worked out by hand: the numbers behind every published error rate."""

from __future__ import annotations

import pytest

from detector.calibration import metrics as M


def test_micro_ap_pools_every_prediction_and_skips_ignored_refs() -> None:
    queries = [
        M.Query("q1", frozenset({"a"})),
        M.Query("q2", frozenset({"b"}), frozenset({"s"})),
        M.Query("n", frozenset()),
    ]
    preds = [
        ("q1", "a", 0.9),  # hit: precision 1/1
        ("n", "a", 0.8),  # false alarm
        ("q2", "s", 0.85),  # ignored (style parent): neither right nor wrong
        ("q2", "b", 0.7),  # hit: precision 2/3
        ("q1", "a", 0.1),  # duplicate of a pair: counts once, at its best score
    ]
    ap, recall, precision = M.micro_ap(queries, preds)
    assert ap == pytest.approx((1.0 + 2 / 3) / 2)
    assert list(recall) == pytest.approx([0.5, 0.5, 1.0])
    assert list(precision) == pytest.approx([1.0, 0.5, 2 / 3])


def test_threshold_at_far_allows_exactly_the_stated_share_of_alarms() -> None:
    tops = [0.1 * i for i in range(1000)]  # 1000 negative queries, best scores 0.0 .. 99.9
    t = M.threshold_at_far(tops, 0.01)
    assert sum(s >= t for s in tops) == 10
    t0 = M.threshold_at_far(tops, 0.001)
    assert sum(s >= t0 for s in tops) == 1
    assert sum(s >= M.threshold_at_far(tops[:500], 0.001) for s in tops[:500]) == 0  # 0.5 allowed rounds down


def test_recall_at_and_recall_at_1() -> None:
    pos = [M.Query("q1", frozenset({"a"})), M.Query("q2", frozenset({"b", "c"}))]
    preds = [("q1", "a", 0.9), ("q1", "x", 0.95), ("q2", "b", 0.6), ("q2", "c", 0.4)]
    assert M.recall_at(pos, preds, 0.5) == (2, 3)
    assert M.recall_at_1(pos, preds) == (1, 2)  # q1's best is a wrong work


def test_wilson_interval_matches_the_textbook_values() -> None:
    lo, hi = M.wilson(0, 1099)
    assert lo == 0.0 and hi == pytest.approx(0.00348, abs=1e-4)
    lo, hi = M.wilson(64, 80)
    assert (lo, hi) == (pytest.approx(0.6999, abs=1e-3), pytest.approx(0.8730, abs=1e-3))
    assert M.wilson(0, 0) == (0.0, 1.0)


def test_the_written_threshold_never_admits_a_negative_the_chosen_one_kept_out() -> None:
    """thresholds.toml holds 4 decimals: rounding to nearest could fall below the (allowed+1)-th negative."""
    import numpy as np

    from detector.calibration.fit import written_threshold

    rng = np.random.default_rng(3)
    for _ in range(500):
        tops = list(np.round(rng.uniform(0.3, 0.95, 565), int(rng.integers(4, 8))))
        chosen = M.threshold_at_far(tops, 0.01)
        written = written_threshold(chosen)
        assert chosen <= written <= chosen + 1e-4 + 1e-12
        assert sum(t >= written for t in tops) <= 5  # floor(1% of 565)
