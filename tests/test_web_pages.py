"""The web UI's pages without a browser: guards, CSRF on forms, language choice, and a complete Chinese catalogue."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service import i18n
from tests.service_support import PASSWORD, office, suspect

WEB = Path(__file__).resolve().parents[1] / "service" / "web"


def msgids() -> set[str]:
    """Every literal passed to _() in the templates, the page code and the report renderers."""
    found: set[str] = set()
    for f in (WEB / "templates").glob("*.html"):
        for m in re.finditer(r"""_\(\s*(?:"([^"\\]*)"|'([^'\\]*)')\s*\)""", f.read_text()):
            found.add(m.group(1) if m.group(1) is not None else m.group(2))
    service = WEB.parent
    for f in (
        WEB / "pages.py",
        service / "reports" / "sections.py",
        service / "reports" / "html.py",
        service / "reports" / "pdf.py",
    ):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "_" and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found.add(arg.value)
    return found


def test_every_interface_and_report_text_has_a_chinese_translation() -> None:
    ids = msgids()
    assert len(ids) > 100
    missing = sorted(ids - set(i18n.catalogue("zh")))
    assert missing == []
    from index.registry import WORK_METADATA
    from service.reports.sections import FAMILY_WORDS, NO_METADATA, READINGS_IN_ENGLISH
    from service.reports.wording import ABSENCE_NOTE, BASIS, LEGAL_NOTE, LIMITATIONS, PRESENCE_NOTE, VERBAL_SCALE
    from service.web.pages import VERDICT_LABELS

    constants = [*VERDICT_LABELS.values(), *(t for _, _, t in VERBAL_SCALE), *BASIS.values(), *LIMITATIONS]
    constants += [LEGAL_NOTE, ABSENCE_NOTE, PRESENCE_NOTE, NO_METADATA, *FAMILY_WORDS.values(), "copy", "no_match"]
    constants.append(READINGS_IN_ENGLISH)
    constants += WORK_METADATA.values()  # a work's labels, printed by the report beside its metadata
    for text in constants:  # passed to _() as values from evidence.json
        assert text in i18n.catalogue("zh"), text


def test_the_language_follows_the_choice_then_the_browser() -> None:
    assert i18n.from_accept_language("zh-CN,zh;q=0.9,en;q=0.8") == "zh"
    assert i18n.from_accept_language("en-GB,en;q=0.9,zh;q=0.8") == "en"
    assert i18n.from_accept_language("de-DE,zh-Hans;q=0.5") == "zh"
    assert i18n.from_accept_language("fr") == "en"
    assert i18n.choose("en", "zh", "zh-CN") == "en"
    assert i18n.choose("", "zh", "en") == "zh"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with office(tmp_path_factory.mktemp("office")) as (c, people, _):
        yield c, people


def login_token(c: TestClient) -> str:
    """The sign-in form's token (its cookie is now in the client, as in a browser that opened the page)."""
    found = re.search(r'name="login_token" value="([^"]+)"', c.get("/login").text)
    assert found is not None
    return found.group(1)


def sign_in_form(c: TestClient, username: str, **extra: str) -> Any:
    data = {"username": username, "password": PASSWORD, "login_token": login_token(c), **extra}
    return c.post("/login", data=data, follow_redirects=False)


def signed_in(c: TestClient, username: str) -> str:
    c.cookies.clear()
    r = sign_in_form(c, username)
    assert r.status_code == 303
    page = c.get("/")
    token = re.search(r'name="csrf-token" content="([^"]*)"', page.text)
    assert token is not None
    return token.group(1)


def test_pages_need_a_session_and_the_right_role(client: Any) -> None:
    c, people = client
    c.cookies.clear()
    r = c.get("/cases", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/cases"
    assert c.get("/cases", headers=people.auth("alice"), follow_redirects=False).status_code == 303  # keys: API only
    signed_in(c, "alice")
    assert c.get("/audit").status_code == 403
    signed_in(c, "audrey")
    assert c.get("/cases").status_code == 403
    assert c.get("/pictures/works/vangogh-night-cafe.jpg").status_code == 403  # auditors read records, not files
    assert c.get("/audit").status_code == 200


def test_a_colleagues_case_page_and_pictures_are_not_found(client: Any) -> None:
    c, _ = client
    csrf = signed_in(c, "alice")
    made = c.post("/cases", data={"number": "PAGE-1", "csrf_token": csrf}, follow_redirects=False)
    case_url = made.headers["location"]
    scan = c.post(
        f"/api/v1{case_url}/scans",
        headers={"X-CSRF-Token": csrf},
        files={"files": ("a.jpg", suspect("crop_night_cafe.jpg"))},
    )
    picture = f"/pictures{case_url}/findings/{scan.json()['finding_id']}.jpg"
    assert c.get(picture).headers["content-type"] == "image/jpeg"
    signed_in(c, "bob")
    for url in (case_url, f"{case_url}/findings/{scan.json()['finding_id']}", picture):
        r = c.get(url)
        assert r.status_code == 404 and "PAGE-1" not in r.text


def test_forms_without_the_sessions_csrf_token_change_nothing(client: Any) -> None:
    c, _ = client
    signed_in(c, "alice")
    r = c.post("/cases", data={"number": "FORGED-1", "csrf_token": "guess"}, follow_redirects=False)
    assert r.status_code == 403
    assert "FORGED-1" not in c.get("/cases").text
    assert c.post("/logout", data={}, follow_redirects=False).status_code == 403
    assert c.get("/cases").status_code == 200  # still signed in


def test_a_chinese_browser_gets_chinese_pages_and_redirects_stay_on_this_server(client: Any) -> None:
    c, _ = client
    c.cookies.clear()
    page = c.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert 'lang="zh-Hans"' in page.text and "用户名" in page.text
    r = c.get("/language/en", params={"next": "//evil.example/x"}, follow_redirects=False)
    assert r.headers["location"] == "/"
    for target in ("https://evil.example", "//evil.example", "/\t/evil.example", "/\\evil.example"):
        c.cookies.clear()
        assert sign_in_form(c, "alice", next=target).headers["location"] == "/", target
    c.cookies.clear()
    assert sign_in_form(c, "alice", next="/cases?q=中").status_code == 303  # encoded, not a server error


def test_a_sign_in_form_posted_without_its_own_token_is_refused(client: Any) -> None:
    c, _ = client
    c.cookies.clear()
    forged = c.post("/login", data={"username": "alice", "password": PASSWORD}, follow_redirects=False)
    assert forged.status_code == 403 and "semblance_session" not in forged.headers.get("set-cookie", "")
    token = login_token(c)
    c.cookies.clear()  # another site's form cannot send this browser's cookie with it
    stolen = c.post("/login", data={"username": "alice", "password": PASSWORD, "login_token": token})
    assert stolen.status_code == 403


def test_a_titles_bidi_and_control_characters_are_shown_not_obeyed_on_a_page(client: Any) -> None:
    """A work registered with U+202E and ESC in its title: the works page prints them as visible escapes, as the
    CLI and the reports do, so the page reads as the data is."""
    c, people = client
    upload = {"files": ("coffee.jpg", suspect("unrelated_coffee.jpg"))}
    title = "Coffee\u202eeulav\x1b[31m"
    r = c.post(
        "/api/v1/works", headers=people.auth("registrar"), files=upload, data={"ref": "coffee-bidi", "title": title}
    )
    assert r.status_code == 200 and r.json()["results"][0]["status"] == "registered", r.text
    signed_in(c, "registrar")
    page = c.get("/works", params={"q": "coffee-bidi"}).text
    assert "\u202e" not in page and "\x1b" not in page
    assert "Coffee\\u202eeulav\\x1b[31m" in page
