"""Every operation of the published OpenAPI spec is refused without credentials (401), for each role it does not
admit (403), and for a case that is not the caller's (404, the same answer as for an id that does not exist), and
a refusal carries nothing but its error: no data, no existence oracle, no side effect."""

from __future__ import annotations

import io
import time
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.service_support import USERS, suspect, suspects_zip
from tests.service_support import office as open_office

OPEN = {("get", "/healthz"), ("post", "/api/v1/session")}


def png() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Any:
    home = tmp_path_factory.mktemp("office")
    with open_office(home) as (client, people, _):
        ids: dict[str, Any] = {"ref": "vangogh-night-cafe", "key_id": 1}
        for who in ("alice", "bob"):
            case = client.post("/api/v1/cases", headers=people.auth(who), json={"number": f"SECRET-{who}"}).json()
            cid = case["case"]["id"]
            scan = client.post(
                f"/api/v1/cases/{cid}/scans",
                headers=people.auth(who),
                files={"files": ("c.jpg", suspect("crop_night_cafe.jpg"))},
            ).json()
            job = client.post(
                f"/api/v1/cases/{cid}/scans",
                headers=people.auth(who),
                files={"files": ("p.zip", suspects_zip(["unrelated_coffee.jpg"]))},
            ).json()["job"]
            ids[who] = {"case_id": cid, "finding_id": scan["finding_id"], "job_id": job["id"]}
        for _ in range(300):  # let the jobs finish, so nothing changes under the matrix
            if not client.app.state.store.jobs.open_jobs():
                break
            time.sleep(0.1)
        yield client, people, ids


def operations(client: TestClient) -> list[tuple[str, str, dict[str, Any]]]:
    spec = client.get("/openapi.json").json()
    return [(m, p, op) for p, ops in spec["paths"].items() for m, op in ops.items() if (m, p) not in OPEN]


def call(
    client: TestClient, method: str, path: str, op: dict[str, Any], values: dict[str, Any], headers: dict[str, str]
) -> Any:
    url = path
    for name, value in values.items():
        url = url.replace("{" + name + "}", str(value))
    kwargs: dict[str, Any] = {"headers": headers}
    params = {p["name"]: "a reason" for p in op.get("parameters", []) if p["in"] == "query" and p.get("required")}
    if params:
        kwargs["params"] = params
    content = op.get("requestBody", {}).get("content", {})
    if "multipart/form-data" in content:
        kwargs["files"] = {"files": ("x.png", png())}
    elif "application/json" in content:
        kwargs["json"] = {
            "number": "N-1",
            "username": "bob",
            "password": "x" * 12,
            "role": "admin",
            "user_id": 1,
            "language": "en",
            "label": "l",
        }
    return client.request(method.upper(), url, **kwargs)


def refused_cleanly(r: Any, status: int, *secrets: str) -> None:
    assert r.status_code == status, (r.request.method, r.request.url, r.status_code, r.text)
    assert list(r.json()) == ["error"]
    for s in secrets:
        assert s not in r.text


def test_the_spec_publishes_roles_for_every_guarded_operation(office: Any) -> None:
    client, _, _ = office
    ops = operations(client)
    assert len(ops) >= 25
    for method, path, op in ops:
        assert op.get("x-roles"), f"{method} {path} has no published roles"
        assert op["x-case"] == ("{case_id}" in path), f"{method} {path}"


def test_no_credentials_get_401_on_every_operation(office: Any) -> None:
    client, _, ids = office
    for method, path, op in operations(client):
        r = call(client, method, path, op, ids["alice"] | ids, {})
        refused_cleanly(r, 401, "SECRET-alice", "vangogh")
        bad = call(client, method, path, op, ids["alice"] | ids, {"Authorization": "Bearer smb_forged_key"})
        refused_cleanly(bad, 401)


def test_each_role_an_operation_does_not_admit_gets_403(office: Any) -> None:
    client, people, ids = office
    for method, path, op in operations(client):
        for user, role in USERS.items():
            if role in op["x-roles"]:
                continue
            r = call(client, method, path, op, ids["alice"] | ids, people.auth(user))
            refused_cleanly(r, 403, "SECRET-alice", "vangogh")


def test_another_investigators_case_is_404_exactly_like_a_missing_one(office: Any) -> None:
    client, people, ids = office
    missing = {"case_id": 999_999, "finding_id": 999_999, "job_id": 999_999}
    for method, path, op in operations(client):
        if not op["x-case"]:
            continue
        theirs = call(client, method, path, op, ids["alice"] | ids, people.auth("bob"))
        refused_cleanly(theirs, 404, "SECRET-alice")
        nothing = call(client, method, path, op, missing | ids, people.auth("bob"))
        refused_cleanly(nothing, 404)
        assert theirs.json()["error"].split()[:2] == nothing.json()["error"].split()[:2]
        if "{finding_id}" in path or "{job_id}" in path:  # bob's own case, alice's finding or job inside it
            mixed = ids["alice"] | {"case_id": ids["bob"]["case_id"]}
            refused_cleanly(call(client, method, path, op, mixed | ids, people.auth("bob")), 404, "SECRET-alice")


def test_refusals_changed_nothing(office: Any) -> None:
    client, people, ids = office
    case = client.get(f"/api/v1/cases/{ids['alice']['case_id']}", headers=people.auth("alice")).json()["case"]
    assert case["closed_at"] is None and case["members"] == ["alice"]
    assert client.get("/api/v1/works", headers=people.auth("admin")).json()["total"] == 4
    keys = client.get("/api/v1/api-keys", headers=people.auth("admin")).json()["api_keys"]
    assert all(k["revoked_at"] is None for k in keys)
    assert [u["username"] for u in client.get("/api/v1/users", headers=people.auth("admin")).json()["users"]] == list(
        USERS
    )
