"""The audit trail as a hash chain: every entry carries the SHA-256 of its own content and of the entry before it.

An entry's hash covers its id, time, action, ref, file SHA-256, details, who did it and from where, and the hash
of the entry before it; the registry keeps the newest entry's id and hash beside the chain (`meta.audit_head`),
written in the same transaction. So an edited entry no longer matches its hash, a deleted or reordered one breaks
the links, and a cut-off tail no longer reaches the head. `verify` finds all of these; it cannot stop someone with
write access from rewriting the whole chain and its head, which is why the head can also be copied elsewhere (an
evidence report, a printout) and compared later.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import socket
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum

GENESIS = "0" * 64
"""The `prev_hash` of the first entry."""


class Action(StrEnum):
    """Every action the audit trail records, by one name (the trail stores the value, so a name never changes)."""

    REGISTER = "register"  # a work registered
    REMOVE = "remove"  # a work unregistered (its file stays in the vault)
    BACKFILL = "backfill"  # a descriptor a newer signal needs, computed from the vault
    MIGRATE = "migrate"  # the registry's schema brought to a newer version
    CALIBRATE = "calibrate"  # a workspace's own calibration fitted
    SCAN = "scan"  # suspects scanned (a CLI batch, a case's upload)
    RECEIVE = "receive"  # a suspect received into a case (chain of custody)
    REPORT = "report"  # an evidence bundle written
    SWEEP = "sweep"  # a marketplace sweep run
    DOWNLOAD = "download"  # an original or a suspect downloaded, or a report
    OFFENDERS = "offenders"  # the offender ranking or one seller's evidence read
    SUPERVISION = "supervision"  # the supervision picture (figures by region, entity, category, period) read
    USER_ADDED = "user added"
    API_KEY_CREATED = "api key created"
    API_KEY_REVOKED = "api key revoked"
    SIGN_IN = "sign-in"
    SIGN_IN_FAILED = "sign-in failed"
    SIGN_OUT = "sign-out"
    JOB_CANCELLED = "job cancelled"
    CASE_OPENED = "case opened"
    CASE_SHARED = "case shared"
    CASE_CLOSED = "case closed"
    USER_DISABLED = "user disabled"  # every session and API key of the user ended with it
    USER_ENABLED = "user enabled"
    USER_ROLE_SET = "user role set"
    USER_PASSWORD_RESET = "user password reset"


Audit = Callable[[Action, dict[str, object]], object]
"""Writes one audit entry by whoever asked: the registry for the command line (the operating-system user), the web
gate with the signed-in user. Use cases take one, so an action is audited the same way through either door."""


@dataclass(frozen=True)
class Actor:
    """Who performed an action and from where: a signed-in user and their address for the HTTP service, the
    operating-system user and host for the command line."""

    who: str
    origin: str


def os_actor() -> Actor:
    """The command line's actor: the operating-system user, on this host, in this process."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        user = f"uid {os.getuid()}"
    return Actor(f"os:{user}", f"cli on {socket.gethostname()} (pid {os.getpid()})")


_current: ContextVar[Actor | None] = ContextVar("semblance_actor", default=None)


def current_actor() -> Actor:
    """The actor of the action under way (`acting_as`), else the operating-system user."""
    return _current.get() or os_actor()


@contextmanager
def acting_as(actor: Actor) -> Iterator[None]:
    """Attribute every audit entry written inside the block (in this thread or task) to `actor`."""
    token = _current.set(actor)
    try:
        yield
    finally:
        _current.reset(token)


@dataclass(frozen=True)
class Entry:
    id: int
    at: str
    action: str
    ref: str
    sha256: str
    details: str
    """The details as stored: canonical JSON text."""
    who: str
    origin: str
    prev_hash: str
    hash: str


def entry_hash(
    entry_id: int, at: str, action: str, ref: str, sha256: str, details: str, who: str, origin: str, prev_hash: str
) -> str:
    """SHA-256 of an entry's content and the previous entry's hash (canonical JSON, keys sorted)."""
    body = json.dumps(
        {
            "id": entry_id,
            "at": at,
            "action": action,
            "ref": ref,
            "sha256": sha256,
            "details": details,
            "who": who,
            "origin": origin,
            "prev_hash": prev_hash,
        },
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    entries: int
    problems: list[str]
    head: tuple[int, str] | None
    """The newest entry's id and hash, as recorded beside the chain."""

    @property
    def intact(self) -> bool:
        return not self.problems


def verify(entries: Sequence[Entry], head: tuple[int, str] | None) -> ChainReport:
    """Check every entry's hash and link, in id order, and that the chain ends at the recorded head."""
    problems: list[str] = []
    prev = GENESIS
    for e in entries:
        expected = entry_hash(e.id, e.at, e.action, e.ref, e.sha256, e.details, e.who, e.origin, e.prev_hash)
        if e.hash != expected:
            problems.append(f"entry {e.id} ({e.action} {e.ref}) was changed: its content no longer matches its hash")
        if e.prev_hash != prev:
            problems.append(
                f"entry {e.id} ({e.action}) does not follow the entry before it: an entry before it was deleted, "
                "inserted or moved"
            )
        prev = e.hash
    last = (entries[-1].id, entries[-1].hash) if entries else None
    if head is not None and last != head:
        problems.append(
            f"the chain ends at entry {last[0] if last else 'none'}, but its head was recorded at entry {head[0]}: "
            "entries at the end were deleted or replaced"
        )
    return ChainReport(len(entries), problems, head)
