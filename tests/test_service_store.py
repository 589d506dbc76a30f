"""The service store on its own: passwords, sessions that expire, keys, case visibility, one finding per suspect,
and a store from a newer Semblance refused."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from service.store import Store
from service.store.accounts import AccountError
from service.store.database import StoreVersionError


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.open(tmp_path)
    yield s
    s.close()


def test_passwords_are_argon2_and_checked_in_the_same_way_for_unknown_users(store: Store) -> None:
    user = store.accounts.add_user("li.wei", "a long password", "investigator")
    stored = store.database.db.execute("SELECT password_hash FROM users").fetchone()[0]
    assert stored.startswith("$argon2id$") and "a long password" not in stored
    assert store.accounts.check_password("li.wei", "a long password") == user
    assert store.accounts.check_password("li.wei", "a long passwore") is None
    assert store.accounts.check_password("nobody", "a long password") is None
    with pytest.raises(AccountError, match="taken"):
        store.accounts.add_user("LI.WEI", "another long one", "auditor")  # names are case-insensitive
    with pytest.raises(AccountError, match="role"):
        store.accounts.add_user("root", "a long password", "superuser")


def test_a_session_ends_when_it_expires_or_is_ended(store: Store) -> None:
    user = store.accounts.add_user("ana", "a long password", "auditor")
    token, session = store.accounts.start_session(user)
    assert store.accounts.session(token) == session
    store.database.db.execute("UPDATE sessions SET expires_at='2000-01-01T00:00:00Z'")
    assert store.accounts.session(token) is None
    token2, _ = store.accounts.start_session(user)
    store.accounts.end_session(token2)
    assert store.accounts.session(token2) is None
    assert store.database.db.execute("SELECT COUNT(*) FROM sessions WHERE token_hash=?", (token2,)).fetchone()[0] == 0


def test_keys_are_found_by_their_secret_only_until_revoked(store: Store) -> None:
    user = store.accounts.add_user("scanner", "a long password", "investigator")
    secret, key = store.accounts.create_key(user.id, "batch")
    assert store.accounts.user_for_key(secret) == (user, key)
    prefix = "_".join(secret.split("_", 2)[:2])  # "smb_<prefix>": the secret itself may hold "_"
    assert store.accounts.user_for_key(prefix + "_" + "x" * 43) is None  # right prefix, wrong secret
    store.accounts.revoke_key(key.id)
    assert store.accounts.user_for_key(secret) is None


def test_cases_are_visible_to_members_only_and_a_suspect_has_one_finding(store: Store) -> None:
    a = store.accounts.add_user("alice", "a long password", "investigator")
    b = store.accounts.add_user("bob", "a long password", "investigator")
    case = store.cases.create("C-1", "", a.id)
    assert store.cases.visible(case.id, b.id) is None and store.cases.visible(case.id + 1, b.id) is None
    store.cases.share(case.id, b.id)
    assert store.cases.visible(case.id, b.id) is not None
    data = b"\x89PNG fake bytes"
    suspect = store.findings.receive(case.id, "x.png", data, hashlib.sha256(data).hexdigest(), "user:alice", "t")
    assert store.findings.data(suspect) == data
    first = store.findings.record(
        suspect, {"verdict": "copy", "matches": [{"ref": "w", "score": 0.9, "verdict": "copy"}]}, "upload"
    )
    again = store.findings.record(suspect, {"verdict": "no_match", "matches": []}, "upload")
    assert again == first and store.findings.counts(case.id) == {"copy": 1}
    assert store.findings.in_case(case.id + 1, first.id) is None


def test_a_store_from_a_newer_semblance_is_refused(tmp_path: Path) -> None:
    s = Store.open(tmp_path)
    s.database.db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    s.close()
    with pytest.raises(StoreVersionError, match="newer Semblance"):
        Store.open(tmp_path)
