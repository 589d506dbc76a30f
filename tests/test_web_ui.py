"""The web UI in a real browser (Debian's Chromium driven by Playwright, on 127.0.0.1 only): one investigator's
whole path, a second investigator kept out, and the main pages in English and Chinese.

Set SEMBLANCE_SCREENSHOTS=docs/screenshots to keep the screenshots (how the ones in docs/ were made)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.service_support import PASSWORD, seed_two_months_of_sweeps, served_over_http, suspects_zip
from tests.service_support import office as open_office

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (.ci/run installs it)")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any, Any]]:
    with (
        open_office(tmp_path_factory.mktemp("office")) as (client, people, _),
        served_over_http(client.app) as base,
    ):
        seed_two_months_of_sweeps(client.app.state.store)
        yield base, people, client


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            args=FLAGS,
            headless=True,
            accept_downloads=True,
            viewport={"width": 1280, "height": 900},
            locale="en-GB",
        )
        yield context
        context.close()


def shots_dir(tmp_path: Path) -> Path:
    return Path(os.environ.get("SEMBLANCE_SCREENSHOTS") or tmp_path)


def sign_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label(re.compile("Username|用户名")).fill(username)
    page.get_by_label(re.compile("Password|密码")).fill(PASSWORD)
    page.get_by_role("button", name=re.compile("Sign in|登录")).click()


def sign_out(page: Any) -> None:
    page.get_by_role("button", name=re.compile("Sign out|退出登录")).click()
    page.wait_for_url(re.compile(r"/login"))


def test_an_investigators_whole_path_and_a_colleague_kept_out(site: Any, browser: Any, tmp_path: Path) -> None:
    base, _, _ = site
    shots = shots_dir(tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    page = browser.new_page()
    page.goto(f"{base}/cases")
    page.wait_for_url(re.compile(r"/login\?next=/cases"))
    page.screenshot(type="jpeg", quality=80, path=str(shots / "en-sign-in.jpg"))
    sign_in(page, base, "alice")
    page.wait_for_url(re.compile(r"/cases$"))
    page.get_by_label("Case number").fill("BJ-2026-0420")
    page.get_by_label("Title").fill("Phone seized from the seller")
    page.get_by_role("button", name="Open case").click()
    page.wait_for_url(re.compile(r"/cases/\d+$"))
    case_url = page.url

    seized = tmp_path / "seized-phone.zip"
    seized.write_bytes(suspects_zip(["collage_auvers_tanguy.jpg", "crop_night_cafe.jpg", "unrelated_coffee.jpg"]))
    with page.expect_response(re.compile(r"/jobs/\d+$"), timeout=60_000) as polled:  # the page watches the job
        page.set_input_files("#pick-files", str(seized))
    progress = polled.value.json()["job"]
    assert progress["total"] == 3 and 0 <= progress["done"] <= 3
    page.wait_for_selector("table.findings tbody tr:nth-child(3)", timeout=120_000)  # reloaded when done
    rows = page.locator("table.findings tbody tr")
    assert rows.count() == 3
    assert rows.nth(0).locator(".badge").inner_text() == "copy"
    assert rows.nth(2).locator(".badge").inner_text() == "no match"
    assert "unrelated_coffee.jpg" in rows.nth(2).inner_text()
    page.screenshot(type="jpeg", quality=80, path=str(shots / "en-case.jpg"), full_page=True)

    rows.nth(0).get_by_role("link").last.click()
    page.wait_for_url(re.compile(r"/findings/\d+$"))
    assert page.locator("polygon.region").count() >= 2  # the matched region, on the suspect and on the original
    assert "Why" in page.locator("p.why").first.inner_text()
    page.screenshot(type="jpeg", quality=80, path=str(shots / "en-finding.jpg"), full_page=True)
    with page.expect_download() as info:
        page.get_by_role("link", name="PDF").click()
    report = tmp_path / "report.pdf"
    info.value.save_as(report)
    assert report.read_bytes().startswith(b"%PDF")
    sign_out(page)

    sign_in(page, base, "bob")
    page.wait_for_url(re.compile(r"/cases$"))
    assert "BJ-2026-0420" not in page.content()
    response = page.goto(case_url)
    assert response is not None and response.status == 404
    assert "BJ-2026-0420" not in page.content()
    sign_out(page)
    page.close()


def test_the_main_pages_in_both_languages(site: Any, browser: Any, tmp_path: Path) -> None:
    base, _, _ = site
    shots = shots_dir(tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    page = browser.new_page()
    for lang, heading in (("zh", "登记作品"), ("en", "Registered works")):
        page.goto(f"{base}/language/{lang}?next=/login")
        sign_in(page, base, "registrar")
        page.wait_for_url(re.compile(r"/works$"))
        assert heading in page.locator("h1").inner_text()
        assert page.locator("html").get_attribute("lang") == ("zh-Hans" if lang == "zh" else "en")
        page.screenshot(type="jpeg", quality=80, path=str(shots / f"{lang}-works.jpg"), full_page=True)
        sign_out(page)
        sign_in(page, base, "audrey")
        page.wait_for_url(re.compile(r"/audit$"))
        assert page.locator("p.ok").count() == 1  # the chain verified on the page
        page.screenshot(type="jpeg", quality=80, path=str(shots / f"{lang}-audit.jpg"))
        sign_out(page)
        if lang == "zh":
            sign_in(page, base, "alice")
            page.wait_for_url(re.compile(r"/cases$"))
            assert "案件" in page.locator("h1").inner_text()
            page.locator("table.list a").first.click()
            page.wait_for_url(re.compile(r"/cases/\d+$"))
            page.screenshot(type="jpeg", quality=80, path=str(shots / "zh-case.jpg"), full_page=True)
            page.locator("table.findings a").nth(1).click()
            page.wait_for_url(re.compile(r"/findings/\d+$"))
            assert "依据" in page.locator("p.why").first.inner_text()
            page.screenshot(type="jpeg", quality=80, path=str(shots / "zh-finding.jpg"), full_page=True)
            sign_out(page)
    page.close()


def test_the_supervision_page_in_both_languages(site: Any, browser: Any, tmp_path: Path) -> None:
    base, _, _ = site
    shots = shots_dir(tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    page = browser.new_page()
    for lang, heading, place, rising in (
        ("zh", "监管", "浙江省 杭州市", "上升"),
        ("en", "Supervision", "Zhejiang Hangzhou", "rising"),
    ):
        page.goto(f"{base}/language/{lang}?next=/login")
        sign_in(page, base, "sun")
        page.wait_for_url(re.compile(r"/supervision$"))  # a supervisor's home
        page.goto(f"{base}/supervision?month=2026-11")
        for chart in ("trend", "regions", "entities"):  # drawn by the ECharts this server serves
            page.wait_for_selector(f"#{chart}-chart svg")
        assert heading in page.locator("h1").inner_text()
        first = page.locator("table.list tbody tr").first.inner_text()
        assert place in first and rising in first  # 8 of 10 against 1 of 10, beyond chance
        assert "hz1@taobao-demo" in page.locator("body").inner_text()  # the two shops are one entity
        assert page.locator('a[href^="/supervision/evidence"]').count() == 0  # figures, never the findings
        page.screenshot(type="jpeg", quality=80, path=str(shots / f"{lang}-supervision.jpg"), full_page=True)
        sign_out(page)
    sign_in(page, base, "audrey")
    page.goto(f"{base}/supervision?month=2026-11")
    page.locator('a[href^="/supervision/evidence"]').first.click()
    page.wait_for_url(re.compile(r"/supervision/evidence"))
    assert page.locator("table.list tbody tr").count() == 8
    page.screenshot(type="jpeg", quality=80, path=str(shots / "en-supervision-evidence.jpg"), full_page=True)
    sign_out(page)
    page.close()
