"""Evidence that keeps its word: a finding's report states the finding as it was recorded, and a work removed from
the registry after the scan is named in it (when, by whom, why) with its record and file, instead of the report
silently concluding something else. Own office: these tests remove a registered work."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from service.reports.bundle import reproduce_bundle, verify_bundle
from tests.service_support import office, suspect


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with office(tmp_path_factory.mktemp("office")) as (client, people, _):
        yield client, people


def test_a_report_made_after_its_work_was_removed_states_the_recorded_finding(served: Any, tmp_path: Path) -> None:
    client, people = served
    case = client.post("/api/v1/cases", headers=people.auth("alice"), json={"number": "EV-1"}).json()["case"]["id"]
    files = {"files": ("crop_night_cafe.jpg", suspect("crop_night_cafe.jpg"))}
    scan = client.post(f"/api/v1/cases/{case}/scans", headers=people.auth("alice"), files=files).json()
    assert scan["verdict"] == "copy" and scan["matches"][0]["ref"] == "vangogh-night-cafe"
    removed = client.delete(
        "/api/v1/works/vangogh-night-cafe", params={"reason": "licence dispute settled"}, headers=people.auth("admin")
    )
    assert removed.status_code == 200
    base = f"/api/v1/cases/{case}/findings/{scan['finding_id']}/report"
    html = client.get(base, headers=people.auth("alice")).text
    assert "The finding as recorded" in html and "the verdict recorded then was: copy" in html
    assert "vangogh-night-cafe" in html and "was removed from the registry" in html
    assert "licence dispute settled" in html and "user:admin" in html
    bundle = client.get(base, params={"format": "bundle"}, headers=people.auth("alice"))
    zipfile.ZipFile(io.BytesIO(bundle.content)).extractall(tmp_path)
    (folder,) = list(tmp_path.iterdir())
    assert verify_bundle(folder).ok
    evidence = json.loads((folder / "evidence.json").read_text())
    [cited] = [m for m in evidence["recorded_finding"]["matches"] if m["ref"] == "vangogh-night-cafe"]
    assert cited["verdict"] == "copy" and cited["removed"]["reason"] == "licence dispute settled"
    assert cited["removed"]["work"]["title"] == "The Night Café (1888)"  # the record, kept by the audit trail
    kept = folder / cited["removed"]["original_file"]
    assert kept.is_file() and kept.stat().st_size > 1000  # the removed work's file, from the vault
    assert reproduce_bundle(folder).ok  # today's comparison in the bundle still reproduces
