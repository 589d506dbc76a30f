"""Comparative assessment: two counts, each over its own exposure (listings swept, or days), side by side, with the
change as a ratio and a percentage and whether it is larger than chance.

The interval is the exact conditional one for a ratio of two Poisson rates: given a + b events, a is binomial with
p = a's share of the expected events, so the Clopper-Pearson interval for p maps to one for the rate ratio
(Ederer & Mantel; the test StatsModels and R's `poisson.test` use). It needs no large counts: a supervisor comparing
4 hits with 2 is told the change may be chance, and 3.55-fold on 91 cases against 25 is told it is not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

CONFIDENCE = 0.95
"""Two-sided level of every interval shown to a supervisor: the convention of the statistics they read."""


@dataclass(frozen=True)
class Comparison:
    """`current` against `previous`: counts, exposures, rates, their ratio with its interval, and a verdict."""

    current: int
    current_exposure: float
    previous: int
    previous_exposure: float
    ratio: float
    """Rate ratio current / previous (inf when previous is 0 and current is not; nan when both are 0)."""
    low: float
    high: float
    confidence: float = CONFIDENCE

    @property
    def change_percent(self) -> float:
        return (self.ratio - 1.0) * 100.0

    @property
    def beyond_chance(self) -> bool:
        """Whether the interval excludes 1: the rates differ by more than chance at `confidence`."""
        return self.low > 1.0 or self.high < 1.0

    @property
    def direction(self) -> str:
        """ "rising", "falling" or "no clear change"."""
        if not self.beyond_chance:
            return "no clear change"
        return "rising" if self.low > 1.0 else "falling"

    def to_json(self) -> dict[str, object]:
        def num(x: float) -> float | None:
            return None if math.isnan(x) or math.isinf(x) else round(x, 4)

        return {
            "current": self.current,
            "current_exposure": self.current_exposure,
            "previous": self.previous,
            "previous_exposure": self.previous_exposure,
            "ratio": num(self.ratio),
            "change_percent": num(self.change_percent),
            "interval": [num(self.low), num(self.high)],
            "confidence": self.confidence,
            "beyond_chance": self.beyond_chance,
            "direction": self.direction,
        }


def compare(
    current: int, current_exposure: float, previous: int, previous_exposure: float, confidence: float = CONFIDENCE
) -> Comparison:
    """The rate ratio (current / current_exposure) / (previous / previous_exposure) with its exact interval."""
    if current < 0 or previous < 0 or current_exposure <= 0 or previous_exposure <= 0:
        raise ValueError("counts must be >= 0 and exposures > 0")
    scale = previous_exposure / current_exposure
    n = current + previous
    if n == 0:
        return Comparison(current, current_exposure, previous, previous_exposure, math.nan, 0.0, math.inf, confidence)
    p_low, p_high = share_interval(current, previous, confidence)
    ratio = math.inf if previous == 0 else current / previous * scale
    return Comparison(
        current, current_exposure, previous, previous_exposure, ratio, _odds(p_low) * scale, _odds(p_high) * scale,
        confidence,
    )  # fmt: skip


@lru_cache(maxsize=65536)
def share_interval(current: int, previous: int, confidence: float) -> tuple[float, float]:
    """The Clopper-Pearson interval of current's share of current + previous events. Cached: a supervision page
    compares thousands of rows, most of them with the same few small counts."""
    alpha = 1.0 - confidence
    p_low = 0.0 if current == 0 else beta_quantile(alpha / 2, current, previous + 1)
    p_high = 1.0 if previous == 0 else beta_quantile(1 - alpha / 2, current + 1, previous)
    return p_low, p_high


def _odds(p: float) -> float:
    return math.inf if p >= 1.0 else p / (1.0 - p)


def beta_quantile(q: float, a: float, b: float) -> float:
    """The x with regularised incomplete beta I_x(a, b) = q, by bisection (I is monotone in x; 50 halvings leave
    the bracket under 1e-15 wide)."""
    lo, hi = 0.0, 1.0
    for _ in range(50):
        mid = (lo + hi) / 2
        if incomplete_beta(mid, a, b) < q:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def incomplete_beta(x: float, a: float, b: float) -> float:
    """The regularised incomplete beta function I_x(a, b), by its continued fraction (modified Lentz; Numerical
    Recipes 6.4), using the symmetry I_x(a, b) = 1 - I_{1-x}(b, a) where the fraction converges slowly."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x > (a + 1) / (a + b + 2):
        return 1.0 - incomplete_beta(1.0 - x, b, a)
    return math.exp(log_front) * _beta_fraction(x, a, b) / a


def _beta_fraction(x: float, a: float, b: float) -> float:
    tiny, eps = 1e-300, 1e-15
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < eps:
            break
    return h


def bound(x: float) -> str:
    """An interval's bound, or a ratio, with the digits that matter to a reader: 0.072, 1.47, 14.2, 350."""
    return f"{x:.0f}" if x >= 100 else f"{x:.1f}" if x >= 10 else f"{x:.2f}" if x >= 0.1 else f"{x:.2g}"
