"""Cases and who may see them: a case is visible only to the investigators it is shared with.

Every lookup here takes the asking user and answers None both for a case that does not exist and for one that is
not shared with them, so a caller cannot tell the two apart (the HTTP layer turns both into the same 404).
"""

from __future__ import annotations

import sqlite3
import unicodedata
from dataclasses import dataclass

from service.store.database import Database, utc_now

MAX_NUMBER = 120
MAX_TITLE = 300


class CaseError(ValueError):
    """A request about cases that cannot be done; the message says why."""


@dataclass(frozen=True)
class Case:
    id: int
    number: str
    title: str
    created_by: int
    created_at: str
    closed_at: str | None
    members: tuple[str, ...] = ()
    region: str = ""
    """Where the case belongs (the office's or the suspect's region), as given; its findings count there."""
    region_code: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "number": self.number,
            "title": self.title,
            "created_at": self.created_at,
            "closed_at": self.closed_at,
            "members": list(self.members),
            "region": self.region,
            "region_code": self.region_code,
        }


class Cases:
    """Cases and their members in the service database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def create(self, number: str, title: str, creator: int, region: tuple[str, str, str] = ("", "", "")) -> Case:
        """A new case shared with its creator; `region` is (the text given, its province's code, its most precise
        code), placed by the caller."""
        number, title = number.strip(), title.strip()
        if not number or len(number) > MAX_NUMBER:
            raise CaseError(f"a case number is 1-{MAX_NUMBER} characters")
        if len(title) > MAX_TITLE:
            raise CaseError(f"a case title is at most {MAX_TITLE} characters")
        for what, text in (("number", number), ("title", title)):
            hidden = [c for c in text if unicodedata.category(c)[0] == "C"]
            if hidden:
                raise CaseError(
                    f"a case {what} cannot hold control or formatting characters (found U+{ord(hidden[0]):04X}): "
                    "they would make what a reader sees differ from what is stored"
                )
        now = utc_now()
        with self._db.transaction() as db:
            cur = db.execute(
                "INSERT INTO cases (number, title, created_by, created_at, region_text, province_code, region_code) "
                "VALUES (?,?,?,?,?,?,?)",
                (number, title, creator, now, *region),
            )
            case_id = int(cur.lastrowid or 0)
            db.execute("INSERT INTO case_members VALUES (?,?,?)", (case_id, creator, now))
        case = self.visible(case_id, creator)
        assert case is not None
        return case

    def visible(self, case_id: int, user_id: int) -> Case | None:
        """The case, if it exists and is shared with the user; None otherwise (the two are not told apart)."""
        row = self._db.db.execute(
            "SELECT c.* FROM cases c JOIN case_members m ON m.case_id = c.id WHERE c.id=? AND m.user_id=?",
            (case_id, user_id),
        ).fetchone()
        return None if row is None else self._case(row)

    def of_user(self, user_id: int) -> list[Case]:
        rows = self._db.db.execute(
            "SELECT c.* FROM cases c JOIN case_members m ON m.case_id = c.id WHERE m.user_id=? ORDER BY c.id DESC",
            (user_id,),
        )
        return [self._case(r) for r in rows.fetchall()]

    def share(self, case_id: int, user_id: int) -> None:
        with self._db.transaction() as db:
            db.execute("INSERT OR IGNORE INTO case_members VALUES (?,?,?)", (case_id, user_id, utc_now()))

    def close(self, case_id: int) -> None:
        with self._db.transaction() as db:
            db.execute("UPDATE cases SET closed_at=? WHERE id=? AND closed_at IS NULL", (utc_now(), case_id))

    def _case(self, row: sqlite3.Row) -> Case:
        members = self._db.db.execute(
            "SELECT u.username FROM case_members m JOIN users u ON u.id = m.user_id WHERE m.case_id=? ORDER BY u.id",
            (row["id"],),
        ).fetchall()
        return Case(
            row["id"],
            row["number"],
            row["title"],
            row["created_by"],
            row["created_at"],
            row["closed_at"],
            tuple(m[0] for m in members),
            row["region_text"],
            row["region_code"],
        )
