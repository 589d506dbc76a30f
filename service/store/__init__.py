"""The service's own records beside the registry: people, cases, suspects received, findings and jobs.

One SQLite file (`service.sqlite` in the workspace) behind narrow interfaces, one per concept: `accounts`
(users, sign-in sessions, API keys), `cases` (cases and who they are shared with), `findings` (every suspect
received and what a scan found: the store the HTTP service and batch sweeps both write), `jobs` (resumable
batches), `listings` (what sweeps saw: sellers, listings, images), `offenders` (the correlation queries) and
`supervision` (the rows the supervision figures are computed from).
Registered works stay in the registry (index/registry.py); this store never writes there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from service.store.accounts import Accounts
from service.store.cases import Cases
from service.store.database import Database
from service.store.findings import Findings
from service.store.jobs import Jobs
from service.store.listings import Listings
from service.store.offenders import Offenders
from service.store.supervision import SupervisionRows

DATABASE_NAME = "service.sqlite"
EVIDENCE_DIR = "evidence"


@dataclass
class Store:
    """The service store of one workspace, opened once and shared by every request thread."""

    database: Database
    accounts: Accounts
    cases: Cases
    findings: Findings
    jobs: Jobs
    listings: Listings
    offenders: Offenders
    supervision: SupervisionRows
    home: Path
    """The workspace folder (its keys: index.keys)."""

    @classmethod
    def open(cls, home: Path, read_only: bool = False) -> Store:
        """Open (or create) the store in workspace folder `home`; `read_only`: open an existing one, writing nothing
        (service.store.database.Database)."""
        db = Database(home / DATABASE_NAME, read_only)
        findings = Findings(db, home / EVIDENCE_DIR, create=not read_only)
        return cls(
            db,
            Accounts(db),
            Cases(db),
            findings,
            Jobs(db),
            Listings(db, findings),
            Offenders(db),
            SupervisionRows(db),
            home,
        )

    def close(self) -> None:
        self.database.close()
