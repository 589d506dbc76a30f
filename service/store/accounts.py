"""People and machines that may use the service: users with roles, sign-in sessions, and API keys.

Passwords are hashed with argon2id (argon2-cffi, the reference implementation's binding: slow on purpose, salted,
and it flags hashes that need rehashing); API keys and session tokens are long random secrets, so a SHA-256 of
them is enough, and it is what makes them fast to look up. No secret is ever stored or shown twice.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from service.store.database import Database, utc_now

ROLES = ("admin", "registrar", "investigator", "auditor", "supervisor")
LANGUAGES = ("en", "zh")
SESSION_HOURS = 12
"""A sign-in lasts a working day; the browser then asks again."""
MIN_PASSWORD = 10
USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{2,64}$")
KEY_PREFIX = "smb"

_hasher = PasswordHasher()


@cache
def dummy_hash() -> str:
    """Verified against when the user does not exist, so a failed sign-in takes as long either way; made on the
    first use, not when a command imports this module (an argon2 hash is ~0.15 s); the web app makes it as it
    starts, so that even its first failed sign-in takes as long as any other."""
    return _hasher.hash("not a password of anyone")


class AccountError(ValueError):
    """A request about accounts that cannot be done; the message says why."""


class NoSuchUser(AccountError):
    """The user asked for does not exist."""


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: str
    language: str = ""
    created_at: str = ""
    disabled: bool = False

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "username": self.username,
            "role": self.role,
            "language": self.language,
            "created_at": self.created_at,
            "disabled": self.disabled,
        }


@dataclass(frozen=True)
class ApiKey:
    id: int
    user_id: int
    prefix: str
    label: str
    created_at: str
    revoked_at: str | None

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "user_id": self.user_id,
            "prefix": self.prefix,
            "label": self.label,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
        }


@dataclass(frozen=True)
class Session:
    user: User
    csrf_token: str
    expires_at: str


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _user(r: sqlite3.Row) -> User:
    return User(r["id"], r["username"], r["role"], r["language"], r["created_at"], r["disabled_at"] is not None)


class Accounts:
    """Users, sessions and API keys in the service database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- users --------------------------------------------------------------------------------------
    def add_user(self, username: str, password: str, role: str, language: str = "") -> User:
        if not USERNAME.match(username):
            raise AccountError("a username is 2-64 letters, digits or . _ @ -")
        if role not in ROLES:
            raise AccountError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
        if len(password) < MIN_PASSWORD:
            raise AccountError(f"a password needs at least {MIN_PASSWORD} characters")
        if language and language not in LANGUAGES:
            raise AccountError(f"unknown language {language!r}: one of {', '.join(LANGUAGES)}")
        with self._db.transaction() as db:
            if db.execute("SELECT 1 FROM users WHERE username=?", (username,)).fetchone():
                raise AccountError(f"the username {username!r} is taken")
            cur = db.execute(
                "INSERT INTO users (username, password_hash, role, language, created_at) VALUES (?,?,?,?,?)",
                (username, _hasher.hash(password), role, language, utc_now()),
            )
        user = self.user(int(cur.lastrowid or 0))
        assert user is not None
        return user

    def user(self, user_id: int) -> User | None:
        row = self._db.db.execute("SELECT * FROM users WHERE id=?", (user_id,)).fetchone()
        return None if row is None else _user(row)

    def by_name(self, username: str) -> User | None:
        row = self._db.db.execute("SELECT * FROM users WHERE username=?", (username,)).fetchone()
        return None if row is None else _user(row)

    def users(self) -> list[User]:
        return [_user(r) for r in self._db.db.execute("SELECT * FROM users ORDER BY id")]

    def count(self) -> int:
        return int(self._db.db.execute("SELECT COUNT(*) FROM users").fetchone()[0])

    def set_language(self, user_id: int, language: str) -> None:
        if language and language not in LANGUAGES:
            raise AccountError(f"unknown language {language!r}: one of {', '.join(LANGUAGES)}")
        with self._db.transaction() as db:
            db.execute("UPDATE users SET language=? WHERE id=?", (language, user_id))

    def set_disabled(self, user_id: int, disabled: bool) -> User:
        """Disable a user (no sign-in; every session ended and every API key revoked in the same transaction, so
        nothing they hold works a moment longer) or enable one again (with no key: new ones must be made). The last
        enabled admin cannot be disabled: nobody could manage the accounts after."""
        user = self._existing(user_id)
        with self._db.transaction() as db:
            if disabled and user.role == "admin" and not user.disabled and self._enabled_admins(db) <= 1:
                raise AccountError(f"{user.username} is the last enabled admin: enable or add another admin first")
            db.execute("UPDATE users SET disabled_at=? WHERE id=?", (utc_now() if disabled else None, user_id))
            if disabled:
                self._end_access(db, user_id)
        return self._existing(user_id)

    def set_role(self, user_id: int, role: str) -> User:
        """Give a user another role; it applies to their next request (sessions and keys read the role live). The
        last enabled admin keeps the role."""
        if role not in ROLES:
            raise AccountError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
        user = self._existing(user_id)
        with self._db.transaction() as db:
            if user.role == "admin" and role != "admin" and not user.disabled and self._enabled_admins(db) <= 1:
                raise AccountError(f"{user.username} is the last enabled admin: add another admin first")
            db.execute("UPDATE users SET role=? WHERE id=?", (role, user_id))
        return self._existing(user_id)

    def reset_password(self, user_id: int, password: str) -> User:
        """Set a new password and end every session of the user (their API keys stay: they are not passwords)."""
        if len(password) < MIN_PASSWORD:
            raise AccountError(f"a password needs at least {MIN_PASSWORD} characters")
        self._existing(user_id)
        with self._db.transaction() as db:
            db.execute("UPDATE users SET password_hash=? WHERE id=?", (_hasher.hash(password), user_id))
            db.execute("DELETE FROM sessions WHERE user_id=?", (user_id,))
        return self._existing(user_id)

    def _existing(self, user_id: int) -> User:
        user = self.user(user_id)
        if user is None:
            raise NoSuchUser(f"no user with id {user_id}")
        return user

    @staticmethod
    def _enabled_admins(db: sqlite3.Connection) -> int:
        return int(db.execute("SELECT COUNT(*) FROM users WHERE role='admin' AND disabled_at IS NULL").fetchone()[0])

    @staticmethod
    def _end_access(db: sqlite3.Connection, user_id: int) -> None:
        db.execute("DELETE FROM sessions WHERE user_id=?", (user_id,))
        db.execute("UPDATE api_keys SET revoked_at=? WHERE user_id=? AND revoked_at IS NULL", (utc_now(), user_id))

    def check_password(self, username: str, password: str) -> User | None:
        """The user, if `password` is theirs and they are not disabled; None otherwise (same time either way)."""
        row = self._db.db.execute("SELECT * FROM users WHERE username=?", (username,)).fetchone()
        stored = row["password_hash"] if row is not None else dummy_hash()
        try:
            _hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None or row["disabled_at"] is not None:
            return None
        if _hasher.check_needs_rehash(stored):
            with self._db.transaction() as db:
                db.execute("UPDATE users SET password_hash=? WHERE id=?", (_hasher.hash(password), row["id"]))
        return _user(row)

    # -- sessions -----------------------------------------------------------------------------------
    def start_session(self, user: User) -> tuple[str, Session]:
        """A new sign-in session: returns the cookie's token (shown once) and the session."""
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(24)
        expires = (
            (datetime.now(UTC) + timedelta(hours=SESSION_HOURS)).isoformat(timespec="seconds").replace("+00:00", "Z")
        )
        with self._db.transaction() as db:
            db.execute("DELETE FROM sessions WHERE expires_at < ?", (utc_now(),))
            db.execute(
                "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) VALUES (?,?,?,?,?)",
                (_sha(token), user.id, csrf, utc_now(), expires),
            )
        return token, Session(user, csrf, expires)

    def session(self, token: str) -> Session | None:
        row = self._db.db.execute(
            "SELECT s.csrf_token, s.expires_at, u.* FROM sessions s JOIN users u ON u.id = s.user_id "
            "WHERE s.token_hash=?",
            (_sha(token),),
        ).fetchone()
        if row is None or row["expires_at"] < utc_now() or row["disabled_at"] is not None:
            return None
        return Session(_user(row), row["csrf_token"], row["expires_at"])

    def end_session(self, token: str) -> None:
        with self._db.transaction() as db:
            db.execute("DELETE FROM sessions WHERE token_hash=?", (_sha(token),))

    # -- API keys -----------------------------------------------------------------------------------
    def create_key(self, user_id: int, label: str = "") -> tuple[str, ApiKey]:
        """A new API key for a user: returns the secret (shown this once, never stored) and its record."""
        if self.user(user_id) is None:
            raise AccountError(f"no user with id {user_id}")
        prefix = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        with self._db.transaction() as db:
            cur = db.execute(
                "INSERT INTO api_keys (user_id, prefix, secret_hash, label, created_at) VALUES (?,?,?,?,?)",
                (user_id, prefix, _sha(secret), label[:200], utc_now()),
            )
        key = self.key(int(cur.lastrowid or 0))
        assert key is not None
        return f"{KEY_PREFIX}_{prefix}_{secret}", key

    def key(self, key_id: int) -> ApiKey | None:
        row = self._db.db.execute("SELECT * FROM api_keys WHERE id=?", (key_id,)).fetchone()
        return None if row is None else _key(row)

    def api_keys(self, user_id: int | None = None) -> list[ApiKey]:
        if user_id is None:
            rows = self._db.db.execute("SELECT * FROM api_keys ORDER BY id")
        else:
            rows = self._db.db.execute("SELECT * FROM api_keys WHERE user_id=? ORDER BY id", (user_id,))
        return [_key(r) for r in rows]

    def revoke_key(self, key_id: int) -> ApiKey | None:
        with self._db.transaction() as db:
            db.execute("UPDATE api_keys SET revoked_at=? WHERE id=? AND revoked_at IS NULL", (utc_now(), key_id))
        return self.key(key_id)

    def user_for_key(self, presented: str) -> tuple[User, ApiKey] | None:
        """The user an API key belongs to, if the key is well formed, known, not revoked and its user enabled."""
        parts = presented.split("_", 2)
        if len(parts) != 3 or parts[0] != KEY_PREFIX:
            return None
        row = self._db.db.execute(
            "SELECT k.*, u.username, u.role, u.language, u.created_at AS user_created, u.disabled_at "
            "FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.prefix=?",
            (parts[1],),
        ).fetchone()
        if row is None or not hmac.compare_digest(row["secret_hash"], _sha(parts[2])):
            return None
        if row["revoked_at"] is not None or row["disabled_at"] is not None:
            return None
        user = User(row["user_id"], row["username"], row["role"], row["language"], row["user_created"], False)
        return user, _key(row)


def _key(r: sqlite3.Row) -> ApiKey:
    return ApiKey(r["id"], r["user_id"], r["prefix"], r["label"], r["created_at"], r["revoked_at"])
