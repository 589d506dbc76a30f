"""The rows the supervision picture is computed from (service.supervision.figures): every hit with where and when it
was seen, the listings swept (the denominators), case findings with their case's region, and the identifiers that
link seller accounts. Read-only; one indexed query each, filtered by period and marketplace in SQL.
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


_SWEPT_HITS = """
SELECT f.id, fm.ref, fm.verdict, li.seen_at, l.province_code, l.region_code, l.marketplace, l.id, l.seller_id, NULL
FROM listing_images li
JOIN listings l ON l.id = li.listing_id
JOIN findings f ON f.suspect_id = li.suspect_id
JOIN finding_matches fm ON fm.finding_id = f.id
WHERE li.seen_at >= ? AND li.seen_at < ? AND fm.verdict IN ('copy', 'derivative')
"""
_CASE_HITS = """
SELECT f.id, fm.ref, fm.verdict, f.scanned_at, c.province_code, c.region_code, '', NULL, NULL, c.id
FROM findings f
JOIN cases c ON c.id = f.case_id
JOIN finding_matches fm ON fm.finding_id = f.id
WHERE f.scanned_at >= ? AND f.scanned_at < ? AND fm.verdict IN ('copy', 'derivative')
"""


class SupervisionRows:
    """Read-only queries over the findings store for the supervision picture."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def hits(self, period: Period, marketplace: str = "", cases: bool = True) -> list[Hit]:
        """Every hit seen in `period` (sweeps by when the image was seen, cases by when the suspect was scanned);
        case findings only when no marketplace is asked for (a seized device has none)."""
        args: tuple[str, ...] = (period.start, period.end)
        sql = _SWEPT_HITS
        if marketplace:
            sql += " AND l.marketplace = ?"
            args += (marketplace,)
        rows = self._db.db.execute(sql, args).fetchall()
        if cases and not marketplace:
            rows += self._db.db.execute(_CASE_HITS, (period.start, period.end)).fetchall()
        return [Hit(*tuple(r)) for r in rows]

    def swept(self, period: Period, marketplace: str = "") -> list[Swept]:
        """Distinct listings with an image seen in `period`, by region and marketplace."""
        sql = """SELECT l.province_code, l.region_code, l.marketplace, COUNT(DISTINCT l.id)
                 FROM listing_images li JOIN listings l ON l.id = li.listing_id
                 WHERE li.seen_at >= ? AND li.seen_at < ?"""
        args: tuple[str, ...] = (period.start, period.end)
        if marketplace:
            sql += " AND l.marketplace = ?"
            args += (marketplace,)
        sql += " GROUP BY l.province_code, l.region_code, l.marketplace"
        return [Swept(*tuple(r)) for r in self._db.db.execute(sql, args)]

    def swept_by_month(self, period: Period, marketplace: str = "", region: str = "") -> dict[str, int]:
        """Distinct listings with an image seen in each month of `period` ("2026-11" -> count), of a marketplace
        and a region (a province's or a prefecture's code) when given."""
        sql = """SELECT substr(li.seen_at, 1, 7), COUNT(DISTINCT li.listing_id)
                 FROM listing_images li JOIN listings l ON l.id = li.listing_id
                 WHERE li.seen_at >= ? AND li.seen_at < ?"""
        args: tuple[str, ...] = (period.start, period.end)
        if marketplace:
            sql += " AND l.marketplace = ?"
            args += (marketplace,)
        if region:
            sql += " AND (l.province_code = ? OR l.region_code = ?)"
            args += (region, region)
        return {str(m): int(n) for m, n in self._db.db.execute(sql + " GROUP BY 1", args)}

    def identifier_links(self, seller_ids: set[int]) -> list[tuple[str, str, list[int]]]:
        """(kind, stored value, the sellers sharing it) for each identifier shared by two or more sellers, at least
        one of them in `seller_ids`."""
        rows = self._db.db.execute(
            """SELECT kind, value, json_group_array(seller_id) FROM seller_identifiers
               GROUP BY kind, value HAVING COUNT(*) > 1"""
        ).fetchall()
        out = []
        for kind, value, ids in rows:
            sellers = sorted(int(i) for i in json.loads(ids))
            if seller_ids.intersection(sellers):
                out.append((str(kind), str(value), sellers))
        return out

    def image_links(self, period: Period) -> list[tuple[str, list[int]]]:
        """(image group, the sellers who offered it) for each infringing image offered by two or more sellers in
        `period`: the same picture, byte for byte or re-uploaded, under several accounts."""
        rows = self._db.db.execute(
            """SELECT li.image_group, group_concat(DISTINCT l.seller_id) FROM listing_images li
               JOIN listings l ON l.id = li.listing_id
               JOIN findings f ON f.suspect_id = li.suspect_id
               JOIN finding_matches fm ON fm.finding_id = f.id
               WHERE li.seen_at >= ? AND li.seen_at < ? AND fm.verdict IN ('copy', 'derivative')
                 AND l.seller_id IS NOT NULL
               GROUP BY li.image_group HAVING COUNT(DISTINCT l.seller_id) > 1""",
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
        return [str(r[0]) for r in self._db.db.execute("SELECT DISTINCT marketplace FROM listings ORDER BY 1")]

    def first_seen(self) -> str:
        """The earliest moment anything was seen (a sweep's image or a case's scan), "" when nothing was."""
        row = self._db.db.execute(
            "SELECT min(x) FROM (SELECT min(seen_at) AS x FROM listing_images UNION ALL "
            "SELECT min(scanned_at) FROM findings)"
        ).fetchone()
        return str(row[0] or "")

    def last_seen(self) -> str:
        row = self._db.db.execute(
            "SELECT max(x) FROM (SELECT max(seen_at) AS x FROM listing_images UNION ALL "
            "SELECT max(scanned_at) FROM findings)"
        ).fetchone()
        return str(row[0] or "")
