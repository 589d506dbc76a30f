"""Retrieval and decision metrics for the evaluation: µAP (DISC21-style), recall@1, recall at a false-alarm
rate, the verdicts' operating point, localisation IoU, and Wilson confidence intervals.

A "prediction" is (query id, work ref, score). Positive queries carry the set of refs they truly copy; negative
queries (distractors) carry none, so every prediction they make is a false alarm.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Query:
    id: str
    truth: frozenset[str]
    """Refs this query copies (empty for a distractor)."""
    ignore: frozenset[str] = frozenset()
    """Refs neither right nor wrong (e.g. the style parent of a stylised photo)."""


Prediction = tuple[str, str, float]


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval for a proportion; (0, 1) when n is 0."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    d = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / d
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    lo = 0.0 if successes == 0 else max(0.0, centre - half)  # exactly 0 and 1 at the ends, not 1e-17 off
    hi = 1.0 if successes == n else min(1.0, centre + half)
    return lo, hi


def micro_ap(queries: Sequence[Query], predictions: Iterable[Prediction]) -> tuple[float, np.ndarray, np.ndarray]:
    """µAP pooled over all queries (DISC21): precision-recall over every prediction ranked by score.

    Returns (µAP, recall curve, precision curve). Predictions of ignored refs are dropped; a query's
    duplicate predictions of one ref count once (its best score).
    """
    by_id = {q.id: q for q in queries}
    best: dict[tuple[str, str], float] = {}
    for qid, ref, score in predictions:
        q = by_id.get(qid)
        if q is None or ref in q.ignore:
            continue
        key = (qid, ref)
        if score > best.get(key, -math.inf):
            best[key] = score
    total = sum(len(q.truth) for q in queries)
    if total == 0:
        return float("nan"), np.zeros(0), np.zeros(0)
    ranked = sorted(best.items(), key=lambda kv: -kv[1])
    hits = np.array([ref in by_id[qid].truth for (qid, ref), _ in ranked], dtype=np.float64)
    if len(hits) == 0:
        return 0.0, np.zeros(0), np.zeros(0)
    tp = np.cumsum(hits)
    precision = tp / np.arange(1, len(hits) + 1)
    recall = tp / total
    ap = float(np.sum(precision * hits) / total)
    return ap, recall, precision


def top_predictions(
    predictions: Iterable[Prediction], ignore: dict[str, frozenset[str]]
) -> dict[str, tuple[str, float]]:
    """Each query's best (ref, score), skipping ignored refs."""
    top: dict[str, tuple[str, float]] = {}
    for qid, ref, score in predictions:
        if ref in ignore.get(qid, frozenset()):
            continue
        if qid not in top or score > top[qid][1]:
            top[qid] = (ref, score)
    return top


def threshold_at_far(negative_top_scores: Sequence[float], far: float) -> float:
    """Smallest score threshold at which at most `far` of the negative queries raise an alarm."""
    s = np.sort(np.asarray(negative_top_scores, dtype=np.float64))[::-1]
    if len(s) == 0:
        return 0.0
    allowed = math.floor(far * len(s))
    if allowed >= len(s):
        return float(s[-1])
    return float(np.nextafter(s[allowed], np.inf))  # strictly above the (allowed+1)-th highest negative


def recall_at(positive: Sequence[Query], predictions: Sequence[Prediction], threshold: float) -> tuple[int, int]:
    """(found, total) of true (query, ref) pairs predicted with score >= threshold."""
    scores: dict[tuple[str, str], float] = {}
    for qid, ref, score in predictions:
        scores[(qid, ref)] = max(score, scores.get((qid, ref), -math.inf))
    total = sum(len(q.truth) for q in positive)
    found = sum(scores.get((q.id, r), -math.inf) >= threshold for q in positive for r in q.truth)
    return found, total


def recall_at_1(positive: Sequence[Query], predictions: Sequence[Prediction]) -> tuple[int, int]:
    """(correct, total): queries whose best-scored ref is one they copy."""
    top = top_predictions(predictions, {q.id: q.ignore for q in positive})
    correct = sum(q.id in top and top[q.id][0] in q.truth for q in positive)
    return correct, len(positive)


def false_alarm_row(threshold: float, negative_top_scores: Sequence[float]) -> dict[str, object]:
    """How many negative queries raise an alarm at `threshold` (their best score reaches it), as a rate with its
    95% Wilson interval: the row a calibration file publishes for each threshold."""
    n = len(negative_top_scores)
    fa = sum(s >= threshold for s in negative_top_scores)
    return {
        "threshold": threshold,
        "negatives": n,
        "false_alarms": fa,
        "false_alarm_rate": fa / max(1, n),
        "false_alarm_ci95": list(wilson(fa, n)),
    }
