"""The supervision figures against hand-computed values on a small store: rankings with their denominators,
comparisons with the month before, trends, entities linking accounts, case findings in their case's region, and
filters. Rows are ingested as a sweep records them (service.store.listings), with the scan results written out."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from index.registry import WorkRecord
from service.store import Store
from service.store.findings import record_finding, record_suspect
from service.store.listings import SweptImage
from service.supervision import identifiers
from service.usecases.supervision import ScopeError, month_scope, scope_of, side_by_side, supervision_report

KEY = b"k" * 32


def _work(ref: str, categories: str, holder: str) -> WorkRecord:
    return WorkRecord(ref, ref * 2, 1, 1, 1, "JPEG", ref, rights_holder=holder, categories=categories)


WORKS = [_work("w1", "painting", "Museum A"), _work("w2", "illustration,painting", "Studio B")]


def _listing(store: Store, sweep: int, n: int, seen: str, region: tuple[str, str, str], seller: str,
             market: str = "m1", ref: str = "", contact: str = "", group: str = "",
             more: tuple[tuple[str, str], ...] = ()) -> None:  # fmt: skip
    result: dict[str, Any] = {"verdict": None, "matches": []}
    if ref:
        result = {"verdict": "copy", "matches": [{"ref": ref, "verdict": "copy", "score": 0.9}]}
    text, province, code = region
    ident = ((("contact", identifiers.keyed(KEY, "contact", contact)),) if contact else ()) + more
    store.listings.ingest(
        sweep,
        SweptImage(f"L{n}", f"img{n}.jpg", f"{n:064x}", "", group or f"g{n}", result, market, seller, seller,
                   seen_at=seen, region_text=text, province_code=province, region_code=code, identifiers=ident),
    )  # fmt: skip


HZ = ("杭州", "330000", "330100")
SZ = ("深圳", "440000", "440300")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """October: Hangzhou 10 listings swept, 1 hit; Shenzhen 10, 2 hits. November: Hangzhou 10 swept, 8 hits (two
    accounts sharing one phone number); Shenzhen 10, 2 hits. A case in Hangzhou found one copy in November."""
    s = Store.open(tmp_path)
    sweep = s.listings.sweep("run", "test")
    n = 0
    for month, plan in (("2026-10", {HZ: 1, SZ: 2}), ("2026-11", {HZ: 8, SZ: 2})):
        for region, hits in plan.items():
            for i in range(10):
                n += 1
                seller = ("hz1" if i % 2 else "hz2") if region is HZ else "sz1"
                contact = "+86 138 0000 0001" if seller.startswith("hz") and month == "2026-11" else ""
                ref = ("w1" if i % 3 else "w2") if i < hits else ""
                _listing(s, sweep, n, f"{month}-{1 + i:02d}T09:00:00Z", region, seller, ref=ref, contact=contact)
    user = s.accounts.add_user("ana", "a long enough password", "investigator")
    case = s.cases.create("C1", "", user.id).id
    s.database.db.execute("UPDATE cases SET province_code='330000', region_code='330100' WHERE id=?", (case,))
    with s.database.transaction() as db:
        suspect = record_suspect(db, case, "ab" * 32, "seized.jpg", 10, "test", "")
        copy = {"verdict": "copy", "matches": [{"ref": "w1", "verdict": "copy", "score": 1}]}
        record_finding(db, suspect, case, copy, "case")
        # as if it had been scanned on 20 November (the store records the time of the scan, and its hit with it)
        db.execute("UPDATE findings SET scanned_at='2026-11-20T10:00:00Z' WHERE suspect_id=?", (suspect,))
        db.execute("UPDATE hit_facts SET seen_at='2026-11-20T10:00:00Z' WHERE case_id=?", (case,))
    return s


def _report(store: Store, **scope: str) -> dict[str, Any]:
    audited: list[object] = []
    report = supervision_report(store, WORKS, month_scope("2026-11", **scope), lambda *a: audited.append(a))
    assert audited, "reading the picture is audited"
    return report


def test_regions_are_ranked_by_hits_over_the_listings_swept_there(store: Store) -> None:
    report = _report(store)
    t = report["totals"]
    assert (t["hit_listings"], t["swept_listings"], t["hit_findings"]) == (10, 20, 1)
    assert t["previous"] == {"hit_listings": 3, "swept_listings": 20, "hit_findings": 0}
    hz, sz = report["rankings"]["region"]
    assert hz["key"] == "330100" and hz["label"] == "Zhejiang Hangzhou"
    assert (hz["hit_listings"], hz["swept_listings"], hz["share"], hz["hit_findings"]) == (8, 10, 0.8, 1)
    assert hz["sellers"] == 2 and hz["works"] == 2
    # 8 of 10 against 1 of 10: 8-fold. The lower bound is the odds of the p at which 8 or more of 9 hits fall in
    # November with probability 0.025: p^9 + 9 p^8 (1 - p) = 0.025 at p = 0.51750, odds 1.0726
    c = hz["comparison"]
    assert c["ratio"] == 8.0 and c["change_percent"] == 700.0 and c["beyond_chance"] and c["direction"] == "rising"
    assert c["interval"][0] == pytest.approx(1.0726, abs=1e-4)
    assert (
        sz["share"] == 0.2 and sz["comparison"]["ratio"] == 1.0 and sz["comparison"]["direction"] == "no clear change"
    )
    assert len(hz["findings"]) == 9  # eight listings' findings and the case's, to open as evidence


def test_categories_count_a_work_in_each_of_its_areas_over_every_listing_swept(store: Store) -> None:
    rows = {r["key"]: r for r in _report(store)["rankings"]["category"]}
    # w1 (painting) hit in Hangzhou i=1,2,4,5,7 and Shenzhen i=1; w2 (illustration, painting) at i=0,3,6 and Sz 0
    assert rows["painting"]["hit_listings"] == 10 and rows["illustration"]["hit_listings"] == 4
    assert rows["painting"]["swept_listings"] == rows["illustration"]["swept_listings"] == 20
    assert rows["illustration"]["label"] == "Illustration"
    holders = {r["key"]: r["hit_listings"] for r in _report(store)["rankings"]["rights_holder"]}
    assert holders == {"Museum A": 6, "Studio B": 4}


def test_accounts_sharing_a_contact_are_one_entity_and_nothing_shows_the_number(store: Store) -> None:
    report = _report(store)
    (entity,) = report["entities"]
    assert sorted(a["seller_key"] for a in entity["accounts"]) == ["hz1", "hz2"]
    assert [link["kind"] for link in entity["links"]] == ["contact"]
    assert entity["hit_listings"] == 8
    assert "13800000001" not in str(report) and "138 0000" not in str(report)
    ranked = report["rankings"]["entity"]
    assert ranked[0]["key"] == entity["entity_id"] and ranked[0]["hit_listings"] == 8


def test_the_trend_counts_each_month(store: Store) -> None:
    report = supervision_report(store, WORKS, scope_of("2026-10-01", "2026-12-01"), lambda *a: None)
    trend = report["trend"]["province"]
    assert trend["months"] == ["2026-10", "2026-11"]
    assert trend["series"]["330000"] == [1, 9] and trend["series"]["440000"] == [2, 2]


def test_filters_narrow_every_figure(store: Store) -> None:
    zj = _report(store, region="浙江")
    assert zj["scope"]["region"] == "330000"
    assert (zj["totals"]["hit_listings"], zj["totals"]["swept_listings"]) == (8, 10)
    ill = _report(store, category="插画")  # a category by its Chinese name
    assert ill["scope"]["category"] == "illustration" and ill["totals"]["hit_listings"] == 4
    market = _report(store, marketplace="m2")
    assert market["totals"]["hit_listings"] == 0 and market["totals"]["hit_findings"] == 0
    with pytest.raises(ScopeError, match="may be"):
        month_scope("2026-11", region="Taizhou")
    with pytest.raises(ScopeError, match="start before it ends"):
        scope_of("2026-11-30", "2026-11-01")
    with pytest.raises(ScopeError, match="YYYY-MM-DD"):
        scope_of("2026-11-31", "2026-12-01")


def test_two_regions_side_by_side(store: Store) -> None:
    a, b = month_scope("2026-11", region="330100"), month_scope("2026-11", region="Shenzhen")
    result = side_by_side(store, WORKS, a, b, lambda *x: None)
    assert (result["a"]["hit_listings"], result["b"]["hit_listings"]) == (8, 2)
    # four times the share, but 8 against 2 is too few to tell from chance: the interval holds 1
    c = result["comparison"]
    assert c["ratio"] == 4.0 and not c["beyond_chance"] and c["interval"][0] < 1 < c["interval"][1]
    assert result["case_comparison"]["current"] == 1 and not result["case_comparison"]["beyond_chance"]


def test_a_database_from_before_the_supervision_tables_gets_them_filled_from_its_rows(store: Store) -> None:
    before = _report(store)
    home = store.home
    store.close()
    db = sqlite3.connect(home / "service.sqlite")
    db.executescript(
        "DROP TABLE hit_facts; DROP TABLE swept_monthly; DROP TABLE listing_months;"
        "UPDATE meta SET value='4' WHERE key='schema_version';"
    )
    db.close()
    again = Store.open(home)  # migration 5 fills them from the listings, images and findings already there
    try:
        after = _report(again)
        assert after["totals"] == before["totals"]
        assert after["rankings"]["region"][0]["hit_listings"] == before["rankings"]["region"][0]["hit_listings"]
        assert after["entities"] == before["entities"]
    finally:
        again.close()


def test_a_chain_of_shared_identifiers_is_one_entity_whoever_offered_something(store: Store) -> None:
    # x1 (a hit) shares a licence with x2 (no hit this month), x2 a payment account with x3 (a hit)
    sweep = store.listings.sweep("chain", "test")
    licence, account = ("licence", "91330106MA2H00001X"), ("payment", identifiers.keyed(KEY, "payment", "acct-77"))
    _listing(store, sweep, 900, "2026-11-20T09:00:00Z", HZ, "x1", "m2", "w1", more=(licence,))
    _listing(store, sweep, 901, "2026-11-20T09:00:00Z", HZ, "x2", "m3", more=(licence, account))
    _listing(store, sweep, 902, "2026-11-20T09:00:00Z", SZ, "x3", "m4", "w2", more=(account,))
    report = _report(store)
    chain = [e for e in report["entities"] if "x1" in {a["seller_key"] for a in e["accounts"]}]
    assert len(chain) == 1 and {a["seller_key"] for a in chain[0]["accounts"]} == {"x1", "x2", "x3"}
    assert {link["kind"] for link in chain[0]["links"]} == {"licence", "payment"}
    assert chain[0]["marketplaces"] == ["m2", "m3", "m4"] and chain[0]["hit_listings"] == 2


def test_a_region_whose_hits_fell_to_none_is_still_ranked_as_falling() -> None:
    from service.store.supervision import Hit, Period, Swept
    from service.supervision.figures import ranking

    now, before = Period("2026-11-01", "2026-12-01"), Period("2026-10-01", "2026-11-01")
    hits_before = [Hit(n, "w1", "copy", "2026-10-05", "440000", "440300", "m", n, 1, None) for n in range(10)]
    swept = [Swept("440000", "440300", "m", 20)]
    (row,) = ranking("region", ([], swept, now), (hits_before, swept, before), {}, {})
    assert (row.key, row.hit_listings, row.previous_hit_listings) == ("440300", 0, 10)
    assert row.comparison is not None and row.comparison.direction == "falling"
