"""The supervision picture, as both doors serve it: for a period (and a marketplace, region or category), the totals
and their change from the period before, rankings of regions, marketplaces, categories, rights holders and
entities, the monthly trend, the entities that link seller accounts, and any two scopes side by side.

Figures are aggregates: they name no suspect and show no image, so supervisors may read them. Each row lists the
findings behind it; reading those findings is the evidence door's business (cases for their investigators, sweeps
for investigators and auditors). Reading the picture is audited, as reading the offender database is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from index.audit import Action, Audit
from index.registry import WorkRecord
from service.store import Store
from service.store.supervision import Hit, Period
from service.supervision import categories as C
from service.supervision import figures as F
from service.supervision.rates import compare
from service.supervision.regions import region_table

RANKED = ("region", "province", "marketplace", "category", "rights_holder", "entity")
"""The rankings a report carries."""
TRENDS = ("province", "category", "marketplace", "verdict")
"""The monthly series a report carries."""
ENTITIES_SHOWN = 100
"""Entities a report describes in full (those whose accounts offered most); all of them are in the entity ranking."""


YEARS = (1901, 9998)
"""The years a period may lie in: room for the period before it and the twelve months a trend shows, inside what
dates can hold (years 1-9999), so no filter can make a date overflow."""


class ScopeError(ValueError):
    """A filter a person must correct (a date that is not one, a region or category that does not exist)."""


def scope_of(start: str, end: str, marketplace: str = "", region: str = "", category: str = "") -> F.Scope:
    """A checked scope: ISO dates with start before end; a region given by code or by name (placed on the table);
    a category by key or name."""
    try:
        first, after = date.fromisoformat(start), date.fromisoformat(end)
    except ValueError as exc:
        raise ScopeError(f"a period is two dates, YYYY-MM-DD: {exc}") from exc
    if not (YEARS[0] <= first.year and after.year <= YEARS[1]):
        raise ScopeError(f"a period lies within the years {YEARS[0]}-{YEARS[1]} ({start} .. {end})")
    if first >= after:
        raise ScopeError(f"the period must start before it ends ({start} .. {end})")
    code = ""
    if region:
        table = region_table()
        if table.get(region) is not None:
            code = region
        else:
            placed = table.place(region)
            if placed.problem or not placed.code:
                raise ScopeError(f"region {placed.problem or region!r}")
            code = placed.code
    return F.Scope(Period(start, end), marketplace, code, C.normalise(category).split(",")[0] if category else "")


def month_scope(month: str = "", marketplace: str = "", region: str = "", category: str = "") -> F.Scope:
    """The scope of one calendar month ("2026-11"; default: the current one)."""
    today = date.today()
    try:
        first = date.fromisoformat(f"{month}-01") if month else today.replace(day=1)
    except ValueError as exc:
        raise ScopeError(f"a month is YYYY-MM, not {month!r}") from exc
    if not YEARS[0] <= first.year <= YEARS[1]:
        raise ScopeError(f"a month lies within the years {YEARS[0]}-{YEARS[1]}, not {month!r}")
    return scope_of(first.isoformat(), F.month_start(first, 1).isoformat(), marketplace, region, category)


def asked_scope(
    month: str = "", start: str = "", end: str = "", marketplace: str = "", region: str = "", category: str = ""
) -> F.Scope:
    """The scope a person asked for, as both doors take it: a month (default: the current one), or a period from
    `start` to `end`; ScopeError when both or half of a period are given."""
    if start or end:
        if month or not (start and end):
            raise ScopeError("give a month, or both the first day (from) and the day after the last (to)")
        return scope_of(start, end, marketplace, region, category)
    return month_scope(month, marketplace, region, category)


def work_facts(works: Iterable[WorkRecord]) -> dict[str, F.WorkFacts]:
    return {w.ref: F.WorkFacts(tuple(C.split(w.categories)), w.rights_holder) for w in works}


def _hits(store: Store, scope: F.Scope, period: Period, works: dict[str, F.WorkFacts]) -> list[Hit]:
    return [h for h in store.supervision.hits(period, scope.marketplace) if scope.admits(h, works)]


def supervision_report(
    store: Store,
    works: Iterable[WorkRecord],
    scope: F.Scope,
    audit: Audit,
    language: str = "en",
    sort: str = "hit_listings",
) -> dict[str, Any]:
    """The whole picture for `scope`, rankings ordered by `sort` (figures.SORTS): the body of `semblance
    supervision show --json` and of the API."""
    facts = work_facts(works)
    before = F.previous_period(scope.period)
    hits = _hits(store, scope, scope.period, facts)
    previous = _hits(store, scope, before, facts)
    swept = [s for s in store.supervision.swept(scope.period, scope.marketplace) if scope.admits_swept(s)]
    swept_before = [s for s in store.supervision.swept(before, scope.marketplace) if scope.admits_swept(s)]
    entities = F.link_entities(
        store.supervision.identifier_links(),
        store.supervision.image_links(scope.period),
    )
    entity_of = {s: e.entity_id for e in entities for s in e.seller_ids}
    current, earlier = (hits, swept, scope.period), (previous, swept_before, before)
    rankings = {}
    for dimension in RANKED:
        rows = [r.to_json() for r in F.ranking(dimension, current, earlier, facts, entity_of, sort)]
        for row in rows:
            row["label"] = label(dimension, str(row["key"]), language)
        rankings[dimension] = rows
    shown = F.top_entities(entities, hits, ENTITIES_SHOWN)
    sellers = store.supervision.sellers({s for e in shown for s in e.seller_ids})
    report = {
        "scope": scope_json(scope, language),
        "previous_period": {"start": before.start, "end": before.end},
        "definitions": DEFINITIONS,
        "totals": totals(hits, previous, swept, swept_before, scope.period, before),
        "rankings": rankings,
        "trend": {d: F.trend(hits, d, scope.period, facts, entity_of) for d in TRENDS},
        "entities": F.entity_rows(shown, sellers, hits),
        "entities_total": len(entities),
        "unplaced_hits": sum(1 for h in hits if not h.province_code),
    }
    audit(Action.SUPERVISION, {"scope": report["scope"]})
    return report


TREND_MONTHS = 12
"""How many months the supervision page's trend chart shows, ending with the month chosen."""


def monthly_trend(
    store: Store, works: Iterable[WorkRecord], scope: F.Scope, months: int = TREND_MONTHS
) -> dict[str, Any]:
    """The monthly series of the `months` months up to the end of `scope` (same filters), for the page's chart;
    with the listings swept each month, so a rise in hits can be read against a rise in sweeping."""
    end = date.fromisoformat(scope.period.end)
    last = end.replace(day=1) if end.day == 1 else end
    period = Period(F.month_start(last, -months).isoformat(), scope.period.end)
    facts = work_facts(works)
    hits = _hits(store, scope, period, facts)
    series = {d: F.trend(hits, d, period, facts, {}) for d in TRENDS}
    swept = store.supervision.swept_by_month(period, scope.marketplace, scope.region)
    return {"months": F.months(period), "swept_listings": [swept.get(m, 0) for m in F.months(period)], **series}


def totals(
    hits: list[Hit], previous: list[Hit], swept: list[Any], swept_before: list[Any], now: Period, before: Period
) -> dict[str, Any]:
    """The scope's totals and their comparison with the period before."""
    t, b = F.Tally.of(hits), F.Tally.of(previous)
    n_swept, n_before = sum(s.listings for s in swept), sum(s.listings for s in swept_before)
    return {
        "hit_listings": len(t.listings),
        "swept_listings": n_swept,
        "hit_findings": len(t.case_findings),
        "works": len(t.refs),
        "sellers": len(t.sellers),
        "previous": {
            "hit_listings": len(b.listings),
            "swept_listings": n_before,
            "hit_findings": len(b.case_findings),
        },
        "comparison": compare(len(t.listings), n_swept, len(b.listings), n_before).to_json()
        if n_swept and n_before
        else None,
        "case_comparison": compare(len(t.case_findings), F.days(now), len(b.case_findings), F.days(before)).to_json()
        if t.case_findings or b.case_findings
        else None,
    }


def side_by_side(store: Store, works: Iterable[WorkRecord], a: F.Scope, b: F.Scope, audit: Audit) -> dict[str, Any]:
    """Two scopes (two periods, two regions, two categories, two marketplaces) compared: each one's totals, and the
    rate ratio of A to B over listings swept (or, for case findings alone, per day)."""
    facts = work_facts(works)
    first, second = (_side(store, scope, facts) for scope in (a, b))
    comparison = None
    if first.swept and second.swept:
        comparison = compare(first.listings, first.swept, second.listings, second.swept).to_json()
    case_comparison = None
    if first.case_findings or second.case_findings:
        case_comparison = compare(first.case_findings, first.days, second.case_findings, second.days).to_json()
    audit(Action.SUPERVISION, {"compare": [first.scope, second.scope]})
    return {"a": first.to_json(), "b": second.to_json(), "comparison": comparison, "case_comparison": case_comparison}


@dataclass(frozen=True)
class _Side:
    scope: dict[str, str]
    listings: int
    case_findings: int
    swept: int
    works: int
    sellers: int
    days: int

    def to_json(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "hit_listings": self.listings,
            "hit_findings": self.case_findings,
            "swept_listings": self.swept,
            "works": self.works,
            "sellers": self.sellers,
            "days": self.days,
        }


def _side(store: Store, scope: F.Scope, facts: dict[str, F.WorkFacts]) -> _Side:
    """One side of a comparison: its totals."""
    t = F.Tally.of(_hits(store, scope, scope.period, facts))
    swept = [s for s in store.supervision.swept(scope.period, scope.marketplace) if scope.admits_swept(s)]
    return _Side(
        scope_json(scope, "en"),
        len(t.listings),
        len(t.case_findings),
        sum(s.listings for s in swept),
        len(t.refs),
        len(t.sellers),
        F.days(scope.period),
    )


MAX_EVIDENCE = 500
"""Findings one evidence request may name (a row lists at most figures.EVIDENCE_PER_ROW)."""


def evidence(store: Store, finding_ids: list[int], user_id: int, sweeps_readable: bool, audit: Audit) -> dict[str, Any]:
    """The findings behind a row, as far as the caller may read them: a sweep's findings for those who read the
    offender database, a case's only for the investigators it is shared with. The others are counted as withheld,
    never described."""
    ids = sorted({i for i in finding_ids if 1 <= i < 2**63})[:MAX_EVIDENCE]  # others name no finding (SQLite ints)
    rows = store.supervision.evidence(ids)
    shown, withheld = [], set()
    for row in rows:
        case_id = row["case_id"]
        readable = store.cases.visible(int(case_id), user_id) is not None if case_id is not None else sweeps_readable
        if readable:
            shown.append(row)
        else:
            withheld.add(row["finding_id"])
    if shown:
        audit(Action.SUPERVISION, {"evidence": sorted({int(r["finding_id"]) for r in shown})})
    return {"evidence": shown, "withheld": len(withheld)}


def label(dimension: str, key: str, language: str) -> str:
    """How a row's key reads to a person: a region's name, a category's name, the key itself otherwise."""
    if dimension in ("province", "region"):
        region = region_table().get(key)
        if region is None:
            return "未注明或无法确定地区" if language.startswith("zh") else "region not given or not placed"
        if region.level == "prefecture":
            parent = region_table().get(region.parent)
            return f"{parent.name(language) if parent else ''} {region.name(language)}".strip()
        return region.name(language)
    if key in F.PLACEHOLDERS:
        return F.PLACEHOLDERS[key][1 if language.startswith("zh") else 0]
    if dimension == "category":
        return C.label(key, language)
    return key


def scope_json(scope: F.Scope, language: str) -> dict[str, str]:
    return {
        "start": scope.period.start,
        "end": scope.period.end,
        "marketplace": scope.marketplace,
        "region": scope.region,
        "region_name": label("region", scope.region, language) if scope.region else "",
        "category": scope.category,
    }


DEFINITIONS = {
    "hit_listings": "listings with an image matching a registered work as copy or derivative, seen in the period; a "
    "listing counts once in each month it was seen (over several months the unit is the listing-month)",
    "swept_listings": "listings with an image seen in the period, counted as hit_listings are (the denominator of "
    "share)",
    "share": "hit_listings / swept_listings, with its 95% Wilson interval",
    "hit_findings": "suspect images from cases (seized devices) matching a work, counted in the case's region; they "
    "have no denominator",
    "comparison": "rate ratio of this period to the previous one of equal length (hits per swept listing; per day "
    "for case findings), with its exact 95% interval; beyond_chance when the interval excludes 1",
    "entity": "seller accounts sharing a business licence, a contact, a payment account (keyed hashes) or an "
    "infringing image",
}
"""What each figure counts, shipped with every report so a figure is never read without its unit."""
