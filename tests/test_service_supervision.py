"""The supervision picture over HTTP: the same figures as the CLI, for investigators, auditors and supervisors;
the findings behind a row only for those who may read them; exports that a spreadsheet cannot turn into a
formula; a case's findings counted in its region."""

from __future__ import annotations

import csv
import io
import zipfile
from typing import Any

import pytest
from pypdf import PdfReader

from service.store.listings import SweptImage
from tests.service_support import office as open_office
from tests.service_support import suspect


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The demo works; alice's case in Hangzhou with one scanned copy; a sweep's listings in November 2026, one
    from a shop whose name would be a spreadsheet formula."""
    home = tmp_path_factory.mktemp("office")
    with open_office(home) as (client, people, _):
        case = client.post(
            "/api/v1/cases", headers=people.auth("alice"), json={"number": "SECRET-1", "region": "浙江省杭州市"}
        ).json()["case"]
        scan = client.post(
            f"/api/v1/cases/{case['id']}/scans",
            headers=people.auth("alice"),
            files={"files": ("c.jpg", suspect("crop_night_cafe.jpg"))},
        ).json()
        store = client.app.state.store
        sweep = store.listings.sweep("run-1", "test")
        copy = {"verdict": "copy", "matches": [{"ref": "vangogh-night-cafe", "verdict": "copy", "score": 0.9}]}
        for n, (market, hit) in enumerate([("=HYPERLINK(1)", True), ("m1", True), ("m1", False), ("m1", False)]):
            store.listings.ingest(
                sweep,
                SweptImage(f"L{n}", f"i{n}.jpg", f"{n:064x}", "", f"g{n}", copy if hit else {"verdict": "no_match"},
                           market, "s1", "s1", seen_at="2026-11-05T00:00:00Z", region_text="深圳",
                           province_code="440000", region_code="440300"),
            )  # fmt: skip
        yield client, people, {"case": case, "finding": scan["finding_id"]}


def test_case_region_is_placed_and_kept(office: Any) -> None:
    _, _, ids = office
    assert ids["case"]["region"] == "浙江省杭州市" and ids["case"]["region_code"] == "330100"


def test_a_bad_case_region_is_refused_with_its_reason(office: Any) -> None:
    client, people, _ = office
    r = client.post("/api/v1/cases", headers=people.auth("alice"), json={"number": "N", "region": "Taizhou"})
    assert r.status_code == 422 and "may be" in r.json()["error"]


def test_every_reader_sees_the_same_figures(office: Any) -> None:
    client, people, _ = office
    bodies = []
    for who in ("sun", "audrey", "alice"):
        r = client.get("/api/v1/supervision", params={"month": "2026-11"}, headers=people.auth(who))
        assert r.status_code == 200, r.text
        bodies.append(r.json())
    assert bodies[0]["totals"] == bodies[1]["totals"] == bodies[2]["totals"]
    totals = bodies[0]["totals"]
    assert (totals["hit_listings"], totals["swept_listings"]) == (2, 4)
    regions = {r["key"]: r for r in bodies[0]["rankings"]["region"]}
    assert regions["440300"]["share"] == 0.5 and regions["440300"]["label"] == "Guangdong Shenzhen"
    zh = client.get("/api/v1/supervision", params={"month": "2026-11", "language": "zh"}, headers=people.auth("sun"))
    assert {r["label"] for r in zh.json()["rankings"]["region"]} >= {"广东省 深圳市"}


def test_a_case_finding_counts_in_its_region_when_it_was_scanned(office: Any) -> None:
    client, people, ids = office
    r = client.get("/api/v1/supervision", headers=people.auth("sun"))  # this month: the case was scanned today
    regions = {row["key"]: row for row in r.json()["rankings"]["region"]}
    assert regions["330100"]["hit_findings"] == 1 and ids["finding"] in regions["330100"]["findings"]
    assert "SECRET-1" not in r.text  # figures name no case


def test_evidence_behind_a_row_follows_who_may_read_it(office: Any) -> None:
    client, people, ids = office
    month = client.get("/api/v1/supervision", params={"month": "2026-11"}, headers=people.auth("alice")).json()
    sweep_findings = month["rankings"]["region"][0]["findings"]
    wanted = {"finding": [*sweep_findings, ids["finding"]]}
    mine = client.get("/api/v1/supervision/evidence", params=wanted, headers=people.auth("alice")).json()
    assert {e["source"] for e in mine["evidence"]} == {"sweep", "case"} and mine["withheld"] == 0
    for who in ("bob", "audrey"):  # not alice's case: its finding is only counted
        theirs = client.get("/api/v1/supervision/evidence", params=wanted, headers=people.auth(who)).json()
        assert {e["source"] for e in theirs["evidence"]} == {"sweep"} and theirs["withheld"] == 1
    refused = client.get("/api/v1/supervision/evidence", params=wanted, headers=people.auth("sun"))
    assert refused.status_code == 403 and list(refused.json()) == ["error"]


def test_comparing_two_regions(office: Any) -> None:
    client, people, _ = office
    params = {"a_from": "2026-11-01", "a_to": "2026-12-01", "a_region": "广东", "b_region": "浙江"}
    r = client.get("/api/v1/supervision/compare", params=params, headers=people.auth("sun"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["a"]["hit_listings"] == 2 and body["b"]["swept_listings"] == 0 and body["comparison"] is None


def test_the_csv_export_is_text_to_a_spreadsheet(office: Any) -> None:
    client, people, _ = office
    r = client.get("/api/v1/supervision/export.csv", params={"month": "2026-11"}, headers=people.auth("sun"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    markets = {row["key"] for row in rows if row["dimension"] == "marketplace"}
    assert "'=HYPERLINK(1)" in markets and "=HYPERLINK(1)" not in markets


@pytest.mark.parametrize(
    "params",
    [
        {"month": "2026-13"},
        {"from": "2026-11-02", "to": "2026-11-01"},
        {"region": "Suzhou"},
        {"to": "x"},
        {"month": "9999-12"},  # the month after it, and so the period, cannot be a date
        {"from": "0001-01-05", "to": "0001-02-01"},  # nor the period before it
    ],
)
def test_a_bad_scope_is_a_422_that_says_why(office: Any, params: dict[str, str]) -> None:
    client, people, _ = office
    r = client.get("/api/v1/supervision", params=params, headers=people.auth("sun"))
    assert r.status_code == 422 and r.json()["error"]


def test_the_workbook_keeps_a_shop_name_as_text_and_counts_as_numbers(office: Any) -> None:
    client, people, _ = office
    r = client.get("/api/v1/supervision/export.xlsx", params={"month": "2026-11"}, headers=people.auth("sun"))
    assert r.status_code == 200 and r.content[:2] == b"PK"
    with zipfile.ZipFile(io.BytesIO(r.content)) as book:
        names = book.namelist()
        sheets = "".join(book.read(n).decode() for n in names if n.startswith("xl/worksheets/sheet"))
        strings = book.read("xl/sharedStrings.xml").decode()
    assert "<f>" not in sheets  # no formula anywhere, the marketplace named =HYPERLINK(1) included
    assert "=HYPERLINK(1)" in strings
    assert "<v>2</v>" in sheets  # hit listings written as a number


@pytest.mark.parametrize(("language", "title"), [("en", "Monthly supervision brief"), ("zh", "监管月报")])
def test_the_monthly_brief_is_one_page_in_either_language(office: Any, language: str, title: str) -> None:
    client, people, _ = office
    params = {"month": "2026-11", "language": language}
    r = client.get("/api/v1/supervision/brief.pdf", params=params, headers=people.auth("sun"))
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    pdf = PdfReader(io.BytesIO(r.content))
    assert len(pdf.pages) == 1
    text = pdf.pages[0].extract_text()
    assert title in text and "2026-11" in text


def test_finding_ids_no_store_could_hold_name_nothing(office: Any) -> None:
    client, people, _ = office
    params = {"finding": ["99999999999999999999", "0"]}
    r = client.get("/api/v1/supervision/evidence", params=params, headers=people.auth("audrey"))
    assert r.status_code == 200 and r.json() == {"evidence": [], "withheld": 0}


def test_the_api_offers_every_order_a_ranking_has(office: Any) -> None:
    from service.supervision.figures import SORTS

    client, _, _ = office
    op = client.get("/openapi.json").json()["paths"]["/api/v1/supervision"]["get"]
    (sort,) = [p for p in op["parameters"] if p["name"] == "sort"]
    assert sort["schema"]["enum"] == list(SORTS)
