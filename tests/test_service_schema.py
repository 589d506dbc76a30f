"""schemathesis over the published OpenAPI spec, authenticated with a role each operation admits: whatever it
generates, the server answers without a server error (every refusal is a 4xx with a JSON error), and every answer
conforms to the schema the spec declares for its status. And the spec itself: every operation declares a JSON
response schema for its success, except those that answer with a file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import response_schema_conformance

from service.engine import Engine
from service.store import Store
from service.web.app import create_app
from service.web.settings import ServiceSettings
from tests.service_support import add_people, suspect, works_zip

HOME: dict[str, Any] = {}


def _app() -> Any:
    """The app over a workspace with the demo works, a case with a finding, and one user per role."""
    import tempfile

    home = Path(tempfile.mkdtemp(prefix="semblance-schema-"))
    engine = Engine.init(str(home), ["auto"])
    people = add_people(home)
    app = create_app(ServiceSettings(home=home, rate_per_minute=1_000_000, sign_in_per_minute=1_000_000), engine=engine)
    client = TestClient(app)
    client.__enter__()  # runs the lifespan: store, gate and job runner stay up for the whole module
    client.post("/api/v1/works", headers=people.auth("registrar"), files={"files": ("w.zip", works_zip())})
    case = client.post("/api/v1/cases", headers=people.auth("alice"), json={"number": "FUZZ-1"}).json()["case"]
    client.post(
        f"/api/v1/cases/{case['id']}/scans",
        headers=people.auth("alice"),
        files={"files": ("c.jpg", suspect("crop_night_cafe.jpg"))},
    )
    HOME.update(home=home, engine=engine, client=client)
    return app


schema = schemathesis.openapi.from_asgi("/openapi.json", _app())
ROLE_USER = {"admin": "admin", "registrar": "registrar", "investigator": "alice", "auditor": "audrey"}


def fresh_key(role: str) -> str:
    """A new API key for the role's user, so an operation that revokes keys cannot lock the fuzzer out."""
    store = Store.open(HOME["home"])
    try:
        user = store.accounts.by_name(ROLE_USER[role])
        assert user is not None
        return store.accounts.create_key(user.id, "schemathesis")[0]
    finally:
        store.close()


@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_generated_request_gets_a_server_error(case: Any) -> None:
    roles = case.operation.definition.raw.get("x-roles") or ["admin"]
    response = case.call(headers={"Authorization": f"Bearer {fresh_key(roles[0])}"})
    assert response.status_code < 500, (case.method, case.formatted_path, response.status_code, response.text[:300])
    if response.status_code >= 400:
        assert "error" in response.json()
    case.validate_response(response, checks=[response_schema_conformance])


FILE_ANSWERS = {
    ("get", "/api/v1/metrics"): "Prometheus text format, read by a scraper",
    ("get", "/api/v1/works/{ref}/original"): "a registered work's original file, as registered",
    ("get", "/api/v1/cases/{case_id}/findings/{finding_id}/suspect"): "a suspect's file, exactly as received",
    ("get", "/api/v1/cases/{case_id}/findings/{finding_id}/report"): "an evidence report: html, pdf or a zip bundle",
    ("get", "/api/v1/supervision/export.csv"): "the supervision rankings, one CSV row per key",
    ("get", "/api/v1/supervision/export.xlsx"): "the supervision totals and rankings as a workbook",
    ("get", "/api/v1/supervision/brief.pdf"): "the one-page monthly supervision brief",
}
"""The operations that answer with a file, not JSON, and what the file is."""


def test_every_operation_declares_the_json_schema_of_its_success_or_the_file_it_answers(tmp_path: Path) -> None:
    spec = create_app(ServiceSettings(home=tmp_path)).openapi()
    components = spec["components"]["schemas"]
    operations = {(m, path): op for path, item in spec["paths"].items() for m, op in item.items()}
    assert set(FILE_ANSWERS) <= set(operations)
    assert sum(path.startswith("/api/v1/") for _, path in operations) >= 31, "an operation is missing from the spec"
    for (method, path), op in operations.items():
        success = {code: r for code, r in op["responses"].items() if code.startswith("2")}
        assert success, (method, path, "declares no success")
        for code, answer in success.items():
            content = answer.get("content", {})
            if (method, path) in FILE_ANSWERS:
                assert content and "application/json" not in content, (method, path, code, content)
                continue
            schema = content.get("application/json", {}).get("schema", {})
            ref = schema.get("$ref", "")
            assert ref.startswith("#/components/schemas/"), (method, path, code, "no response model", schema)
            assert components[ref.rsplit("/", 1)[-1]].get("properties"), (method, path, code, ref)
        # the errors the app really sends ({"error": ...}), not FastAPI's default `detail` shape
        errors = op["responses"]["4XX"]["content"]["application/json"]["schema"]["$ref"]
        assert errors == "#/components/schemas/Problem", (method, path, errors)
    scan = operations[("post", "/api/v1/cases/{case_id}/scans")]["responses"]
    assert scan["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/ScannedSuspect")
    assert scan["202"]["content"]["application/json"]["schema"]["$ref"].endswith("/OneJob")
    assert "HTTPValidationError" not in components


@pytest.fixture(scope="module", autouse=True)
def _close() -> Any:
    yield
    HOME["client"].__exit__(None, None, None)
    HOME["engine"].close()
