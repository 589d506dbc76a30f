"""Accounts over HTTP: separation of duties (an admin manages users but never acts as one) and the lifecycle of a
user (disable, enable, role, password), each taking effect at once and audited. Own office: these tests change
who may do what."""

from __future__ import annotations

from typing import Any

import pytest

from tests.service_support import PASSWORD, office


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with office(tmp_path_factory.mktemp("office")) as (client, people, _):
        yield client, people


def test_an_admin_cannot_mint_an_investigators_key_to_read_their_cases(served: Any) -> None:
    """Separation of duties: an admin manages accounts but reads no case; over HTTP a key is made by its own user."""
    client, people = served
    keys_before = client.get("/api/v1/api-keys", headers=people.auth("admin")).json()["api_keys"]
    session = client.post("/api/v1/session", json={"username": "admin", "password": PASSWORD}).json()
    csrf = {"X-CSRF-Token": session["csrf_token"]}
    minted = client.post("/api/v1/api-keys", headers=csrf, json={"user_id": 3, "label": "peek"})
    client.cookies.clear()
    assert minted.status_code == 403 and "made by the user it acts as" in minted.json()["error"]
    assert client.get("/api/v1/api-keys", headers=people.auth("admin")).json()["api_keys"] == keys_before
    assert client.get("/api/v1/cases", headers=people.auth("admin")).status_code == 403


def test_a_disabled_user_loses_every_session_and_key_at_once_and_their_cases_stay_shared(served: Any) -> None:
    client, people = served
    case = client.post("/api/v1/cases", headers=people.auth("bob"), json={"number": "D-1"}).json()["case"]["id"]
    client.post(f"/api/v1/cases/{case}/members", headers=people.auth("bob"), json={"username": "alice"})
    assert client.post("/api/v1/session", json={"username": "bob", "password": PASSWORD}).status_code == 200
    assert client.get("/api/v1/me").json()["user"]["username"] == "bob"  # the session works before
    disabled = client.post("/api/v1/users/4/disable", headers=people.auth("admin"))
    assert disabled.status_code == 200 and disabled.json()["user"]["disabled"] is True
    assert client.get("/api/v1/cases", headers=people.auth("bob")).status_code == 401
    assert client.get("/api/v1/me").status_code == 401  # the same session cookie, ended
    client.cookies.clear()
    assert client.post("/api/v1/session", json={"username": "bob", "password": PASSWORD}).status_code == 401
    client.cookies.clear()
    assert client.get(f"/api/v1/cases/{case}", headers=people.auth("alice")).status_code == 200
    enabled = client.post("/api/v1/users/4/enable", headers=people.auth("admin"))
    assert enabled.status_code == 200 and enabled.json()["user"]["disabled"] is False
    assert client.get("/api/v1/cases", headers=people.auth("bob")).status_code == 401  # his old key stays revoked
    actions = [e["action"] for e in client.get("/api/v1/audit", headers=people.auth("audrey")).json()["entries"]]
    assert "user disabled" in actions and "user enabled" in actions
    last_admin = client.post("/api/v1/users/1/disable", headers=people.auth("admin"))
    assert last_admin.status_code == 422 and "last enabled admin" in last_admin.json()["error"]
    assert client.post("/api/v1/users/999/disable", headers=people.auth("admin")).status_code == 404
    assert client.post("/api/v1/users/4/disable", headers=people.auth("alice")).status_code == 403


def test_a_role_change_applies_at_once_and_a_password_reset_ends_sessions(served: Any) -> None:
    client, people = served
    assert client.get("/api/v1/audit", headers=people.auth("registrar")).status_code == 403
    made = client.put("/api/v1/users/2/role", headers=people.auth("admin"), json={"role": "auditor"})
    assert made.status_code == 200 and made.json()["user"]["role"] == "auditor"
    assert client.get("/api/v1/audit", headers=people.auth("registrar")).status_code == 200
    bad = client.put("/api/v1/users/2/role", headers=people.auth("admin"), json={"role": "overlord"})
    assert bad.status_code == 422
    over_http = client.put("/api/v1/users/3/password", headers=people.auth("admin"), json={"password": "a new pass"})
    assert over_http.status_code == 403 and "reset by them" in over_http.json()["error"]  # or the admin could read
    client.cookies.clear()  # alice's cases; her reset is an operator's, at the shell
    assert client.post("/api/v1/session", json={"username": "audrey", "password": PASSWORD}).status_code == 200
    assert client.get("/api/v1/me").status_code == 200  # the auditor signed in; requests below carry keys
    short = client.put("/api/v1/users/5/password", headers=people.auth("admin"), json={"password": "x"})
    assert short.status_code == 422
    reset = client.put("/api/v1/users/5/password", headers=people.auth("admin"), json={"password": "a new long pass"})
    assert reset.status_code == 200
    assert client.get("/api/v1/me").status_code == 401  # her session ended with the reset
    client.cookies.clear()
    assert client.post("/api/v1/session", json={"username": "audrey", "password": PASSWORD}).status_code == 401
    assert client.post("/api/v1/session", json={"username": "audrey", "password": "a new long pass"}).status_code == 200
