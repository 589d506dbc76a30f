"""The supervision picture's pure parts: placing free-text regions on China's divisions, and comparing two rates."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from service.supervision import identifiers
from service.supervision.rates import beta_quantile, compare, incomplete_beta
from service.supervision.regions import region_table


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("浙江省杭州市西湖区", "330100"),
        ("Hangzhou, Zhejiang", "330100"),
        ("Shenzhen City", "440300"),
        ("广东深圳", "440300"),
        ("粤", "440000"),  # a province's one-character abbreviation, given alone
        ("北京市朝阳区", "110000"),  # 朝阳 is also a city of Liaoning: inside Beijing it is a district
        ("吉林", "220000"),  # the province of that name, not its city
        ("吉林省吉林市", "220200"),
        ("青海海南州", "632500"),  # Hainan prefecture of Qinghai, not Hainan province
        ("Xi'an", "610100"),
        ("xian", "610100"),
        ("Inner Mongolia Baotou", "150200"),
        ("Taizhou, Jiangsu", "321200"),
        ("浙江 台州", "331000"),
        ("Urumqi", "650100"),
    ],
)
def test_a_region_is_placed_on_its_division(text: str, code: str) -> None:
    placed = region_table().place(text)
    assert placed.code == code, placed.problem
    assert not placed.problem


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("Taizhou", "may be"),
        ("Suzhou", "may be"),
        ("New York", "names no"),
        ("", "no region"),
        ("浙江 江苏", "several"),
    ],
)
def test_an_uncertain_region_is_counted_nowhere_and_says_why(text: str, why: str) -> None:
    placed = region_table().place(text)
    assert placed.prefecture is None and why in placed.problem


def test_the_table_holds_every_provincial_level_division_and_its_prefectures() -> None:
    table = region_table()
    provinces = table.provinces()
    assert len(provinces) == 34
    assert all(r.parent in table.regions for r in table.regions.values() if r.level == "prefecture")
    assert sum(r.level == "prefecture" for r in table.regions.values()) > 300
    assert table.get("330000") is not None and table.get("330000").name("en") == "Zhejiang"  # type: ignore[union-attr]


def test_the_incomplete_beta_function_matches_its_known_values() -> None:
    # I_x(2, 3) = 1 - (1-x)^4 - 4x(1-x)^3, at x = 0.3: 1 - 0.2401 - 0.4116
    assert incomplete_beta(0.3, 2, 3) == pytest.approx(0.3483, abs=1e-12)
    assert incomplete_beta(0.5, 1, 1) == pytest.approx(0.5)
    assert beta_quantile(0.025, 5, 1) == pytest.approx(0.025 ** (1 / 5), abs=1e-10)  # I_x(a, 1) = x^a


def test_a_rate_ratio_carries_its_exact_interval() -> None:
    # 20 hits in 100 listings against 10 in 100: twice the rate, but the Clopper-Pearson interval of 20/30
    # (0.4719, 0.8271) gives odds 0.894 to 4.785, which holds 1: not beyond chance
    c = compare(20, 100, 10, 100)
    assert c.ratio == 2.0 and c.change_percent == 100.0
    assert c.low == pytest.approx(0.4719 / 0.5281, abs=1e-3) and c.high == pytest.approx(0.8271 / 0.1729, abs=2e-3)
    assert not c.beyond_chance and c.direction == "no clear change"
    # the prosecutors' 91 digital-piracy cases against 26 the year before: 3.5-fold, well beyond chance
    rising = compare(91, 365, 26, 365)
    assert rising.ratio == pytest.approx(3.5) and rising.beyond_chance and rising.direction == "rising"
    assert compare(26, 365, 91, 365).direction == "falling"


def test_exposure_divides_the_counts() -> None:
    # the same 30 hits over twice the listings swept is half the rate
    c = compare(30, 2000, 30, 1000)
    assert c.ratio == 0.5


def test_comparisons_with_nothing_before_say_so() -> None:
    new = compare(5, 10, 0, 10)
    assert math.isinf(new.ratio) and new.to_json()["ratio"] is None
    assert new.low == pytest.approx(0.025 ** (1 / 5) / (1 - 0.025 ** (1 / 5)))
    assert not compare(0, 10, 0, 10).beyond_chance
    with pytest.raises(ValueError):
        compare(1, 0, 1, 1)


def test_rankings_order_by_what_a_supervisor_asks_for() -> None:
    from service.supervision.figures import SORTS, RankRow

    def row(key: str, hits: int, swept: int, works: int, change: tuple[int, int, int, int]) -> RankRow:
        return RankRow(key, hits, 0, works, 1, swept, 0, 0, 0, compare(*change), [])

    busy = row("busy", 40, 400, 2, (40, 400, 30, 400))  # many hits, 10%, no clear change
    rising = row("rising", 12, 20, 5, (12, 20, 1, 20))  # fewer hits, 60%, beyond chance
    noisy = row("noisy", 2, 10, 1, (2, 10, 0, 10))  # new, two hits: its interval has no lower bound above 1
    order = {name: [r.key for r in sorted([busy, rising, noisy], key=SORTS[name])] for name in SORTS}
    assert order["hit_listings"] == ["busy", "rising", "noisy"]
    assert order["works"] == ["rising", "busy", "noisy"]
    assert order["share"] == ["rising", "noisy", "busy"]
    assert order["change"] == ["rising", "busy", "noisy"]


def test_a_contact_and_a_payment_account_are_hashed_before_a_sweep_keeps_anything(tmp_path: Path) -> None:
    from service.sweep.listings import read_listings
    from service.sweep.run import entity_fields

    listings = tmp_path / "l.csv"
    listings.write_text(
        "listing_id,seller_id,region,business_licence,contact,payment_account,path\n"
        "1,a,浙江省杭州市,91330106 ma2h00001x,+86 138-0000-0001,alipay:x@example.com,p.jpg\n"
        "2,b,Hangzhou,,13800000001,,p.jpg\n"
        "3,c,Taizhou,,,,p.jpg\n"
        "4,d,,,无,-,p.jpg\n",
        encoding="utf-8",
    )
    read = list(read_listings(str(listings)))
    assert "contact" not in read[0].fields and "13800000001" not in str(read[0].to_json())
    problems = entity_fields(read, b"k" * 32)
    one, two, three, four = (r.to_json() for r in read)
    assert "contact_hash" not in four and "payment_hash" not in four  # placeholders link nobody
    assert one["contact_hash"] == two["contact_hash"]  # one phone number, however it was written
    assert len(one["contact_hash"]) == 32 and one["payment_hash"] != one["contact_hash"]
    assert one["business_licence"] == "91330106MA2H00001X"
    assert "138" not in str([one, two]) and "example.com" not in str(one)
    assert (
        entity_fields([], b"other key") == []
        and identifiers.keyed(b"other key", "contact", "13800000001") != (one["contact_hash"])
    )  # a hash means nothing without this workspace's key
    assert len(problems) == 1 and "Taizhou" in problems[0] and "counted under no region" in problems[0]
    assert three["region"] == "Taizhou"


def test_a_seen_at_that_is_not_an_iso_time_is_replaced_by_the_sweeps_and_said(tmp_path: Path) -> None:
    from service.sweep.listings import read_listings

    listings = tmp_path / "l.csv"
    listings.write_text("listing_id,seen_at,path\n1,05.11.2026,p.jpg\n2,2026-11-05T09:00:00Z,p.jpg\n", encoding="utf-8")
    dotted, iso = read_listings(str(listings))
    assert "seen_at" not in dotted.fields and "not an ISO date" in dotted.problems[0]  # it would count in no month
    assert iso.fields["seen_at"] == "2026-11-05T09:00:00Z" and not iso.problems
