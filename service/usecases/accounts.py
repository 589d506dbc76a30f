"""The web service's accounts: users and their roles, passwords and API keys, each change audited the same way
through either door. Over HTTP a user makes API keys for themselves only, so an admin, who manages accounts but
reads no case, cannot act as an investigator by minting their key; at the shell the operator who runs the server
may make any user's key (`semblance api-keys create NAME`, audited as the operating-system user)."""

from __future__ import annotations

from index.audit import Action, Audit
from service.store import Store
from service.store.accounts import AccountError, ApiKey, User


class NotYours(AccountError):
    """The caller asked for something only its owner may do (an API key for another user)."""


def add_user(store: Store, audit: Audit, username: str, password: str, role: str, language: str = "") -> User:
    """A new user; AccountError for a taken or malformed name, an unknown role or language, a short password."""
    user = store.accounts.add_user(username, password, role, language)
    audit(Action.USER_ADDED, {"username": user.username, "role": user.role})
    return user


def create_key(store: Store, audit: Audit, user_id: int, label: str, caller: User | None) -> tuple[str, ApiKey]:
    """A new API key acting as user `user_id`; its secret is returned this once. `caller` is the signed-in user
    over HTTP (NotYours unless it is the key's own user), None for the operator at the shell."""
    if caller is not None and caller.id != user_id:
        raise NotYours("an API key is made by the user it acts as: sign in as them (or, at the server, an operator "
                       "runs `semblance api-keys create`)")  # fmt: skip
    user = store.accounts.user(user_id)
    if user is None or user.disabled:
        raise AccountError(f"no enabled user with id {user_id}")
    secret, key = store.accounts.create_key(user_id, label)
    audit(Action.API_KEY_CREATED, {"key_id": key.id, "user_id": key.user_id, "label": key.label})
    return secret, key


def revoke_key(store: Store, audit: Audit, key_id: int) -> ApiKey | None:
    """Revoke an API key at once (None when there is no such key); revoking one already revoked changes nothing."""
    key = store.accounts.revoke_key(key_id)
    if key is not None:
        audit(Action.API_KEY_REVOKED, {"key_id": key.id, "user_id": key.user_id})
    return key


def set_disabled(store: Store, audit: Audit, user_id: int, disabled: bool) -> User:
    """Disable a user, ending every session and API key they hold at once, or enable them again. Cases shared with
    them stay with the other investigators they are shared with."""
    user = store.accounts.set_disabled(user_id, disabled)
    audit(Action.USER_DISABLED if disabled else Action.USER_ENABLED, {"user_id": user.id, "username": user.username})
    return user


def set_role(store: Store, audit: Audit, user_id: int, role: str) -> User:
    """Give a user another role (the last enabled admin keeps theirs)."""
    user = store.accounts.set_role(user_id, role)
    audit(Action.USER_ROLE_SET, {"user_id": user.id, "username": user.username, "role": user.role})
    return user


def reset_password(store: Store, audit: Audit, user_id: int, password: str, caller: User | None) -> User:
    """Set a user's password and end their sessions. Over HTTP (`caller` set) an investigator's password is reset
    only by the investigator: an admin who set it could sign in as them and read their cases, so that reset is the
    operator's, at the shell (`semblance users reset-password`, audited). None for the operator."""
    target = store.accounts.user(user_id)
    if caller is not None and target is not None and target.role == "investigator" and caller.id != user_id:
        raise NotYours("an investigator's password is reset by them, or at the server by an operator "
                       "(`semblance users reset-password`): whoever sets it could read their cases")  # fmt: skip
    user = store.accounts.reset_password(user_id, password)
    audit(Action.USER_PASSWORD_RESET, {"user_id": user.id, "username": user.username})
    return user
