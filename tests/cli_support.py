"""Running `semblance` as a user would: a subprocess from the repository root, with no colour and wide lines."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def semblance(
    home: Path, *args: str, stdin: str | None = None, check: bool = True, timeout: int = 900
) -> subprocess.CompletedProcess[str]:
    """`semblance --home HOME ARGS...`; asserts exit 0 unless `check` is False. Ray, if started, stays local."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_COLOR": "1", "COLUMNS": "200", "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    p = subprocess.run(
        [sys.executable, "-m", "service.cli", "--home", str(home), *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=timeout,
    )
    if check:
        assert p.returncode == 0, p.stderr + p.stdout
    return p
