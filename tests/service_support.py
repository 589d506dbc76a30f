"""Helpers for the HTTP service's tests: a workspace with one user per role, their API keys, and demo uploads."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.store import Store

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "samples" / "demo"
PASSWORD = "correct horse battery"
USERS = {
    "admin": "admin",
    "registrar": "registrar",
    "alice": "investigator",
    "bob": "investigator",
    "audrey": "auditor",
    "sun": "supervisor",
}


@dataclass
class People:
    keys: dict[str, str]
    """username -> API key secret"""

    def auth(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[username]}"}


def add_people(home: Path) -> People:
    """One user per role (two investigators), each with an API key."""
    store = Store.open(home)
    keys = {}
    try:
        for name, role in USERS.items():
            user = store.accounts.add_user(name, PASSWORD, role)
            keys[name] = store.accounts.create_key(user.id, "tests")[0]
    finally:
        store.close()
    return People(keys)


def works_zip() -> bytes:
    """The demo originals and their works.csv as one zip, as a registrar would upload them."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.write(DEMO / "works.csv", "works.csv")
        for f in sorted((DEMO / "originals").iterdir()):
            z.write(f, f"originals/{f.name}")
    return buf.getvalue()


def suspects_zip(names: list[str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for n in names:
            z.write(DEMO / "suspects" / n, f"phone/DCIM/{n}")
    return buf.getvalue()


def suspect(name: str) -> bytes:
    return (DEMO / "suspects" / name).read_bytes()


@contextmanager
def office(home: Path, **settings: Any) -> Iterator[tuple[Any, People, Any]]:
    """A workspace at `home` (default embedder) with one user per role and the demo works registered through the
    API by the registrar; yields a TestClient whose lifespan is running, the people, and the engine."""
    from fastapi.testclient import TestClient

    from service.engine import Engine
    from service.web.app import create_app
    from service.web.settings import ServiceSettings

    engine = Engine.init(str(home), ["auto"])
    people = add_people(home)
    settings.setdefault("rate_per_minute", 1_000_000)
    settings.setdefault("sign_in_per_minute", 1_000_000)
    try:
        with TestClient(create_app(ServiceSettings(home=home, **settings), engine=engine)) as client:
            r = client.post("/api/v1/works", headers=people.auth("registrar"), files={"files": ("w.zip", works_zip())})
            assert r.status_code == 200 and [x["status"] for x in r.json()["results"]] == ["registered"] * 4, r.text
            yield client, people, engine
    finally:
        engine.close()


def free_port() -> int:
    """A TCP port of 127.0.0.1 nobody listens on now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_up(base: str, alive: Callable[[], bool] = lambda: True) -> None:
    """Wait (up to ~30 s) until the server at `base` answers /healthz; stop early when `alive` says it died."""
    import time

    import httpx

    with httpx.Client(verify=False, trust_env=False) as http:  # a server's own self-signed certificate
        for _ in range(300):
            try:
                if http.get(f"{base}/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                assert alive(), f"the server at {base} stopped before it answered"
                time.sleep(0.1)


@contextmanager
def served_over_http(app: Any) -> Iterator[str]:
    """`app` served by uvicorn on a free port of 127.0.0.1 in a thread; yields its base URL once it answers."""
    import threading

    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    wait_until_up(base, thread.is_alive)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(10)


def seed_two_months_of_sweeps(store: Any) -> None:
    """Sweep records of October and November 2026, as `semblance sweep` writes them: Hangzhou 1 infringing listing
    of 10 then 8 of 10 (two shops sharing a phone number), Shenzhen 2 of 10 both months."""
    from service.store.listings import SweptImage
    from service.supervision import identifiers

    key = b"k" * 32
    refs = ["vangogh-night-cafe", "vangogh-langlois-bridge", "vangogh-pere-tanguy"]
    sweep = store.listings.sweep("seeded-two-months", "tests")
    n = 0
    for month, plan in (("2026-10", {"hz": 1, "sz": 2}), ("2026-11", {"hz": 8, "sz": 2})):
        for place, hits in plan.items():
            for i in range(10):
                n += 1
                seller = ("hz1" if i % 2 else "hz2") if place == "hz" else "sz1"
                ident = (("contact", identifiers.keyed(key, "contact", "13800000001")),) if place == "hz" else ()
                ref = refs[i % 3]
                result = {"verdict": "copy", "matches": [{"ref": ref, "verdict": "copy", "score": 0.9}]}
                region = ("杭州", "330000", "330100") if place == "hz" else ("深圳", "440000", "440300")
                store.listings.ingest(
                    sweep,
                    SweptImage(
                        f"S{n}", f"s{n}.jpg", f"{n:064x}", "", f"sg{n}",
                        result if i < hits else {"verdict": "no_match", "matches": []},
                        "taobao-demo" if place == "hz" else "jd-demo", seller, seller,
                        seen_at=f"{month}-{1 + i:02d}T09:00:00Z", region_text=region[0], province_code=region[1],
                        region_code=region[2], identifiers=ident,
                    ),
                )  # fmt: skip
