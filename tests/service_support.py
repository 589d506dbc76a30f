"""Helpers for the HTTP service's tests: a workspace with one user per role, their API keys, and demo uploads."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

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
