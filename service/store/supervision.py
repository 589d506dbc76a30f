"""The rows the supervision picture is computed from (service.supervision.figures): every hit with where and when it
was seen (sweeps' and cases', `hit_facts`), the listings swept (the denominators, `swept_monthly`), and the
identifiers that link seller accounts. These tables are kept on ingest (service.store.listings, findings), so a
query reads a month's hits and a few hundred counters, never the listing images themselves: that is what keeps
every figure under two seconds at ten million listings (scripts/benchmark_sweep.py). Read-only.

A listing counts once in each month it was swept: over several months the unit is the listing-month, in the hits
as in the denominator, so a rate stays a rate whatever the period.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from service.store.database import Database


@dataclass(frozen=True)
class Period:
    """[start, end) as ISO dates ("2026-11-01"); timestamps compare as text within it."""

    start: str
    end: str


@dataclass(frozen=True)
class Hit:
    """One registered work found in one listing image (a sweep) or one suspect (a case), `copy` or `derivative`."""

    finding_id: int
    ref: str
    verdict: str
    seen_at: str
    province_code: str
    region_code: str
    marketplace: str
    listing_id: int | None
    seller_id: int | None
    case_id: int | None

    @property
    def listing_month(self) -> tuple[int, str] | None:
        """The unit a sweep's hit counts in: its listing, in the month it was seen; None for a case's finding."""
        return None if self.listing_id is None else (self.listing_id, self.seen_at[:7])


@dataclass(frozen=True)
class Swept:
    """Listings swept in a period, by where they are offered from and the marketplace: a denominator."""

    province_code: str
    region_code: str
    marketplace: str
    listings: int


@dataclass(frozen=True)
class Seller:
    seller_id: int
    marketplace: str
    seller_key: str
    name: str
    business_name: str
    province_code: str


_HITS = """SELECT finding_id, ref, verdict, seen_at, province_code, region_code, marketplace, listing_id, seller_id,
case_id FROM hit_facts WHERE seen_at >= ? AND seen_at < ?"""


def whole_months(period: Period) -> tuple[str, str] | None:
    """("2026-10", "2026-12") for a period of whole months [2026-10-01, 2026-12-01), else None."""
    if period.start.endswith("-01") and period.end.endswith("-01") and len(period.start) == len(period.end) == 10:
        return period.start[:7], period.end[:7]
    return None


class SupervisionRows:
    """Read-only queries over the findings store for the supervision picture."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def hits(self, period: Period, marketplace: str = "") -> list[Hit]:
        """Every hit seen in `period` (sweeps by when the image was seen, cases by when the suspect was scanned);
        with a marketplace, only that marketplace's (a seized device has none)."""
        sql = _HITS
        args: tuple[str, ...] = (period.start, period.end)
        if marketplace:
            sql += " AND marketplace = ? AND case_id IS NULL"
            args += (marketplace,)
        return [Hit(*tuple(r)) for r in self._db.db.execute(sql, args)]

    def swept(self, period: Period, marketplace: str = "") -> list[Swept]:
        """Listings swept in `period` (each once per month it was swept), by region and marketplace: the counters
        kept on ingest for whole months, else counted from the listing images."""
        months = whole_months(period)
        if months is not None:
            sql = """SELECT province_code, region_code, marketplace, SUM(listings) FROM swept_monthly
                     WHERE month >= ? AND month < ?"""
            args: tuple[str, ...] = months
            if marketplace:
                sql += " AND marketplace = ?"
                args += (marketplace,)
            sql += " GROUP BY province_code, region_code, marketplace"
        else:
            sql = """SELECT l.province_code, l.region_code, l.marketplace,
                            COUNT(DISTINCT li.listing_id || '/' || substr(li.seen_at, 1, 7))
                     FROM listing_images li JOIN listings l ON l.id = li.listing_id
                     WHERE li.seen_at >= ? AND li.seen_at < ?"""
            args = (period.start, period.end)
            if marketplace:
                sql += " AND l.marketplace = ?"
                args += (marketplace,)
            sql += " GROUP BY l.province_code, l.region_code, l.marketplace"
        return [Swept(*tuple(r)) for r in self._db.db.execute(sql, args)]

    def swept_by_month(self, period: Period, marketplace: str = "", region: str = "") -> dict[str, int]:
        """Listings swept in each month `period` touches ("2026-11" -> count), of a marketplace and a region (a
        province's or a prefecture's code) when given."""
        last = self._db.db.execute("SELECT substr(date(?, '-1 day'), 1, 7)", (period.end,)).fetchone()[0]
        sql = "SELECT month, SUM(listings) FROM swept_monthly WHERE month >= ? AND month <= ?"
        args: tuple[str, ...] = (period.start[:7], str(last))
        if marketplace:
            sql += " AND marketplace = ?"
            args += (marketplace,)
        if region:
            sql += " AND (province_code = ? OR region_code = ?)"
            args += (region, region)
        return {str(m): int(n) for m, n in self._db.db.execute(sql + " GROUP BY month", args)}

    def identifier_links(self) -> list[tuple[str, str, list[int]]]:
        """(kind, stored value, the sellers sharing it) for each identifier shared by two or more sellers: all of
        them, so that a chain of accounts (A shares a licence with B, B a phone with C) holds whichever of them
        offered something in a period."""
        rows = self._db.db.execute(
            """SELECT kind, value, json_group_array(seller_id) FROM seller_identifiers
               GROUP BY kind, value HAVING COUNT(*) > 1"""
        ).fetchall()
        return [(str(kind), str(value), sorted(int(i) for i in json.loads(ids))) for kind, value, ids in rows]

    def image_links(self, period: Period) -> list[tuple[str, list[int]]]:
        """(image group, the sellers who offered it) for each infringing image offered by two or more sellers in
        `period`: the same picture, byte for byte or re-uploaded, under several accounts."""
        rows = self._db.db.execute(
            """SELECT image_group, group_concat(DISTINCT seller_id) FROM hit_facts
               WHERE seen_at >= ? AND seen_at < ? AND seller_id IS NOT NULL AND image_group <> ''
               GROUP BY image_group HAVING COUNT(DISTINCT seller_id) > 1""",
            (period.start, period.end),
        ).fetchall()
        return [(str(g), sorted(int(i) for i in str(ids).split(","))) for g, ids in rows]

    def sellers(self, ids: set[int]) -> dict[int, Seller]:
        """The sellers named, with the province most of their listings are offered from."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self._db.db.execute(
            f"""SELECT s.id, s.marketplace, s.seller_key, s.name, s.business_name,
                    (SELECT l.province_code FROM listings l WHERE l.seller_id = s.id AND l.province_code <> ''
                     GROUP BY l.province_code ORDER BY COUNT(*) DESC, l.province_code LIMIT 1)
                FROM sellers s WHERE s.id IN ({marks})""",
            tuple(sorted(ids)),
        ).fetchall()
        return {int(r[0]): Seller(int(r[0]), r[1], r[2], r[3], r[4], r[5] or "") for r in rows}

    def evidence(self, finding_ids: list[int]) -> list[dict[str, Any]]:
        """The findings named, each match with where it was seen: a sweep's listing, seller and region, or a case's
        id and region (callers decide who may read which)."""
        if not finding_ids:
            return []
        marks = ",".join("?" * len(finding_ids))
        rows = self._db.db.execute(
            f"""SELECT f.id AS finding_id, CASE WHEN f.case_id IS NULL THEN 'sweep' ELSE 'case' END AS source,
                   f.case_id, fm.ref, fm.verdict, fm.score, coalesce(li.seen_at, f.scanned_at) AS seen_at,
                   coalesce(l.marketplace, '') AS marketplace, coalesce(l.listing_key, '') AS listing_key,
                   coalesce(l.listing_url, '') AS listing_url, coalesce(s.seller_key, '') AS seller,
                   coalesce(l.region_code, c.region_code, '') AS region_code
               FROM findings f JOIN finding_matches fm ON fm.finding_id = f.id
               LEFT JOIN listing_images li ON li.suspect_id = f.suspect_id
               LEFT JOIN listings l ON l.id = li.listing_id
               LEFT JOIN sellers s ON s.id = l.seller_id
               LEFT JOIN cases c ON c.id = f.case_id
               WHERE f.id IN ({marks}) AND fm.verdict IN ('copy', 'derivative')
               ORDER BY f.id, fm.ref""",
            tuple(finding_ids),
        ).fetchall()
        return [dict(r) for r in rows]

    def marketplaces(self) -> list[str]:
        """Every marketplace swept."""
        return [str(r[0]) for r in self._db.db.execute("SELECT DISTINCT marketplace FROM swept_monthly ORDER BY 1")]
