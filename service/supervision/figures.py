"""The supervision figures, as pure functions over rows (service.store.supervision): rankings of regions,
marketplaces, categories, rights holders and entities; monthly trends; entities that link seller accounts.

Every count says what it counts. Sweeps count **hit listings** (listings with an image matching a registered work
as `copy` or `derivative`) over **swept listings** (listings with an image seen in the period: the denominator, so
a heavily swept region does not look riskier for being swept), each listing once per month it was seen; cases from
seized devices count **hit findings** (suspect images), under the case's region, and have no denominator. Each row keeps
the findings behind it, and its comparison with another period (service.supervision.rates).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

from detector.calibration.metrics import wilson
from service.store.supervision import Hit, Period, Seller, Swept
from service.supervision.rates import Comparison, compare

DIMENSIONS = ("province", "region", "marketplace", "category", "rights_holder", "entity", "verdict")
"""What a ranking or a trend can be broken down by. `region` is the most precise division placed (a prefecture,
else its province)."""
BY_PLACE = frozenset({"province", "region", "marketplace"})
"""Dimensions a listing belongs to: their denominator is the listings swept there. A category, rights holder,
entity or verdict belongs to a work or a finding, so its denominator is every listing swept in the scope."""
UNPLACED = ""
"""Key of hits whose listing or case names no region that could be placed."""
PLACEHOLDERS = {
    "uncategorised": ("no category given", "未分类"),
    "(none given)": ("no rights holder given", "未注明权利人"),
    "(case)": ("cases (seized devices)", "案件（扣押设备）"),
}
"""Keys of hits that have no category, rights holder or marketplace, and how they read (English, Chinese)."""
EVIDENCE_PER_ROW = 20
"""Finding ids kept with each row (the evidence endpoint lists them all)."""
LINK_KINDS = ("licence", "contact", "payment", "image")
"""Why two accounts are one entity: the same business licence, contact, payment account, or infringing image."""


@dataclass(frozen=True)
class WorkFacts:
    """What supervision needs of a registered work."""

    categories: tuple[str, ...]
    rights_holder: str


@dataclass(frozen=True)
class Scope:
    """The filters of a supervision query: a period, and optionally a marketplace, a region (a province's or a
    prefecture's code) and a category."""

    period: Period
    marketplace: str = ""
    region: str = ""
    category: str = ""

    def admits(self, hit: Hit, works: Mapping[str, WorkFacts]) -> bool:
        if self.region and self.region not in (hit.province_code, hit.region_code):
            return False
        facts = works.get(hit.ref)
        return not self.category or (facts is not None and self.category in facts.categories)

    def admits_swept(self, row: Swept) -> bool:
        return not self.region or self.region in (row.province_code, row.region_code)


@dataclass
class Entity:
    """Seller accounts linked into one operator, and why."""

    entity_id: str
    seller_ids: list[int]
    links: list[dict[str, object]] = field(default_factory=list)


@dataclass
class RankRow:
    key: str
    hit_listings: int
    hit_findings: int
    """Case findings (seized devices): suspect images, no denominator."""
    works: int
    sellers: int
    swept_listings: int
    previous_hit_listings: int
    previous_hit_findings: int
    previous_swept_listings: int
    comparison: Comparison | None
    findings: list[int]

    @property
    def share(self) -> float | None:
        return self.hit_listings / self.swept_listings if self.swept_listings else None

    def to_json(self) -> dict[str, object]:
        low, high = wilson(self.hit_listings, self.swept_listings) if self.swept_listings else (None, None)
        return {
            "key": self.key,
            "hit_listings": self.hit_listings,
            "hit_findings": self.hit_findings,
            "works": self.works,
            "sellers": self.sellers,
            "swept_listings": self.swept_listings,
            "share": None if self.share is None else round(self.share, 6),
            "share_interval": None if low is None or high is None else [round(low, 6), round(high, 6)],
            "previous": {
                "hit_listings": self.previous_hit_listings,
                "hit_findings": self.previous_hit_findings,
                "swept_listings": self.previous_swept_listings,
            },
            "comparison": None if self.comparison is None else self.comparison.to_json(),
            "findings": self.findings,
        }


def previous_period(period: Period) -> Period:
    """The period just before `period`: as many calendar months for a period of whole months (November against
    October, a quarter against the quarter before), else as many days."""
    start, end = date.fromisoformat(period.start), date.fromisoformat(period.end)
    if start.day == 1 and end.day == 1:
        span = (end.year - start.year) * 12 + end.month - start.month
        return Period(month_start(start, -span).isoformat(), period.start)
    return Period((start - (end - start)).isoformat(), period.start)


def month_start(day: date, months: int) -> date:
    """The first day of the month `months` after `day`'s (before it, when negative)."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def days(period: Period) -> int:
    return (date.fromisoformat(period.end) - date.fromisoformat(period.start)).days


def keys_of(hit: Hit, dimension: str, works: Mapping[str, WorkFacts], entity_of: Mapping[int, str]) -> tuple[str, ...]:
    """The keys a hit counts under in `dimension` (a work in two categories counts in both)."""
    facts = works.get(hit.ref)
    if dimension in ("province", "region"):
        return (place_key(dimension, hit.province_code, hit.region_code),)
    if dimension == "marketplace":
        return (hit.marketplace or "(case)",)
    if dimension == "category":
        return (facts.categories or ("uncategorised",)) if facts else ("uncategorised",)
    if dimension == "rights_holder":
        return ((facts.rights_holder if facts else "") or "(none given)",)
    if dimension == "entity":
        return (entity_of.get(hit.seller_id, ""),) if hit.seller_id is not None else ()
    if dimension == "verdict":
        return (hit.verdict,)
    raise ValueError(f"no dimension {dimension!r}: one of {', '.join(DIMENSIONS)}")


def swept_keys(row: Swept, dimension: str) -> str:
    """The key listings swept count under in a place dimension (BY_PLACE)."""
    if dimension in ("province", "region"):
        return place_key(dimension, row.province_code, row.region_code)
    return row.marketplace


def place_key(dimension: str, province_code: str, region_code: str) -> str:
    """A place's key: its province, or for `region` the most precise division placed; UNPLACED when none. Hits and
    listings swept are keyed by this one rule, so every count meets its own denominator."""
    if dimension == "province":
        return province_code or UNPLACED
    return region_code or province_code or UNPLACED


@dataclass
class Tally:
    """What a set of hits amounts to: the listing-months and case findings hit, the findings, works and sellers."""

    listings: set[tuple[int, str]] = field(default_factory=set)
    findings: set[int] = field(default_factory=set)
    case_findings: set[int] = field(default_factory=set)
    refs: set[str] = field(default_factory=set)
    sellers: set[int] = field(default_factory=set)

    @classmethod
    def of(cls, hits: Iterable[Hit]) -> Tally:
        tally = cls()
        for hit in hits:
            tally.add(hit)
        return tally

    def add(self, hit: Hit) -> None:
        self.findings.add(hit.finding_id)
        self.refs.add(hit.ref)
        if hit.listing_month is not None:
            self.listings.add(hit.listing_month)
        else:
            self.case_findings.add(hit.finding_id)
        if hit.seller_id is not None:
            self.sellers.add(hit.seller_id)


def tally(
    hits: Iterable[Hit], dimension: str, works: Mapping[str, WorkFacts], entity_of: Mapping[int, str]
) -> dict[str, Tally]:
    out: dict[str, Tally] = defaultdict(Tally)
    for hit in hits:
        for key in keys_of(hit, dimension, works, entity_of):
            if key or dimension != "entity":
                out[key].add(hit)
    return out


def denominators(swept: Iterable[Swept], dimension: str) -> tuple[dict[str, int], int]:
    """(listings swept per key of a place dimension, listings swept in all)."""
    per: Counter[str] = Counter()
    total = 0
    for row in swept:
        total += row.listings
        if dimension in BY_PLACE:
            per[swept_keys(row, dimension)] += row.listings
    return dict(per), total


def ranking(
    dimension: str,
    current: tuple[list[Hit], list[Swept], Period],
    previous: tuple[list[Hit], list[Swept], Period],
    works: Mapping[str, WorkFacts],
    entity_of: Mapping[int, str],
    sort: str = "hit_listings",
) -> list[RankRow]:
    """Each key of `dimension` with its figures in the current period and the previous one, and their comparison:
    as rates over swept listings where there are sweeps, as rates per day for case findings alone; ordered by
    `sort` (SORTS)."""
    now, now_swept = tally(current[0], dimension, works, entity_of), denominators(current[1], dimension)
    before, before_swept = tally(previous[0], dimension, works, entity_of), denominators(previous[1], dimension)
    rows = []
    for key in now.keys() | before.keys():  # a key with hits before and none now is the clearest fall
        t, b = now.get(key, Tally()), before.get(key, Tally())
        swept = now_swept[0].get(key, 0) if dimension in BY_PLACE else now_swept[1]
        swept_before = before_swept[0].get(key, 0) if dimension in BY_PLACE else before_swept[1]
        comparison = None
        if (t.listings or b.listings) and swept and swept_before:
            comparison = compare(len(t.listings), swept, len(b.listings), swept_before)
        elif not t.listings and (t.case_findings or b.case_findings):
            comparison = compare(len(t.case_findings), days(current[2]), len(b.case_findings), days(previous[2]))
        rows.append(
            RankRow(
                key=key,
                hit_listings=len(t.listings),
                hit_findings=len(t.case_findings),
                works=len(t.refs),
                sellers=len(t.sellers),
                swept_listings=swept,
                previous_hit_listings=len(b.listings),
                previous_hit_findings=len(b.case_findings),
                previous_swept_listings=swept_before,
                comparison=comparison,
                findings=sorted(t.findings)[:EVIDENCE_PER_ROW],
            )
        )
    rows.sort(key=SORTS[sort])
    return rows


SORTS: dict[str, Callable[[RankRow], tuple[Any, ...]]] = {
    "hit_listings": lambda r: (-r.hit_listings, -r.hit_findings, -r.works, r.key),
    "works": lambda r: (-r.works, -r.hit_listings, r.key),
    "sellers": lambda r: (-r.sellers, -r.hit_listings, r.key),
    "share": lambda r: (-(r.share or 0.0), -r.hit_listings, r.key),
    "change": lambda r: (
        -(r.comparison.low if r.comparison and r.comparison.beyond_chance else 0.0),
        -r.hit_listings,
        r.key,
    ),
}
"""How rankings may be ordered: by infringing listings (the default), distinct works, distinct sellers, share of
listings swept, or rise (the lower bound of the rate ratio's interval, so a rise beyond chance ranks first and a
large ratio on two hits does not)."""


def months(period: Period) -> list[str]:
    """The months a period touches ("2026-09", ...)."""
    start, end = date.fromisoformat(period.start), date.fromisoformat(period.end) - timedelta(days=1)
    out, y, m = [], start.year, start.month
    while (y, m) <= (end.year, end.month):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def trend(
    hits: Iterable[Hit],
    dimension: str,
    period: Period,
    works: Mapping[str, WorkFacts],
    entity_of: Mapping[int, str],
    top: int = 6,
) -> dict[str, object]:
    """Monthly hits (hit listings plus hit findings) for the `top` keys of `dimension`, the rest as "other"."""
    axis = months(period)
    per: dict[str, Counter[str]] = defaultdict(Counter)
    seen: dict[tuple[str, str], set[tuple[str, int]]] = defaultdict(set)
    for hit in hits:
        month = hit.seen_at[:7]
        unit = ("listing", hit.listing_id) if hit.listing_id is not None else ("finding", hit.finding_id)
        for key in keys_of(hit, dimension, works, entity_of):
            if unit not in seen[key, month]:
                seen[key, month].add(unit)
                per[key][month] += 1
    ranked = sorted(per, key=lambda k: (-sum(per[k].values()), k))
    series = {k: [per[k][m] for m in axis] for k in ranked[:top]}
    if len(ranked) > top:
        series["other"] = [sum(per[k][m] for k in ranked[top:]) for m in axis]
    return {"months": axis, "series": series}


def link_entities(
    identifier_links: Iterable[tuple[str, str, list[int]]], image_links: Iterable[tuple[str, list[int]]]
) -> list[Entity]:
    """Seller accounts joined into entities wherever they share a licence, a contact, a payment account or an
    infringing image (union-find); each entity keeps every link that joined it. Only entities of two or more
    accounts are returned; an entity's id is "E" and its smallest seller id, stable as more links arrive later."""
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    links: list[tuple[str, str, list[int]]] = [*identifier_links, *(("image", g, s) for g, s in image_links)]
    for _, _, sellers in links:
        for other in sellers[1:]:
            a, b = find(sellers[0]), find(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
    groups: dict[int, list[int]] = defaultdict(list)
    for seller in list(parent):
        groups[find(seller)].append(seller)
    entities = {root: Entity(f"E{min(members)}", sorted(members)) for root, members in groups.items()}
    for kind, value, sellers in links:
        shown = value if kind == "licence" else value[:12]  # a keyed hash is shown by its prefix, never unhashed
        entities[find(sellers[0])].links.append({"kind": kind, "value": shown, "sellers": sellers})
    return sorted((e for e in entities.values() if len(e.seller_ids) > 1), key=lambda e: e.entity_id)


def top_entities(entities: list[Entity], hits: Iterable[Hit], limit: int) -> list[Entity]:
    """The `limit` entities whose accounts offered most in the period, then the largest."""
    counts = tally(hits, "entity", {}, {s: e.entity_id for e in entities for s in e.seller_ids})
    empty = Tally()
    return sorted(
        entities, key=lambda e: (-len(counts.get(e.entity_id, empty).listings), -len(e.seller_ids), e.entity_id)
    )[:limit]


def entity_rows(entities: list[Entity], sellers: Mapping[int, Seller], hits: Iterable[Hit]) -> list[dict[str, object]]:
    """Each entity, in the order given, with its accounts, marketplaces, provinces, links and what it offered."""
    of = {s: e.entity_id for e in entities for s in e.seller_ids}
    t = tally(hits, "entity", {}, of)
    empty = Tally()
    rows: list[dict[str, object]] = []
    for e in entities:
        counts = t.get(e.entity_id, empty)
        accounts = [sellers[s] for s in e.seller_ids if s in sellers]
        names = Counter(a.business_name for a in accounts if a.business_name)
        rows.append(
            {
                "entity_id": e.entity_id,
                "name": names.most_common(1)[0][0] if names else (accounts[0].name if accounts else ""),
                "accounts": [asdict(a) for a in accounts],
                "marketplaces": sorted({a.marketplace for a in accounts}),
                "provinces": sorted({a.province_code for a in accounts if a.province_code}),
                "links": sorted(e.links, key=lambda link: (LINK_KINDS.index(str(link["kind"])), str(link["value"]))),
                "hit_listings": len(counts.listings),
                "works": len(counts.refs),
                "findings": sorted(counts.findings)[:EVIDENCE_PER_ROW],
            }
        )
    return rows
