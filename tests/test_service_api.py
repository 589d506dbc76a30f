"""The HTTP API end to end on the bundled demo images: registering, cases, scans, jobs, findings, reports, audit."""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.reports.bundle import verify_bundle
from tests.service_support import PASSWORD, People, office, suspect, suspects_zip


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Any:
    home = tmp_path_factory.mktemp("office")
    with office(home) as (client, people, _):
        yield client, people, home


def new_case(client: TestClient, people: People, who: str = "alice", number: str = "BJ-2026-1") -> int:
    r = client.post("/api/v1/cases", headers=people.auth(who), json={"number": number, "title": "seized phone"})
    assert r.status_code == 201, r.text
    return int(r.json()["case"]["id"])


def scan_one(client: TestClient, people: People, case_id: int, name: str) -> dict[str, Any]:
    """Alice scans one demo suspect into the case; the scan's JSON."""
    r = client.post(
        f"/api/v1/cases/{case_id}/scans", headers=people.auth("alice"), files={"files": (name, suspect(name))}
    )
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


def wait_for(client: TestClient, people: People, case_id: int, job_id: int) -> dict[str, Any]:
    for _ in range(600):
        r = client.get(f"/api/v1/cases/{case_id}/jobs/{job_id}", headers=people.auth("alice"))
        job: dict[str, Any] = r.json()["job"]
        if job["state"] in ("done", "cancelled"):
            return r.json()
        time.sleep(0.1)
    raise AssertionError("job did not finish")


def test_one_image_is_scanned_at_once_with_the_json_of_the_cli(served: Any) -> None:
    client, people, _ = served
    case_id = new_case(client, people)
    r = client.post(
        f"/api/v1/cases/{case_id}/scans",
        headers=people.auth("alice"),
        files={"files": ("collage.jpg", suspect("collage_auvers_tanguy.jpg"), "text/plain")},  # type is ignored
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["verdict"] == "copy"
    assert {m["ref"] for m in body["matches"]} >= {"vangogh-church-at-auvers", "vangogh-pere-tanguy"}
    assert {"path", "sha256", "verdict", "matches", "width", "height", "format", "elapsed_ms"} <= set(body)
    finding = client.get(f"/api/v1/cases/{case_id}/findings/{body['finding_id']}", headers=people.auth("alice"))
    assert finding.json()["finding"]["result"]["matches"] == body["matches"]
    # the response model keeps the scan's JSON whole: every key stored, none added
    assert body == finding.json()["finding"]["result"] | {
        "finding_id": body["finding_id"],
        "suspect_id": body["suspect_id"],
    }


def test_a_zip_becomes_a_job_whose_findings_come_most_severe_first(served: Any) -> None:
    client, people, _ = served
    case_id = new_case(client, people, number="BJ-2026-2")
    names = ["unrelated_coffee.jpg", "crop_night_cafe.jpg", "recolour_langlois_bridge.jpg"]
    upload = suspects_zip(names)
    r = client.post(f"/api/v1/cases/{case_id}/scans", headers=people.auth("alice"), files={"files": ("p.zip", upload)})
    assert r.status_code == 202, r.text
    done = wait_for(client, people, case_id, r.json()["job"]["id"])
    assert done["job"]["state"] == "done" and done["job"]["done"] == 3 and done["failed_items"] == []
    found = client.get(f"/api/v1/cases/{case_id}/findings", headers=people.auth("alice")).json()["findings"]
    assert [f["suspect"]["name"].split("/")[-1] for f in found][-1] == "unrelated_coffee.jpg"
    assert found[0]["verdict"] == "copy" and found[-1]["verdict"] == "no_match"
    assert {f["top_ref"] for f in found[:2]} == {"vangogh-night-cafe", "vangogh-langlois-bridge"}


def test_reports_are_made_from_the_stored_finding_and_verify(served: Any, tmp_path: Path) -> None:
    client, people, _ = served
    case_id = new_case(client, people, number="BJ-2026-3")
    scan = scan_one(client, people, case_id, "crop_night_cafe.jpg")
    base = f"/api/v1/cases/{case_id}/findings/{scan['finding_id']}/report"
    html = client.get(base, headers=people.auth("alice"))
    assert html.status_code == 200 and "BJ-2026-3" in html.text and "vangogh-night-cafe" in html.text
    pdf = client.get(base, params={"format": "pdf"}, headers=people.auth("alice"))
    assert pdf.content.startswith(b"%PDF")
    bundle = client.get(base, params={"format": "bundle"}, headers=people.auth("alice"))
    zipfile.ZipFile(io.BytesIO(bundle.content)).extractall(tmp_path)
    (folder,) = list(tmp_path.iterdir())
    assert verify_bundle(folder).ok
    evidence = json.loads((folder / "evidence.json").read_text())
    assert evidence["suspect"]["sha256"] == scan["sha256"]
    assert "uploaded to the Semblance server by user:alice" in evidence["case"]["obtained"]


def test_every_upload_scan_and_report_is_in_the_audit_chain_with_its_sha256(served: Any) -> None:
    client, people, _ = served
    case_id = new_case(client, people, number="BJ-2026-4")
    data = suspect("recolour_langlois_bridge.jpg")
    scan = client.post(
        f"/api/v1/cases/{case_id}/scans", headers=people.auth("alice"), files={"files": ("r.jpg", data)}
    ).json()
    client.get(f"/api/v1/cases/{case_id}/findings/{scan['finding_id']}/report", headers=people.auth("alice"))
    entries = client.get("/api/v1/audit", params={"limit": 1000}, headers=people.auth("audrey")).json()["entries"]
    mine = [e for e in entries if e["sha256"] == scan["sha256"]]
    assert {"receive", "scan", "report", "download"} <= {e["action"] for e in mine}
    assert all(e["who"] == "user:alice" for e in mine)
    assert {e["origin"].split(" ")[0] for e in mine} == {"http", "job"}  # this upload, and the earlier job's
    registered = [e for e in entries if e["action"] == "register"]
    assert registered and all(e["who"] == "user:registrar" for e in registered)
    verified = client.get("/api/v1/audit/verify", headers=people.auth("admin")).json()
    assert verified["intact"] and verified["problems"] == []


def test_a_session_needs_its_csrf_token_for_changes_and_sign_out_ends_it(served: Any) -> None:
    client, people, _ = served
    bad = client.post("/api/v1/session", json={"username": "bob", "password": "wrong password!"})
    assert bad.status_code == 401 and bad.json() == {"error": "wrong username or password"}
    ok = client.post("/api/v1/session", json={"username": "bob", "password": PASSWORD})
    assert ok.status_code == 200
    csrf = ok.json()["csrf_token"]
    assert client.post("/api/v1/cases", json={"number": "X-1"}).status_code == 403
    made = client.post("/api/v1/cases", json={"number": "X-1"}, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201
    assert client.delete("/api/v1/session", headers={"X-CSRF-Token": csrf}).status_code == 200
    assert client.get("/api/v1/cases").status_code == 401
    entries = client.get("/api/v1/audit", headers=people.auth("audrey")).json()["entries"]
    assert {"sign-in failed", "sign-in", "sign-out"} <= {e["action"] for e in entries if e["who"] == "user:bob"}


def test_only_investigators_it_is_shared_with_see_a_case(served: Any) -> None:
    client, people, _ = served
    case_id = new_case(client, people, number="BJ-2026-5")
    assert client.get(f"/api/v1/cases/{case_id}", headers=people.auth("bob")).status_code == 404
    assert case_id not in [c["id"] for c in client.get("/api/v1/cases", headers=people.auth("bob")).json()["cases"]]
    refused = client.post(f"/api/v1/cases/{case_id}/members", headers=people.auth("alice"), json={"username": "audrey"})
    assert refused.status_code == 422
    shared = client.post(f"/api/v1/cases/{case_id}/members", headers=people.auth("alice"), json={"username": "bob"})
    assert shared.status_code == 200 and shared.json()["case"]["members"] == ["alice", "bob"]
    assert client.get(f"/api/v1/cases/{case_id}", headers=people.auth("bob")).status_code == 200


def test_hostile_uploads_get_clear_4xx_errors(served: Any) -> None:
    client, people, _ = served
    case_id = new_case(client, people, number="BJ-2026-6")
    url = f"/api/v1/cases/{case_id}/scans"
    html = client.post(url, headers=people.auth("alice"), files={"files": ("x.jpg", b"<html><script>", "image/jpeg")})
    assert html.status_code == 415 and "x.jpg" in html.json()["error"] and "content" in html.json()["error"]
    truncated = client.post(
        url, headers=people.auth("alice"), files={"files": ("../../etc/cut.jpg", suspect("crop_night_cafe.jpg")[:900])}
    )
    assert truncated.status_code == 422 and truncated.json()["error"].startswith("cut.jpg:")
    assert client.post(url, headers=people.auth("alice")).status_code == 422
    bad_json = client.post(
        "/api/v1/cases", headers=people.auth("alice") | {"content-type": "application/json"}, content=b"{"
    )
    assert bad_json.status_code == 422 and "error" in bad_json.json()
    assert client.get("/api/v1/nothing-here", headers=people.auth("alice")).json() == {"error": "Not Found"}
    closed = client.post(f"/api/v1/cases/{case_id}/close", headers=people.auth("alice"))
    assert closed.json()["case"]["closed_at"]
    late = client.post(url, headers=people.auth("alice"), files={"files": ("c.jpg", suspect("crop_night_cafe.jpg"))})
    assert late.status_code == 409


def test_works_are_listed_searched_downloaded_and_removed_by_role(served: Any) -> None:
    client, people, _ = served
    listed = client.get("/api/v1/works", params={"q": "tanguy"}, headers=people.auth("audrey")).json()
    assert listed["total"] == 1 and listed["works"][0]["ref"] == "vangogh-pere-tanguy"
    original = client.get("/api/v1/works/vangogh-pere-tanguy/original", headers=people.auth("alice"))
    assert original.status_code == 200 and original.content[:3] == b"\xff\xd8\xff"
    assert client.get("/api/v1/works/vangogh-pere-tanguy/original", headers=people.auth("audrey")).status_code == 403
    no_reason = client.delete("/api/v1/works/vangogh-pere-tanguy", params={"reason": " "}, headers=people.auth("admin"))
    assert no_reason.status_code == 422
    assert client.get("/api/v1/works/nope", headers=people.auth("alice")).status_code == 404


def test_api_keys_are_shown_once_stored_hashed_and_revocable(served: Any) -> None:
    client, people, home = served
    with_a_key = client.post("/api/v1/api-keys", headers=people.auth("alice"), json={"user_id": 3})
    assert with_a_key.status_code == 403  # a leaked key cannot mint keys that outlive its revocation
    session = client.post("/api/v1/session", json={"username": "alice", "password": PASSWORD}).json()
    csrf = {"X-CSRF-Token": session["csrf_token"]}
    made = client.post("/api/v1/api-keys", headers=csrf, json={"user_id": 3, "label": "scanner"})
    client.cookies.clear()
    assert made.status_code == 201
    secret = made.json()["secret"]
    assert secret not in (home / "service.sqlite").read_bytes().decode("latin-1")
    listed = client.get("/api/v1/api-keys", headers=people.auth("admin")).text
    assert secret not in listed and secret.split("_", 2)[2] not in listed  # the secret may hold "_" too
    assert client.get("/api/v1/cases", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    client.delete(f"/api/v1/api-keys/{made.json()['api_key']['id']}", headers=people.auth("admin"))
    assert client.get("/api/v1/cases", headers={"Authorization": f"Bearer {secret}"}).status_code == 401


def test_health_is_open_and_metrics_are_for_admins(served: Any) -> None:
    client, people, _ = served
    assert client.get("/healthz").json() == {"status": "ok"}
    metrics = client.get("/api/v1/metrics", headers=people.auth("admin"))
    assert metrics.status_code == 200 and "semblance_registered_works 4.0" in metrics.text
    assert 'semblance_scans_total{verdict="no_match"}' in metrics.text  # the zip job's unrelated picture
    assert client.get("/api/v1/metrics", headers=people.auth("audrey")).status_code == 403


def embedded_fonts(pdf: bytes) -> dict[str, bool]:
    """Each font of a PDF by name, and whether its glyphs are embedded in the file."""
    from pypdf import PdfReader

    out = {}
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for ref in (page["/Resources"].get("/Font") or {}).values():
            font = ref.get_object()
            descriptor = font.get("/FontDescriptor")
            descriptor = descriptor.get_object() if descriptor is not None else {}
            out[str(font["/BaseFont"])] = any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3"))
    return out


def test_a_report_in_chinese_embeds_its_cjk_font(served: Any) -> None:
    from pypdf import PdfReader

    from service.reports.pdf import ReportFontError, cjk_font_file

    try:
        cjk_font_file()
    except ReportFontError:
        pytest.skip("no CJK TrueType font installed (.ci/run installs fonts-wqy-zenhei)")
    client, people, _ = served
    case_id = new_case(client, people, number="京-2026-7")
    scan = scan_one(client, people, case_id, "crop_night_cafe.jpg")
    base = f"/api/v1/cases/{case_id}/findings/{scan['finding_id']}/report"
    html = client.get(base, params={"lang": "zh"}, headers=people.auth("alice")).text
    assert "技术比对报告" in html and "京-2026-7" in html and "法院" in html  # heading, case, the legal note
    english = client.get(base, params={"lang": "en"}, headers=people.auth("alice")).text
    assert "Technical comparison report" in english and "技术比对报告" not in english
    pdf = client.get(base, params={"lang": "zh", "format": "pdf"}, headers=people.auth("alice")).content
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "技术比对报告" in text and "实质性相似" in text
    cjk = {name: embedded for name, embedded in embedded_fonts(pdf).items() if "WenQuanYi" in name or "CJK" in name}
    assert cjk and all(cjk.values())  # the glyphs travel with the PDF


def test_case_fields_refuse_control_and_bidi_characters(served: Any) -> None:
    """A case number with U+202E would read reversed in every page and report; NUL, BEL and ESC are refused too."""
    client, people, _ = served
    for bad in ("2026\u202e140", "A\x00B", "bell\x07", "esc\x1b[31m"):
        r = client.post("/api/v1/cases", headers=people.auth("alice"), json={"number": bad, "title": "t"})
        assert r.status_code == 422 and "control or formatting characters" in r.json()["error"], bad
    r = client.post("/api/v1/cases", headers=people.auth("alice"), json={"number": "OK-1", "title": "t\u2066x"})
    assert r.status_code == 422 and "case title" in r.json()["error"]
    fine = client.post("/api/v1/cases", headers=people.auth("alice"), json={"number": "案件-2026-7", "title": "油画"})
    assert fine.status_code == 201
