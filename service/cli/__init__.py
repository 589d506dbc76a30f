"""The `semblance` command line. Command names and JSON fields are a public contract: extend, never break.

semblance [--home H] init [--embedder auto|effnet-lite0|clip:MODEL:TAG_OR_PATH]
semblance register PATH... [--ref R --title T --author A --rights-holder O] | --manifest works.csv
semblance scan PATH... | --manifest suspects.csv [--top K] [--jsonl OUT]
semblance works list | show REF | remove REF
semblance audit show [--ref REF] | verify
semblance info
semblance models fetch SPEC
semblance serve [--host H --port P] | users add NAME --role R | api-keys create NAME | list | revoke ID
semblance sweep LISTINGS --out RUN_DIR [--reports] [--allow NET] [--runner local|ray] | offenders [--json]
semblance supervision show [--month M | --from D --to D] [--region R --category C --marketplace M] [--json|--csv F]
semblance supervision compare --a-from D --a-to D [--b-from D --b-to D] [--a-region R --b-region R ...]

One module per command group (works, scan, evidence, audit, sweeps, supervision, accounts, serve) over `app`, which
holds the Typer app and what every group shares.
"""

from __future__ import annotations

import sys

# importing a group adds its commands, in the order `semblance --help` lists them
# isort: off
from service.cli import works, scan, evidence, sweeps, supervision, serve, accounts, audit  # noqa: F401

# isort: on
from service.cli.app import app, err


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
