"""The service's command line: users and API keys made from the shell (audited as the operating-system user), and
`semblance serve` over plain HTTP and over TLS with a certificate it makes, the cookie's Secure flag following."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cli_support import REPO, semblance
from tests.service_support import free_port, wait_until_up

PASSWORD = "a long office password"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    h = tmp_path_factory.mktemp("cli") / "ws"
    semblance(h, "init", "--embedder", "effnet-lite0")
    semblance(h, "users", "add", "chief", "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n")
    semblance(
        h, "users", "add", "ivy", "--role", "investigator", "--language", "zh", "--password-stdin", stdin=PASSWORD
    )
    return h


@pytest.fixture
def server(home: Path, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`semblance serve` in its own process (with the test's parameters as options); yields its base URL and the
    file its output goes to."""
    port = free_port()
    extra = list(getattr(request, "param", []))
    printed = tmp_path / "serve.out"
    with printed.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "--home", str(home), "serve", "--port", str(port), *extra],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "NO_COLOR": "1", "COLUMNS": "300", "PYTHONUNBUFFERED": "1"},
        )
    scheme = "https" if "--tls-self-signed" in extra else "http"
    base = f"{scheme}://127.0.0.1:{port}"
    try:
        wait_until_up(base, lambda: proc.poll() is None)
        yield base, printed
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_users_and_keys_from_the_shell_are_hashed_audited_and_revocable(home: Path) -> None:
    users = json.loads(semblance(home, "users", "list", "--json").stdout)
    assert [(u["username"], u["role"], u["language"]) for u in users] == [
        ("chief", "admin", ""),
        ("ivy", "investigator", "zh"),
    ]
    short = semblance(
        home, "users", "add", "xavier", "--role", "auditor", "--password-stdin", stdin="short", check=False
    )
    assert short.returncode == 2 and "at least" in short.stderr and "Traceback" not in short.stderr
    made = semblance(home, "api-keys", "create", "ivy", "--label", "scanner")
    secret = made.stdout.strip()
    assert secret.startswith("smb_") and "shown once" in made.stderr
    assert secret not in (home / "service.sqlite").read_bytes().decode("latin-1")
    listed = json.loads(semblance(home, "api-keys", "list", "--json").stdout)
    assert listed[0]["label"] == "scanner" and secret not in json.dumps(listed)
    semblance(home, "api-keys", "revoke", str(listed[0]["id"]))
    assert json.loads(semblance(home, "api-keys", "list", "--json").stdout)[0]["revoked_at"]
    trail = json.loads(semblance(home, "audit", "show", "--json").stdout)
    actions = [(e["action"], e["who"].startswith("os:")) for e in trail]
    assert (
        ("user added", True) in actions
        and ("api key created", True) in actions
        and ("api key revoked", True) in actions
    )
    assert semblance(home, "audit", "verify").returncode == 0


def test_an_operator_disables_enables_and_changes_users_from_the_shell(home: Path) -> None:
    semblance(home, "users", "add", "dora", "--role", "registrar", "--password-stdin", stdin=PASSWORD)
    semblance(home, "api-keys", "create", "dora")
    semblance(home, "users", "disable", "dora")
    users = {u["username"]: u for u in json.loads(semblance(home, "users", "list", "--json").stdout)}
    assert users["dora"]["disabled"] is True
    keys = json.loads(semblance(home, "api-keys", "list", "--json").stdout)
    assert all(k["revoked_at"] for k in keys if k["user_id"] == users["dora"]["id"])  # her key ended with her
    semblance(home, "users", "enable", "dora")
    semblance(home, "users", "set-role", "dora", "auditor")
    semblance(home, "users", "reset-password", "dora", "--password-stdin", stdin="another long password")
    users = {u["username"]: u for u in json.loads(semblance(home, "users", "list", "--json").stdout)}
    assert (users["dora"]["disabled"], users["dora"]["role"]) == (False, "auditor")
    last = semblance(home, "users", "disable", "chief", check=False)
    assert last.returncode == 2 and "last enabled admin" in last.stderr and "Traceback" not in last.stderr
    nobody = semblance(home, "users", "disable", "nobody", check=False)
    assert nobody.returncode == 2 and "no user 'nobody'" in nobody.stderr
    actions = [e["action"] for e in json.loads(semblance(home, "audit", "show", "--json").stdout)]
    for action in ("user disabled", "user enabled", "user role set", "user password reset"):
        assert action in actions


def test_serve_over_plain_http_sets_a_cookie_without_secure(home: Path, server: tuple[str, Path]) -> None:
    base, _ = server
    with httpx.Client(base_url=base, trust_env=False) as http:
        r = http.post("/api/v1/session", json={"username": "ivy", "password": PASSWORD})
        assert r.status_code == 200
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
        assert http.get("/cases", headers={"Accept-Language": "en"}).status_code == 200
        assert "strict-transport-security" not in http.get("/login").headers  # meaningless, and ignored, over HTTP


def test_a_second_server_on_the_same_workspace_is_refused_naming_the_first(
    home: Path, server: tuple[str, Path]
) -> None:
    """Two servers would each run the job queue over one store; the second is refused, on any port, and the CLI's
    other commands keep working beside the first."""
    base, _ = server
    second = semblance(home, "serve", "--port", str(free_port()), check=False, timeout=120)
    assert second.returncode == 2 and "Traceback" not in second.stderr
    assert "is already served" in second.stderr and base in second.stderr.replace("\n", "")
    assert json.loads(semblance(home, "users", "list", "--json").stdout)  # the shell beside a server, as before


@pytest.mark.parametrize("server", [["--tls-self-signed"]], indirect=True)
def test_serve_with_its_own_certificate_sets_secure_cookies_and_prints_its_fingerprint(
    home: Path, server: tuple[str, Path]
) -> None:
    base, printed = server
    assert base.startswith("https://")
    with httpx.Client(base_url=base, verify=False, trust_env=False) as http:
        r = http.post("/api/v1/session", json={"username": "ivy", "password": PASSWORD})
        assert r.status_code == 200 and "Secure" in r.headers["set-cookie"]
        login = http.get("/login")  # the pre-sign-in cookie too, and HSTS on every answer over TLS
        assert "Secure" in login.headers["set-cookie"] and login.headers["strict-transport-security"]
        assert http.get("/healthz").headers["strict-transport-security"] == "max-age=31536000"
    from service.web.tls import fingerprint

    assert (home / "tls" / "server.key").stat().st_mode & 0o077 == 0
    expected = fingerprint(home / "tls" / "server.crt")
    assert re.fullmatch(r"([0-9A-F]{2}:){31}[0-9A-F]{2}", expected)
    assert expected in printed.read_text()  # what the person starting the server is told to check
