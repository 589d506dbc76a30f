"""What the supervision routes answer (service.usecases.supervision), one model per body, refusing undeclared keys as
every `Reply` does (service.web.schemas)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from detector.fusion import Verdict
from service.web.schemas import Reply


class Comparison(Reply):
    """A rate ratio, current over previous, with its exact interval (service.supervision.rates)."""

    current: int
    current_exposure: float = Field(description="Listings swept, or days for case findings")
    previous: int
    previous_exposure: float
    ratio: float | None = Field(description="Null when previous is 0 (a new key) or both are")
    change_percent: float | None
    interval: list[float | None] = Field(description="[low, high] of the ratio; high null when unbounded")
    confidence: float
    beyond_chance: bool = Field(description="Whether the interval excludes 1")
    direction: Literal["rising", "falling", "no clear change"]


class Previous(Reply):
    hit_listings: int
    hit_findings: int
    swept_listings: int


class RankRow(Reply):
    """One region, marketplace, category, rights holder or entity, in the period and the one before."""

    key: str = Field(description="A division code, marketplace, category key, rights holder or entity id")
    hit_listings: int
    hit_findings: int = Field(description="Case findings (seized devices), counted in the case's region")
    works: int
    sellers: int
    swept_listings: int = Field(description="The denominator: listings swept there (or in the scope) in the period")
    share: float | None
    share_interval: list[float] | None = Field(description="95% Wilson interval of share")
    previous: Previous
    comparison: Comparison | None
    findings: list[int] = Field(description="Findings behind the row (the first 20): /api/v1/supervision/evidence")
    label: str


class Scope(Reply):
    start: str
    end: str
    marketplace: str
    region: str
    region_name: str
    category: str


class Period(Reply):
    start: str
    end: str


class Totals(Reply):
    hit_listings: int
    swept_listings: int
    hit_findings: int
    works: int
    sellers: int
    previous: Previous
    comparison: Comparison | None
    case_comparison: Comparison | None


class Trend(Reply):
    months: list[str]
    series: dict[str, list[int]] = Field(description="Key -> hits per month; the smaller keys summed as 'other'")


class EntityAccount(Reply):
    seller_id: int
    marketplace: str
    seller_key: str
    name: str
    business_name: str
    province_code: str


class EntityLink(Reply):
    kind: Literal["licence", "contact", "payment", "image"]
    value: str = Field(description="A licence number, an image group, or the first 12 hex digits of a keyed hash")
    sellers: list[int]


class Entity(Reply):
    """Seller accounts linked into one operator, and why."""

    entity_id: str
    name: str
    accounts: list[EntityAccount]
    marketplaces: list[str]
    provinces: list[str]
    links: list[EntityLink]
    hit_listings: int
    works: int
    findings: list[int]


class SupervisionReport(Reply):
    """The supervision picture of a scope: totals, rankings, trends, entities."""

    scope: Scope
    previous_period: Period
    definitions: dict[str, str]
    totals: Totals
    rankings: dict[str, list[RankRow]]
    trend: dict[str, Trend]
    entities: list[Entity] = Field(description="The 100 entities whose accounts offered most in the period")
    entities_total: int = Field(description="Entities in all (every one is in rankings.entity)")
    unplaced_hits: int


class Side(Reply):
    scope: Scope
    hit_listings: int
    hit_findings: int
    swept_listings: int
    works: int
    sellers: int
    days: int


class SideBySide(Reply):
    """Two scopes compared: A over B."""

    a: Side
    b: Side
    comparison: Comparison | None
    case_comparison: Comparison | None


class EvidenceRow(Reply):
    finding_id: int
    source: Literal["sweep", "case"]
    case_id: int | None
    ref: str
    verdict: Verdict
    score: float
    seen_at: str
    marketplace: str
    listing_key: str
    listing_url: str
    seller: str
    region_code: str


class SupervisionEvidence(Reply):
    """The findings behind a row that the caller may read; the others only counted."""

    evidence: list[EvidenceRow]
    withheld: int = Field(description="Findings of cases not shared with the caller")
