"""The offender database: correlation queries over swept listings and their findings, and an explainable rank.

A hit is a swept image whose finding matched a registered work as `copy` or `derivative`. Sellers are ranked by
`SCORE_WEIGHTS`, a sum a prosecutor can recompute by hand from the row's own counts; every row carries the listings
and findings behind it (`evidence`), so it can be shown why a seller is on the list. Two seller accounts are linked
when they offered the same infringing image (same SHA-256, or a near-identical re-upload grouped by PDQ during the
sweep): on two marketplaces, that is one operator under two names.
"""

from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from service.store.database import Database

SCORE_WEIGHTS = {
    "works_copied": (3.0, "each registered work the seller offered a copy of (keypoint or hash proof)"),
    "works_derived_only": (1.0, "each work seen only as a derivative (an AI re-rendering: weaker evidence)"),
    "linked_other_marketplaces": (2.0, "each account on another marketplace offering the same infringing images"),
    "linked_same_marketplace": (1.0, "each other account on the same marketplace offering the same images"),
    "log2_hit_listings": (0.5, "log2(1 + listings with hits): volume counts, but less than breadth"),
}
"""Weight of each component of a seller's score, with why. Not fitted: chosen so that breadth of infringed works
and the same operator behind several accounts outrank sheer listing volume."""

_HITS = """
SELECT l.seller_id, l.id AS listing_id, l.marketplace, li.id AS image_row, li.image_group, li.seen_at, fm.ref,
       fm.verdict, fm.score, f.id AS finding_id
FROM finding_matches fm
JOIN findings f ON f.id = fm.finding_id
JOIN listing_images li ON li.suspect_id = f.suspect_id
JOIN listings l ON l.id = li.listing_id
WHERE fm.verdict IN ('copy', 'derivative')
"""


@dataclass
class SellerRow:
    seller_id: int
    marketplace: str
    seller: str
    name: str
    works_copied: int
    works_derived_only: int
    hit_listings: int
    hit_images: int
    first_seen: str
    last_seen: str
    linked: list[dict[str, Any]] = field(default_factory=list)
    components: dict[str, float] = field(default_factory=dict)
    score: float = 0.0
    works: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "seller_id": self.seller_id,
            "marketplace": self.marketplace,
            "seller": self.seller,
            "name": self.name,
            "score": round(self.score, 3),
            "score_components": {k: round(v, 3) for k, v in self.components.items()},
            "works_copied": self.works_copied,
            "works_derived_only": self.works_derived_only,
            "works": self.works,
            "hit_listings": self.hit_listings,
            "hit_images": self.hit_images,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "linked_sellers": self.linked,
        }


class Offenders:
    """Read-only correlation queries over the findings store."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def ranking(self, limit: int = 50) -> list[SellerRow]:
        """Sellers with hits, best evidence first (SCORE_WEIGHTS), each with its linked accounts."""
        db = self._db.db
        # the hits are gathered once, for the counts and for the links between accounts (a temporary table of
        # this thread's own connection: nothing is written to the store)
        db.execute("DROP TABLE IF EXISTS temp.seller_hits")
        db.execute(f"CREATE TEMP TABLE seller_hits AS {_HITS} AND l.seller_id IS NOT NULL")
        db.execute("CREATE INDEX temp.seller_hits_group ON seller_hits(image_group)")
        try:
            rows = self._seller_rows()
            links = self._links()
        finally:
            db.execute("DROP TABLE IF EXISTS temp.seller_hits")
        out = []
        for r in rows:
            row = SellerRow(
                r["seller_id"],
                r["marketplace"],
                r["seller_key"],
                r["name"],
                r["copied"],
                r["works"] - r["copied"],
                r["listings"],
                r["images"],
                r["first_seen"],
                r["last_seen"],
                links.get(r["seller_id"], []),
                works=sorted(json.loads(r["refs"])),
            )
            other = sum(1 for link in row.linked if link["marketplace"] != row.marketplace)
            row.components = {
                "works_copied": row.works_copied * SCORE_WEIGHTS["works_copied"][0],
                "works_derived_only": row.works_derived_only * SCORE_WEIGHTS["works_derived_only"][0],
                "linked_other_marketplaces": other * SCORE_WEIGHTS["linked_other_marketplaces"][0],
                "linked_same_marketplace": (len(row.linked) - other) * SCORE_WEIGHTS["linked_same_marketplace"][0],
                "log2_hit_listings": math.log2(1 + row.hit_listings) * SCORE_WEIGHTS["log2_hit_listings"][0],
            }
            row.score = sum(row.components.values())
            out.append(row)
        out.sort(key=lambda x: (-x.score, x.first_seen, x.seller_id))
        return out[:limit]

    def _seller_rows(self) -> list[sqlite3.Row]:
        """Each seller's counts over `seller_hits`."""
        return self._db.db.execute(
            """SELECT h.seller_id, s.marketplace, s.seller_key, s.name,
                   COUNT(DISTINCT CASE WHEN h.verdict = 'copy' THEN h.ref END) AS copied,
                   COUNT(DISTINCT h.ref) AS works,
                   COUNT(DISTINCT h.listing_id) AS listings,
                   COUNT(DISTINCT h.image_group) AS images,
                   MIN(h.seen_at) AS first_seen, MAX(h.seen_at) AS last_seen,
                   json_group_array(DISTINCT h.ref) AS refs
            FROM seller_hits h JOIN sellers s ON s.id = h.seller_id
            GROUP BY h.seller_id"""
        ).fetchall()

    def _links(self) -> dict[int, list[dict[str, Any]]]:
        """For each seller, the other sellers who offered the same infringing image group, and how many groups
        (over `seller_hits`)."""
        rows = self._db.db.execute(
            """WITH pairs AS (
                SELECT DISTINCT a.seller_id AS one, b.seller_id AS other, a.image_group AS grp
                FROM seller_hits a JOIN seller_hits b ON a.image_group = b.image_group AND a.seller_id <> b.seller_id
            )
            SELECT p.one, p.other, s.marketplace, s.seller_key, COUNT(*) AS shared
            FROM pairs p JOIN sellers s ON s.id = p.other GROUP BY p.one, p.other"""
        ).fetchall()
        out: dict[int, list[dict[str, Any]]] = {}
        for r in rows:
            out.setdefault(r["one"], []).append(
                {
                    "seller_id": r["other"],
                    "marketplace": r["marketplace"],
                    "seller": r["seller_key"],
                    "shared_images": r["shared"],
                }
            )
        return out

    def shared_images(self, min_sellers: int = 2, limit: int = 100) -> list[dict[str, Any]]:
        """Infringing images offered by several sellers: the image group, the works, the sellers."""
        rows = self._db.db.execute(
            f"""WITH hits AS ({_HITS})
            SELECT h.image_group, COUNT(DISTINCT h.seller_id) AS sellers, COUNT(DISTINCT h.listing_id) AS listings,
                   json_group_array(DISTINCT h.ref) AS refs, json_group_array(DISTINCT h.seller_id) AS seller_ids,
                   MIN(h.seen_at) AS first_seen, MAX(h.seen_at) AS last_seen
            FROM hits h WHERE h.seller_id IS NOT NULL GROUP BY h.image_group HAVING sellers >= ?
            ORDER BY sellers DESC, listings DESC LIMIT ?""",
            (min_sellers, limit),
        ).fetchall()
        return [
            {
                "image_group": r["image_group"],
                "sellers": r["sellers"],
                "seller_ids": sorted(json.loads(r["seller_ids"])),
                "listings": r["listings"],
                "works": sorted(json.loads(r["refs"])),
                "first_seen": r["first_seen"],
                "last_seen": r["last_seen"],
            }
            for r in rows
        ]

    def works_most_infringed(self, limit: int = 50) -> list[dict[str, Any]]:
        rows = self._db.db.execute(
            f"""WITH hits AS ({_HITS})
            SELECT h.ref, COUNT(DISTINCT h.seller_id) AS sellers, COUNT(DISTINCT h.listing_id) AS listings,
                   COUNT(DISTINCT h.marketplace) AS marketplaces,
                   SUM(CASE WHEN h.verdict = 'copy' THEN 1 ELSE 0 END) AS copies,
                   MIN(h.seen_at) AS first_seen, MAX(h.seen_at) AS last_seen
            FROM hits h GROUP BY h.ref ORDER BY listings DESC, sellers DESC LIMIT ?""",
            (limit,),
        ).fetchall()
        return [dict(r) for r in rows]

    def evidence(self, seller_id: int) -> list[dict[str, Any]]:
        """The listings, images and findings behind a seller's row."""
        rows = self._db.db.execute(
            f"""WITH hits AS ({_HITS})
            SELECT h.listing_id, l.listing_key, l.marketplace, l.listing_url, l.title, li.source, li.sha256,
                   li.seen_at, h.ref, h.verdict, h.score, h.finding_id, sw.run_key
            FROM hits h JOIN listings l ON l.id = h.listing_id
            JOIN listing_images li ON li.id = h.image_row
            JOIN sweeps sw ON sw.id = li.sweep_id
            WHERE h.seller_id = ? ORDER BY li.seen_at, li.id, h.ref""",
            (seller_id,),
        ).fetchall()
        return [dict(r) for r in rows]
